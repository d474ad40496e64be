"""The diffusers x4 upscaler engine on the tiny random-weight upscaler: sizes, seeds, cancel, bounds, loading."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("diffusers", reason="needs the ML extra: pip install -e '.[ml]'")

from PIL import Image  # noqa: E402

from inference.errors import InvalidRequest, ModelLoadError  # noqa: E402
from inference.image.types import ProgressEvent, UpscaleRequest  # noqa: E402
from inference.registry import engine_class  # noqa: E402
from inference.types import ModelSpec  # noqa: E402

TEST_MODELS = Path(__file__).resolve().parents[2] / "var" / "test-models"


@pytest.fixture(scope="module")
def upscaler_folder() -> Path:
    from inference.demo.image import build_upscaler_model

    folder = TEST_MODELS / "upscaler-tiny-refine"  # the refine tests build the same one (same seed)
    if not (folder / "model_index.json").is_file():
        build_upscaler_model(folder, seed=0)
    return folder


def spec(folder: Path, **options) -> ModelSpec:
    return ModelSpec(name="tiny-x4", kind="upscale", engine="diffusers", path=str(folder), options=options)


@pytest.fixture(scope="module")
def engine(upscaler_folder):
    engine = engine_class("upscale", "diffusers").from_spec(spec(upscaler_folder, max_input_pixels=48 * 48))
    yield engine
    engine.close()


def picture(size=(24, 16)) -> Image.Image:
    image = Image.new("RGB", size, (200, 40, 40))
    image.paste((30, 30, 220), (size[0] // 2, 0, size[0], size[1]))
    return image


@pytest.mark.parametrize("factor", [2, 4])
def test_output_is_exactly_factor_times_the_input(engine, factor):
    result = engine.upscale(UpscaleRequest(image=picture((20, 17)), factor=factor, steps=2, seed=3))

    assert result.finish_reason == "done" and result.model == "tiny-x4"
    assert result.image.size == (20 * factor, 17 * factor)
    assert (result.steps_done, result.steps_total, result.seed) == (2, 2, 3)


def test_the_same_seed_gives_the_same_picture_and_progress_is_reported(engine):
    events: list[ProgressEvent] = []
    first = engine.upscale(UpscaleRequest(image=picture(), steps=3, seed=7, on_progress=events.append))
    again = engine.upscale(UpscaleRequest(image=picture(), steps=3, seed=7))

    assert first.image.tobytes() == again.image.tobytes()
    assert [(e.step, e.total) for e in events] == [(1, 3), (2, 3), (3, 3)]


def test_cancel_stops_between_steps_without_decoding(engine):
    polls = []

    def cancel() -> bool:
        polls.append(1)
        return len(polls) >= 3  # the first poll is before the run starts

    result = engine.upscale(UpscaleRequest(image=picture(), steps=10, seed=1, cancel=cancel))

    assert result.finish_reason == "cancelled" and result.image is None
    assert result.steps_done == 2 < result.steps_total


def test_an_input_over_the_limit_is_refused_before_running(engine):
    with pytest.raises(InvalidRequest, match="resampler"):
        engine.upscale(UpscaleRequest(image=picture((64, 48)), steps=1))


@pytest.mark.parametrize(
    "fields",
    [{"factor": 3}, {"factor": True}, {"steps": 0}, {"noise_level": -1}, {"image": "not a picture"}],
)
def test_bad_requests_say_what_to_change(fields):
    with pytest.raises(InvalidRequest):
        UpscaleRequest(**{"image": picture(), **fields})


def test_a_folder_that_is_not_an_upscaler_is_refused_with_a_fix(tmp_path):
    from inference.demo.image import build_image_model

    not_upscaler = build_image_model(tmp_path / "sd", seed=0)
    with pytest.raises(ModelLoadError, match="StableDiffusionUpscalePipeline"):
        engine_class("upscale", "diffusers").from_spec(spec(not_upscaler))
    with pytest.raises(ModelLoadError, match="model_index.json"):
        engine_class("upscale", "diffusers").from_spec(spec(tmp_path / "missing"))
