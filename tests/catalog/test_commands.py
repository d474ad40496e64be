"""build_demo_models and pull_model, as an admin runs them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from catalog.models import ModelEntry

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


@pytest.mark.slow
def test_build_demo_models_writes_and_registers_the_tiny_text_model(settings, tmp_path):
    settings.MODELS_DIR = tmp_path

    call_command("build_demo_models", "--only", "text")

    entry = ModelEntry.objects.get(name="exaone4-tiny-demo")
    assert entry.demo and entry.engine == "transformers" and entry.kind == "text"
    assert (tmp_path / "exaone4-tiny" / "config.json").exists()
    assert list((tmp_path / "exaone4-tiny").glob("*.safetensors"))
    assert not list((tmp_path / "exaone4-tiny").glob("*.bin"))


def test_build_demo_models_builds_and_registers_the_tiny_upscaler(settings, tmp_path):
    pytest.importorskip("diffusers", reason="needs the ML extra: pip install -e '.[ml]'")
    settings.MODELS_DIR = tmp_path

    call_command("build_demo_models", "--only", "upscale")

    entry = ModelEntry.objects.get(name="upscaler-tiny-demo")
    assert entry.demo and entry.is_default and (entry.kind, entry.engine) == ("upscale", "diffusers")
    index = (tmp_path / "upscaler-tiny" / "model_index.json").read_text()
    assert "StableDiffusionUpscalePipeline" in index
    assert list((tmp_path / "upscaler-tiny" / "unet").glob("*.safetensors"))


def test_demo_registration_keeps_an_admins_default(settings, tmp_path):
    from catalog.services import demo_models_register, model_register

    model_register(
        name="house-model",
        display_name="House",
        kind="text",
        engine="openai",
        path="http://10.0.0.5:8000/v1",
        is_default=True,
    )
    demo_models_register(names={"gemma-3-270m-demo"})  # first registration claims the default
    ModelEntry.objects.filter(name="house-model").update(is_default=True)
    ModelEntry.objects.filter(name="gemma-3-270m-demo").update(is_default=False)

    demo_models_register(names={"gemma-3-270m-demo"})  # running setup again

    assert ModelEntry.objects.get(name="house-model").is_default
    assert not ModelEntry.objects.get(name="gemma-3-270m-demo").is_default


def _pull_exaone(tmp_path, **hub_env: str) -> subprocess.CompletedProcess:
    """Run `manage.py pull_model` in a fresh installation under ``tmp_path`` with the given hub settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(
        MODELS_DIR=str(tmp_path),
        EXAONE_VAR_DIR=str(tmp_path / "var"),
        DJANGO_SETTINGS_MODULE="exaone_web.settings.base",
        **hub_env,
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True, timeout=120)
    return subprocess.run(
        [sys.executable, "manage.py", "pull_model", "LGAI-EXAONE/EXAONE-4.0-1.2B"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_pull_model_offline_fails_with_a_clear_message(tmp_path):
    result = _pull_exaone(tmp_path, HF_HUB_OFFLINE="1")

    assert result.returncode == 1
    assert "Could not download LGAI-EXAONE/EXAONE-4.0-1.2B@main" in result.stderr
    assert "copy its folder" in result.stderr and "Traceback" not in result.stderr


def test_pull_model_unreachable_hub_fails_with_a_clear_message(tmp_path):
    # Nothing listens on port 9: the same as having no network.
    result = _pull_exaone(
        tmp_path, HF_ENDPOINT="http://127.0.0.1:9", HF_HUB_ETAG_TIMEOUT="2", HF_HUB_DOWNLOAD_TIMEOUT="2"
    )

    assert result.returncode == 1
    assert "may be offline" in result.stderr and "Traceback" not in result.stderr
    assert not ModelEntry.objects.filter(hub_id="LGAI-EXAONE/EXAONE-4.0-1.2B").exists()
