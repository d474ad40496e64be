"""Read, split and embed one document in a worker: the ``knowledge.ingest`` job kind (queue ``default``).

The worker claims the queued document once, extracts it (:mod:`knowledge.extraction`), cuts it into chunks
(:mod:`knowledge.segmenting`), embeds them in batches, and writes every chunk and vector in one transaction, so
a document is either fully searchable or not at all. Progress goes to the collection's sockets after each stage
and batch; cancel is checked between batches. A bad document fails alone with a message saying what to do.

``knowledge.reembed`` embeds a collection's chunks again after the configured model changed.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from exaone_web.jobs import kinds
from exaone_web.jobs.models import Job
from exaone_web.jobs.runner import JobContext, JobFailed
from inference.embedding import embed_batched

from . import publisher
from .embedding import current_embedder
from .extraction import ExtractionError, Limits, extract
from .models import Chunk, Collection, Document
from .segmenting import Piece, chunk_blocks, keyword_tokens, tokens_field
from .vectors import get_index, to_bytes

log = logging.getLogger(__name__)


def ingest_run(job: Job, context: JobContext) -> None:
    document = _claim(job.subject_id)
    if document is None:
        return  # deleted or cancelled while queued
    _progress(document, context, stage="reading", done=0, total=1)
    try:
        with document.file.open("rb") as handle:
            data = handle.read(settings.KNOWLEDGE_MAX_UPLOAD_BYTES + 1)
    except OSError as exc:
        raise JobFailed(_("The uploaded file is missing on the server. Upload it again.")) from exc
    try:
        extracted = extract(
            data,
            document.filename,
            Limits(max_pages=settings.KNOWLEDGE_MAX_PAGES, max_chars=settings.KNOWLEDGE_MAX_CHARS),
        )
    except ExtractionError as exc:
        raise JobFailed(str(exc)) from exc
    pieces = chunk_blocks(extracted.blocks, max_chars=settings.KNOWLEDGE_CHUNK_CHARS)
    if len(pieces) > settings.KNOWLEDGE_MAX_CHUNKS_PER_DOCUMENT:
        raise JobFailed(
            _("The document makes more than %(limit)d passages. Split it into smaller documents.")
            % {"limit": settings.KNOWLEDGE_MAX_CHUNKS_PER_DOCUMENT}
        )
    _progress(document, context, stage="embedding", done=0, total=len(pieces))
    embedder = current_embedder()
    vectors = []
    texts = [_embedding_text(piece) for piece in pieces]
    for start, rows in embed_batched(embedder, texts, batch_size=settings.KNOWLEDGE_EMBED_BATCH):
        if context.cancelled():
            _finish_cancelled(document)
            return
        vectors.extend(rows)
        _progress(document, context, stage="embedding", done=start + len(rows), total=len(pieces))
    if not _save(document, pieces, vectors, model=embedder.name, mime=extracted.mime, pages=extracted.page_count):
        return
    document.refresh_from_db()
    publisher.document_changed(document)


def _embedding_text(piece: Piece) -> str:
    # The heading gives a short passage its topic ("Maintenance: flush weekly").
    return f"{piece.heading}: {piece.text}" if piece.heading and piece.heading not in piece.text else piece.text


def _chunk_embedding_text(chunk: Chunk) -> str:
    return _embedding_text(Piece(chunk.page, chunk.heading, chunk.text, chunk.language))


def _claim(document_id: int | None) -> Document | None:
    if document_id is None:
        return None
    taken = Document.objects.filter(pk=document_id, status=Document.Status.QUEUED).update(
        status=Document.Status.PROCESSING
    )
    if not taken:
        return None
    document = Document.objects.select_related("collection", "job").get(pk=document_id)
    publisher.document_changed(document)
    return document


def _progress(document: Document, context: JobContext, *, stage: str, done: int, total: int) -> None:
    context.report(stage=stage, done=done, total=total)
    publisher.document_progress(document, stage=stage, done=done, total=total)


def _save(document: Document, pieces: list[Piece], vectors: list, *, model: str, mime: str, pages: int) -> bool:
    """All chunks and vectors or none; False if the document was deleted meanwhile."""
    with transaction.atomic():
        if not Document.objects.select_for_update().filter(pk=document.pk, status=Document.Status.PROCESSING).exists():
            return False
        Chunk.objects.filter(document=document).delete()
        chunks = Chunk.objects.bulk_create(
            [
                Chunk(
                    document=document,
                    collection_id=document.collection_id,
                    ordinal=index,
                    page=piece.page,
                    heading=piece.heading,
                    text=piece.text,
                    language=piece.language,
                    tokens=tokens_field(keyword_tokens(f"{piece.heading} {piece.text}")),
                    embedding_model=model,
                    embedding=to_bytes(vector),
                )
                for index, (piece, vector) in enumerate(zip(pieces, vectors, strict=True))
            ],
            batch_size=500,
        )
        if any(chunk.pk is None for chunk in chunks):  # databases without RETURNING on bulk inserts
            chunks = list(Chunk.objects.filter(document=document).order_by("ordinal"))
        get_index().store([(chunk.pk, vector) for chunk, vector in zip(chunks, vectors, strict=True)])
        Document.objects.filter(pk=document.pk).update(
            status=Document.Status.READY, mime=mime, page_count=pages, chunk_count=len(chunks), error=""
        )
    return True


def _finish_cancelled(document: Document) -> None:
    Document.objects.filter(pk=document.pk, status=Document.Status.PROCESSING).update(
        status=Document.Status.CANCELLED, error=_("Reading was cancelled. Upload the document again to index it.")
    )
    document.refresh_from_db()
    publisher.document_changed(document)


def ingest_failed(job: Job, error: str) -> None:
    """The document failed alone: say why on its row and page; the rest of the collection is untouched."""
    if job.subject_id is None:
        return
    updated = Document.objects.filter(
        pk=job.subject_id, status__in=[Document.Status.QUEUED, Document.Status.PROCESSING]
    ).update(status=Document.Status.FAILED, error=error)
    if updated:
        document = Document.objects.select_related("job").get(pk=job.subject_id)
        publisher.document_changed(document)


# --------------------------------------------------------------------------------------------- re-embedding


def reembed_run(job: Job, context: JobContext) -> None:
    """Embed again, in batches, each chunk of the collection that another model embedded."""
    collection = Collection.objects.filter(pk=job.subject_id).first() if job.subject_id is not None else None
    if collection is None:
        return
    embedder = current_embedder()
    stale = Chunk.objects.filter(collection=collection).exclude(embedding_model=embedder.name)
    total = stale.count()
    done = 0
    while not context.cancelled():
        batch = list(stale.order_by("id")[: settings.KNOWLEDGE_EMBED_BATCH])
        if not batch:
            break
        rows = embedder.passages([_chunk_embedding_text(c) for c in batch])
        with transaction.atomic():
            for chunk, vector in zip(batch, rows, strict=True):
                Chunk.objects.filter(pk=chunk.pk).update(embedding=to_bytes(vector), embedding_model=embedder.name)
            get_index().store([(chunk.pk, vector) for chunk, vector in zip(batch, rows, strict=True)])
        done += len(batch)
        context.report(stage="embedding", done=done, total=total)


def reembed_failed(job: Job, error: str) -> None:
    """Chunks not yet embedded again keep their old model and are searched with it until a retry."""
    log.warning("Re-embedding collection %s failed: %s", job.subject_id, error)


INGEST = kinds.register(kinds.JobKind(name="knowledge.ingest", queue="default", run=ingest_run, failed=ingest_failed))
REEMBED = kinds.register(
    kinds.JobKind(name="knowledge.reembed", queue="default", run=reembed_run, failed=reembed_failed)
)
