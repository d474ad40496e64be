import pytest


@pytest.fixture
def inline_jobs(monkeypatch):
    """Run dispatched jobs right here, so a test sees the outcome without waiting on threads."""
    from exaone_web import jobs

    ran = []

    def run(task, *args, queue):
        ran.append(task.name)
        task.run(*args)

    monkeypatch.setattr(jobs, "dispatch", run)
    return ran
