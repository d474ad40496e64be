import pytest

from exaone_web.jobs import kinds


@pytest.fixture
def probe_kind():
    """A job kind whose handler records what it was given and does what the test asks (real runner, real DB)."""
    calls = {"ran": [], "failed": [], "behaviour": None}

    def run(job, context):
        calls["ran"].append(job.pk)
        if calls["behaviour"] is not None:
            calls["behaviour"](job, context)

    def failed(job, message):
        calls["failed"].append((job.pk, message))

    kind = kinds.JobKind(name="test.probe", queue="default", run=run, failed=failed)
    kinds._kinds[kind.name] = kind
    yield calls
    kinds._kinds.pop(kind.name, None)
