"""Writes for the knowledge base: collections, uploads (which queue ingestion), deletions, the composer's choice."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from assistant.models import Conversation
from exaone_web.jobs.services import QueueFull, job_cancel, job_submit

from . import publisher, selectors
from .models import Collection, ConversationCollection, Document

log = logging.getLogger(__name__)

INGEST = "knowledge.ingest"
REEMBED = "knowledge.reembed"
ALLOWED_EXTENSIONS = ("pdf", "docx", "txt", "md", "markdown", "html", "htm", "csv", "tsv", "xlsx")


class KnowledgeError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def collection_create(*, owner: User, name: str, description: str = "") -> Collection:
    name = (name or "").strip()
    if not name:
        raise KnowledgeError("invalid", _("Give the collection a name."))
    if Collection.objects.filter(owner=owner).count() >= settings.KNOWLEDGE_MAX_COLLECTIONS_PER_USER:
        raise KnowledgeError(
            "too_many",
            _("You have %(limit)d collections, the most allowed. Delete one you no longer need.")
            % {"limit": settings.KNOWLEDGE_MAX_COLLECTIONS_PER_USER},
        )
    collection = Collection(owner=owner, name=name[:120], description=(description or "")[:500])
    collection.full_clean()
    collection.save()
    return collection


def _check_upload(collection: Collection, upload: UploadedFile) -> str:
    filename = (upload.name or "document").replace("\x00", "")[-255:]
    extension = filename.rpartition(".")[2].lower() if "." in filename else ""
    if extension not in ALLOWED_EXTENSIONS:
        raise KnowledgeError(
            "unsupported",
            _("Upload PDF, DOCX, TXT, Markdown, HTML, CSV or XLSX files; %(name)s is none of these.")
            % {"name": filename},
        )
    if (upload.size or 0) > settings.KNOWLEDGE_MAX_UPLOAD_BYTES:
        raise KnowledgeError(
            "too_big",
            _("%(name)s is larger than %(limit)d MB. Split it into smaller documents.")
            % {"name": filename, "limit": settings.KNOWLEDGE_MAX_UPLOAD_BYTES // (1024 * 1024)},
        )
    if not upload.size:
        raise KnowledgeError("empty", _("%(name)s is empty. Upload a document with text in it.") % {"name": filename})
    if collection.documents.count() >= settings.KNOWLEDGE_MAX_DOCUMENTS_PER_COLLECTION:
        raise KnowledgeError(
            "too_many",
            _("This collection holds %(limit)d documents, the most allowed. Delete some or make a new collection.")
            % {"limit": settings.KNOWLEDGE_MAX_DOCUMENTS_PER_COLLECTION},
        )
    return filename


def document_upload(*, user: User, collection: Collection, upload: UploadedFile) -> Document:
    """Store the file under a generated name and queue its ingestion once the row is committed."""
    filename = _check_upload(collection, upload)
    with transaction.atomic():
        document = Document(collection=collection, filename=filename, size=upload.size or 0)
        document.file.save(filename, upload, save=False)
        document.save()
        try:
            document.job = job_submit(kind=INGEST, owner=user, subject_id=document.pk)
        except QueueFull as exc:
            document.file.delete(save=False)
            raise KnowledgeError("busy", exc.message) from exc
        document.save(update_fields=["job"])
    publisher.document_changed(document)
    return document


def document_cancel(*, document: Document) -> None:
    """Stop reading ``document``: at once if its job has not started, else at the worker's next batch."""
    if document.job is None or document.status not in (Document.Status.QUEUED, Document.Status.PROCESSING):
        return
    job_cancel(job=document.job)
    if Document.objects.filter(pk=document.pk, status=Document.Status.QUEUED).update(
        status=Document.Status.CANCELLED, error=_("Cancelled before it was read.")
    ):
        document.refresh_from_db()
        publisher.document_changed(document)


@transaction.atomic
def document_delete(*, document: Document) -> None:
    """Delete the document with all its chunks and their vectors (the same rows) in one transaction."""
    if document.job is not None and not document.job.finished:
        job_cancel(job=document.job)
    document.chunks.all().delete()
    name = document.file.name or ""
    collection = document.collection
    document_id = document.pk
    document.delete()
    transaction.on_commit(lambda: _remove_file(name))
    transaction.on_commit(lambda: publisher.document_removed(collection, document_id))


@transaction.atomic
def collection_delete(*, collection: Collection) -> None:
    names = [d.file.name or "" for d in collection.documents.all()]
    for document in collection.documents.select_related("job"):
        if document.job is not None and not document.job.finished:
            job_cancel(job=document.job)
    from .models import Chunk

    Chunk.objects.filter(collection=collection).delete()
    collection.delete()
    transaction.on_commit(lambda: _remove_files(names))


def _remove_files(names: list[str]) -> None:
    for name in names:
        _remove_file(name)


def _remove_file(name: str) -> None:
    from .models import private_storage

    if not name:
        return
    try:
        private_storage().delete(name)
    except OSError:
        log.warning("Could not delete stored document %s", name, exc_info=True)


def conversation_collection_set(*, user: User, conversation: Conversation, collection_id: int | None) -> None:
    """The collection this conversation searches besides its profile's; None clears the choice."""
    if collection_id is None:
        ConversationCollection.objects.filter(conversation=conversation).delete()
        return
    collection = selectors.collection_get(user=user, collection_id=collection_id)
    ConversationCollection.objects.update_or_create(conversation=conversation, defaults={"collection": collection})


def reembed_submit(*, user: User, collection: Collection) -> None:
    """Embed again every chunk of ``collection`` whose model is not the configured one (in a job)."""
    try:
        job_submit(kind=REEMBED, owner=user, subject_id=collection.pk)
    except QueueFull as exc:
        raise KnowledgeError("busy", exc.message) from exc
