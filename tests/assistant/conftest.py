import pytest


@pytest.fixture
def inline_jobs(monkeypatch):
    """Run submitted jobs right here, so a test sees the outcome without waiting on threads."""
    from exaone_web.jobs import backends, services

    ran = []

    def run(job):
        ran.append(job.kind)
        backends.claim_and_run(job.queue)

    monkeypatch.setattr(services, "dispatch", run)
    return ran
