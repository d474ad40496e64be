"""The knowledge pages over HTTP: create, upload (progress over the socket), status, open at a page, delete."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from knowledge_files import make_pdf
from support import until

from knowledge.models import Chunk, Collection, Document

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_user_creates_a_collection_uploads_documents_and_sees_their_status(client, user, inline_jobs, knowledge_dir):
    client.force_login(user)

    created = client.post("/knowledge/", {"name": "제품 매뉴얼"})
    collection = Collection.objects.get(owner=user)
    uploaded = client.post(
        f"/knowledge/{collection.pk}/upload",
        {"files": [SimpleUploadedFile("a.pdf", make_pdf(["First page.", "Second page about valves."]))]},
    )
    page = client.get(f"/knowledge/{collection.pk}/")
    status = client.get(f"/knowledge/{collection.pk}/documents.json").json()

    assert created.status_code == 302 and created["Location"] == f"/knowledge/{collection.pk}/"
    assert uploaded.status_code == 201
    assert "a.pdf" in page.content.decode() and "제품 매뉴얼" in client.get("/knowledge/").content.decode()
    assert status["documents"][0] | {"status": "ready", "page_count": 2} == status["documents"][0]


def test_the_document_opens_inline_only_when_it_is_a_pdf_and_never_sniffed(client, user, make_collection, upload):
    collection = make_collection(user)
    pdf = upload(collection, "a.pdf", make_pdf(["Page one."]))
    html = upload(collection, "page.html", b"<html><body><p>Hello <script>alert(1)</script></p></body></html>")
    client.force_login(user)

    pdf_response = client.get(f"/knowledge/documents/{pdf.pk}/file")
    html_response = client.get(f"/knowledge/documents/{html.pk}/file")

    assert pdf_response["Content-Type"] == "application/pdf"
    assert pdf_response["Content-Disposition"].startswith("inline")
    assert html_response["Content-Type"] == "application/octet-stream"
    assert html_response["Content-Disposition"].startswith("attachment")
    assert html_response["X-Content-Type-Options"] == "nosniff"


def test_too_many_files_at_once_and_oversized_files_are_refused(client, user, make_collection, settings, knowledge_dir):
    settings.KNOWLEDGE_MAX_FILES_PER_UPLOAD = 2
    settings.KNOWLEDGE_MAX_UPLOAD_BYTES = 10
    collection = make_collection(user)
    client.force_login(user)

    many = client.post(
        f"/knowledge/{collection.pk}/upload", {"files": [SimpleUploadedFile(f"{i}.txt", b"x") for i in range(3)]}
    )
    big = client.post(f"/knowledge/{collection.pk}/upload", {"files": [SimpleUploadedFile("big.txt", b"x" * 11)]})

    assert many.status_code == 400 and "at most 2 files" in many.json()["detail"]
    assert big.status_code == 400 and "larger than" in big.json()["detail"]
    assert not Document.objects.exists()


def test_deleting_over_http_removes_the_document_chunks_and_file(client, user, make_collection, upload, knowledge_dir):
    collection = make_collection(user)
    document = upload(collection, "a.txt", b"Some text about gears.")
    stored = knowledge_dir / document.file.name
    client.force_login(user)

    response = client.post(f"/knowledge/documents/{document.pk}/delete")

    assert response.status_code == 302
    assert not Document.objects.exists() and not Chunk.objects.exists()
    assert not stored.exists()


def test_the_collection_page_takes_constant_queries(
    client, user, make_collection, upload, django_assert_max_num_queries
):
    collection = make_collection(user)
    for i in range(3):
        upload(collection, f"{i}.txt", f"Text number {i} about pumps.".encode())
    client.force_login(user)

    with django_assert_max_num_queries(8):
        client.get(f"/knowledge/{collection.pk}/")
    upload(collection, "more.txt", b"More text.")
    with django_assert_max_num_queries(8):
        client.get(f"/knowledge/{collection.pk}/")


async def test_ingestion_progress_reaches_the_collection_socket(
    user, client, make_collection, inline_jobs, knowledge_dir
):
    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator

    from exaone_web.asgi import application
    from knowledge import services

    collection = await database_sync_to_async(make_collection)(user)
    await sync_to_async(client.force_login)(user)
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"origin", b"http://127.0.0.1:8000"),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
    ]
    socket = WebsocketCommunicator(application, f"/ws/knowledge/{collection.pk}/", headers=headers)
    connected, _ = await socket.connect(timeout=10)
    assert connected

    await database_sync_to_async(services.document_upload)(
        user=user, collection=collection, upload=SimpleUploadedFile("a.txt", b"Gears need oil every month.")
    )
    progress, before = await until(socket, "document.progress", timeout=60)
    done = progress
    while not (done["type"] == "document.updated" and done["document"]["status"] == "ready"):
        done = await socket.receive_json_from(timeout=60)
    await socket.disconnect()

    assert progress["stage"] in ("reading", "embedding")
    assert done["document"]["chunk_count"] == 1 and done["document"]["filename"] == "a.txt"
