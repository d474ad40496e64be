"""Knowledge fixtures: ingestion run inline, private storage in a temporary folder, collections."""

from __future__ import annotations

import pytest


@pytest.fixture
def inline_jobs(monkeypatch):
    """Run submitted jobs right here, as a worker would, so the test sees the outcome."""
    from exaone_web.jobs import backends, services

    monkeypatch.setattr(services, "dispatch", lambda job: backends.claim_and_run(job.queue))


@pytest.fixture
def knowledge_dir(settings, tmp_path):
    settings.KNOWLEDGE_STORAGE_DIR = tmp_path / "knowledge"
    return settings.KNOWLEDGE_STORAGE_DIR


@pytest.fixture
def upload(inline_jobs, knowledge_dir):
    """Upload ``data`` as ``name`` into ``collection`` and ingest it inline; returns the fresh document."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from knowledge import services

    def run(collection, name: str, data: bytes):
        document = services.document_upload(
            user=collection.owner, collection=collection, upload=SimpleUploadedFile(name, data)
        )
        document.refresh_from_db()
        return document

    return run


@pytest.fixture
def make_collection(db):
    from knowledge import services

    def make(owner, name: str = "Manuals"):
        return services.collection_create(owner=owner, name=name)

    return make
