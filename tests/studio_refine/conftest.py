"""Refine fixtures: the tiny Stable Diffusion and vision demo models registered, a private studio folder,
and a generated gallery image to refine."""

from __future__ import annotations

from pathlib import Path

import pytest

TEST_MODELS = Path(__file__).resolve().parents[2] / "var" / "test-models"


@pytest.fixture(scope="session")
def sd_tiny_folder():
    pytest.importorskip("diffusers", reason="needs the ML extra: pip install -e '.[ml]'")
    from inference.demo.image import build_image_model

    folder = TEST_MODELS / "sd-tiny-studio"
    if not (folder / "model_index.json").is_file():
        build_image_model(folder, seed=0)
    return folder


@pytest.fixture(scope="session")
def vlm_tiny_folder():
    pytest.importorskip("transformers", reason="needs the ML extra: pip install -e '.[ml]'")
    from inference.demo.vision import build_vision_model

    folder = TEST_MODELS / "vlm-tiny-refine"
    if not (folder / "config.json").is_file():
        build_vision_model(folder, seed=0)
    return folder


@pytest.fixture(scope="session")
def upscaler_tiny_folder():
    pytest.importorskip("diffusers", reason="needs the ML extra: pip install -e '.[ml]'")
    from inference.demo.image import build_upscaler_model

    folder = TEST_MODELS / "upscaler-tiny-refine"
    if not (folder / "model_index.json").is_file():
        build_upscaler_model(folder, seed=0)
    return folder


def _register(name: str, kind: str, engine: str, folder: Path, **fields):
    from catalog.services import model_register

    return model_register(
        name=name, display_name=name, kind=kind, engine=engine, path=str(folder), is_default=True, demo=True, **fields
    )


@pytest.fixture
def sd_model(db, sd_tiny_folder):
    return _register("sd-tiny-refine", "image", "diffusers", sd_tiny_folder)


@pytest.fixture
def vision_model(db, vlm_tiny_folder):
    return _register("vlm-tiny-refine", "vision", "transformers", vlm_tiny_folder)


@pytest.fixture
def upscaler_model(db, upscaler_tiny_folder):
    # Few steps and a small input limit (64 x 64), so the size bound is testable on tiny pictures.
    return _register(
        "upscaler-tiny-refine",
        "upscale",
        "diffusers",
        upscaler_tiny_folder,
        default_sampling={"steps": 3},
        options={"max_input_pixels": 64 * 64},
    )


@pytest.fixture(autouse=True)
def _private_studio_folder(tmp_path, settings):
    from studio.storage import studio_storage

    settings.STUDIO_ROOT = tmp_path / "studio"
    studio_storage.cache_clear()
    yield
    studio_storage.cache_clear()


@pytest.fixture
def picture(user):
    from refine_support import make_picture

    return make_picture(user)
