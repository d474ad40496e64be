"""The one place knowledge events leave for sockets: a collection page hears its documents' progress.

Group members' pages receive them too; a socket re-checks who may read the collection when it joins.
docs/protocol.md lists the events.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from exaone_web import realtime

from .models import Collection, Document


def document_payload(document: Document) -> dict[str, Any]:
    return {
        "id": document.pk,
        "collection_id": document.collection_id,
        "filename": document.filename,
        "mime": document.mime,
        "size": document.size,
        "status": document.status,
        "page_count": document.page_count,
        "chunk_count": document.chunk_count,
        "error": document.error,
        "progress": (document.job.progress if document.job_id is not None and document.job is not None else {}),
        "created_at": document.created_at.isoformat() if document.created_at else None,
    }


def _send(collection_id: int, payload: dict[str, Any]) -> None:
    realtime.group_send(f"knowledge.collection.{collection_id}", {"type": "knowledge.event", "payload": payload})


def document_changed(document: Document) -> None:
    payload = {"type": "document.updated", "document": document_payload(document)}
    transaction.on_commit(lambda: _send(document.collection_id, payload))


def document_progress(document: Document, *, stage: str, done: int, total: int) -> None:
    _send(
        document.collection_id,
        {"type": "document.progress", "document_id": document.pk, "stage": stage, "done": done, "total": total},
    )


def document_removed(collection: Collection, document_id: int) -> None:
    _send(collection.pk, {"type": "document.deleted", "document_id": document_id})
