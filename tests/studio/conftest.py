"""Studio fixtures: the tiny Stable Diffusion demo pipeline, registered; jobs run inline; events recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

TEST_MODELS = Path(__file__).resolve().parents[2] / "var" / "test-models"


@pytest.fixture(scope="session")
def sd_tiny_path():
    pytest.importorskip("diffusers", reason="needs the ML extra: pip install -e '.[ml]'")
    from support import tiny_image_model

    return tiny_image_model(TEST_MODELS / "sd-tiny-studio")


@pytest.fixture
def image_model(db, sd_tiny_path):
    from catalog.services import model_register

    return model_register(
        name="sd-tiny-test",
        display_name="SD tiny (test)",
        kind="image",
        engine="diffusers",
        path=str(sd_tiny_path),
        is_default=True,
        demo=True,
    )


@pytest.fixture(autouse=True)
def _studio_storage(tmp_path, settings):
    """Each test writes images into its own private folder."""
    from studio.storage import studio_storage

    settings.STUDIO_ROOT = tmp_path / "studio"
    studio_storage.cache_clear()
    yield
    studio_storage.cache_clear()


@pytest.fixture
def held_jobs(monkeypatch):
    """Jobs stay queued: the test decides when a worker claims one."""
    from exaone_web.jobs import services

    monkeypatch.setattr(services, "dispatch", lambda job: None)


@pytest.fixture
def events(monkeypatch):
    """Every event sent to any websocket group, in order: (group, payload)."""
    from exaone_web import realtime

    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(realtime, "group_send", lambda group, event: sent.append((group, event.get("payload", event))))
    return sent
