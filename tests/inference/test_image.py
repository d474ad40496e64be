"""The diffusers engine on a tiny, randomly initialised Stable Diffusion model built by the demo module."""

from __future__ import annotations

import importlib.util
import json
import math

import pytest
from PIL import Image

pytest.importorskip("torch", reason="needs the ML extra: pip install -e '.[ml]'")
pytest.importorskip("diffusers", reason="needs the ML extra: pip install -e '.[ml]'")

import torch

from inference.demo.image import build_image_model
from inference.errors import EngineUnavailable, InvalidRequest, ModelLoadError, UnsafeModelFormat
from inference.image.diffusion import DiffusersEngine, latents_preview
from inference.image.types import SCHEDULERS, ImageRequest
from inference.images_in import png_bytes
from inference.registry import engine_class
from inference.types import ModelSpec

SIDE = 64  # the demo model's native size: 32x32 latents


def spec_for(path, **fields) -> ModelSpec:
    return ModelSpec(name=fields.pop("name", "demo-sd"), kind="image", engine="diffusers", path=str(path), **fields)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_image_model(tmp_path_factory.mktemp("sd") / "tiny-sd", seed=0)


@pytest.fixture(scope="module")
def engine(model_dir):
    loaded = DiffusersEngine.from_spec(spec_for(model_dir))
    yield loaded
    loaded.close()


def request(**fields) -> ImageRequest:
    values = {"prompt": "a photo of a cat on a red sofa", "width": SIDE, "height": SIDE, "steps": 2, "seed": 7}
    values.update(fields)
    return ImageRequest(**values)


def start_image() -> Image.Image:
    return Image.frombytes("RGB", (SIDE, SIDE), bytes((i * 31) % 256 for i in range(SIDE * SIDE * 3)))


# Text to image ----------------------------------------------------------------------------------------


def test_the_registry_names_this_engine():
    assert engine_class("image", "diffusers") is DiffusersEngine


def test_txt2img_makes_an_image_of_the_requested_size(engine):
    # When a 64x64 image is made in two steps
    result = engine.generate(request())
    # Then one RGB image comes back with the seed and step counts
    assert result.finish_reason == "done"
    assert len(result.images) == 1
    assert result.images[0].size == (SIDE, SIDE)
    assert result.images[0].mode == "RGB"
    assert (result.seed, result.seeds) == (7, [7])
    assert (result.steps_done, result.steps_total) == (2, 2)
    assert result.nsfw is None  # the demo folder ships no checker by default
    assert result.prompt_truncated is False
    assert result.timings.total_ms >= result.timings.steps_ms > 0
    assert engine.modes == ("txt2img", "img2img", "inpaint")
    assert engine.default_size == SIDE


def test_the_same_seed_gives_identical_png_bytes(engine):
    first = engine.generate(request(seed=1234))
    second = engine.generate(request(seed=1234))
    assert png_bytes(first.images[0]) == png_bytes(second.images[0])


def test_different_seeds_give_different_images(engine):
    first = engine.generate(request(seed=1))
    second = engine.generate(request(seed=2))
    assert png_bytes(first.images[0]) != png_bytes(second.images[0])


def test_a_random_seed_is_reported_and_reproduces_the_image(engine):
    # Given an image made without a seed
    first = engine.generate(request(seed=None))
    assert 0 <= first.seed < 2**32
    # When the reported seed is used again / Then the same image comes back
    again = engine.generate(request(seed=first.seed))
    assert png_bytes(again.images[0]) == png_bytes(first.images[0])


def test_several_images_use_consecutive_seeds(engine):
    result = engine.generate(request(num_images=2, seed=50))
    assert result.seeds == [50, 51]
    assert len(result.images) == 2
    assert png_bytes(result.images[0]) != png_bytes(result.images[1])


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_every_listed_scheduler_runs(engine, scheduler):
    if scheduler == "lms" and importlib.util.find_spec("scipy") is None:
        with pytest.raises(EngineUnavailable, match="scipy"):
            engine.generate(request(scheduler=scheduler))
        return
    result = engine.generate(request(scheduler=scheduler, steps=3))
    assert result.finish_reason == "done"
    assert result.images[0].size == (SIDE, SIDE)
    assert result.steps_done == result.steps_total >= 3


def test_a_prompt_past_77_tokens_is_truncated_with_a_warning(engine):
    result = engine.generate(request(prompt="a very detailed photo of a cat " * 30))
    assert result.finish_reason == "done"
    assert result.prompt_truncated is True
    assert any("77 tokens" in warning for warning in result.warnings)


def test_non_square_sizes_work(engine):
    result = engine.generate(request(width=96, height=64))
    assert result.images[0].size == (96, 64)


# Image to image and inpainting -----------------------------------------------------------------------


def test_img2img_runs_strength_times_steps_and_resizes_the_input(engine):
    # Given a 64x64 start image and an 80x64 request at strength 0.5 over 4 steps
    req = request(mode="img2img", init_image=start_image(), width=80, height=64, steps=4, strength=0.5)
    # When it runs
    result = engine.generate(req)
    # Then two steps run and the output has the requested size
    assert result.finish_reason == "done"
    assert (result.steps_done, result.steps_total) == (2, 2)
    assert result.images[0].size == (80, 64)


def test_img2img_depends_on_the_start_image(engine):
    plain = Image.new("RGB", (SIDE, SIDE), (20, 200, 20))
    first = engine.generate(request(mode="img2img", init_image=start_image(), steps=4, strength=0.5))
    second = engine.generate(request(mode="img2img", init_image=plain, steps=4, strength=0.5))
    assert png_bytes(first.images[0]) != png_bytes(second.images[0])


def test_inpaint_repaints_with_a_mask(engine):
    mask = Image.new("L", (SIDE, SIDE), 0)
    mask.paste(255, (16, 16, 48, 48))
    result = engine.generate(request(mode="inpaint", init_image=start_image(), mask_image=mask, steps=3, strength=1.0))
    assert result.finish_reason == "done"
    assert result.steps_done == 3
    assert result.images[0].size == (SIDE, SIDE)


# Progress, previews and cancelling -------------------------------------------------------------------


def test_the_step_callback_fires_once_per_step_with_small_previews(engine):
    events = []
    engine.generate(request(steps=4, on_progress=events.append, preview_every=0))
    assert [event.step for event in events] == [1, 2, 3, 4]
    assert {event.total for event in events} == {4}
    assert all(later.elapsed_s >= earlier.elapsed_s for earlier, later in zip(events, events[1:], strict=False))
    for event in events:
        assert isinstance(event.preview, Image.Image)
        assert event.preview.mode == "RGB"
        assert max(event.preview.size) <= 128


def test_previews_are_throttled_or_off(engine):
    throttled, off = [], []
    engine.generate(request(steps=3, on_progress=throttled.append, preview_every=60))
    engine.generate(request(steps=3, on_progress=off.append, preview_every=None))
    assert [event.preview is not None for event in throttled] == [True, False, False]
    assert [event.preview for event in off] == [None, None, None]


def test_cancel_mid_run_stops_early(engine):
    # Given a 6-step run whose cancel flag goes up after step 2
    events = []
    req = request(steps=6, on_progress=events.append, cancel=lambda: len(events) >= 2)
    # When it runs
    result = engine.generate(req)
    # Then it stops after step 2 with no images
    assert result.finish_reason == "cancelled"
    assert (result.steps_done, result.steps_total) == (2, 6)
    assert result.images == []
    assert [event.step for event in events] == [1, 2]


def test_cancel_before_the_start_runs_no_step(engine):
    result = engine.generate(request(cancel=lambda: True))
    assert result.finish_reason == "cancelled"
    assert result.steps_done == 0
    # and the engine is still usable afterwards
    assert engine.generate(request()).finish_reason == "done"


def test_latents_preview_maps_four_channels_only():
    preview = latents_preview(torch.zeros(1, 4, 16, 24))
    assert preview.size == (128, 85)
    assert preview.getpixel((0, 0)) == (128, 128, 128)
    assert latents_preview(torch.zeros(1, 16, 16, 16)) is None


# Request validation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"width": 65}, "multiple of 8"),
        ({"height": 32}, "between 64 and 2048"),
        ({"width": 4096}, "between 64 and 2048"),
        ({"width": 2048, "height": 2048}, "pixels; the limit"),
        ({"steps": 0}, "steps"),
        ({"steps": 151}, "steps"),
        ({"guidance_scale": math.nan}, "guidance_scale"),
        ({"guidance_scale": 31}, "guidance_scale"),
        ({"scheduler": "karras-magic"}, "Unknown scheduler"),
        ({"mode": "outpaint"}, "Unknown mode"),
        ({"mode": "img2img"}, "needs an init image"),
        ({"mode": "inpaint", "init_image": Image.new("RGB", (8, 8))}, "needs a mask"),
        ({"init_image": Image.new("RGB", (8, 8))}, "txt2img takes no init"),
        ({"mode": "img2img", "init_image": b"png bytes"}, "PIL image"),
        ({"mode": "img2img", "init_image": Image.new("RGB", (8, 8)), "strength": 1.5}, "strength"),
        ({"mode": "img2img", "init_image": Image.new("RGB", (8, 8)), "strength": 0.1, "steps": 5}, "no step"),
        ({"num_images": 5}, "num_images"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**32}, "seed"),
        ({"prompt": "   "}, "Write a prompt"),
        ({"prompt": "x" * 2001}, "characters"),
        ({"width": True}, "whole number"),
        ({"preview_every": -1}, "preview_every"),
    ],
)
def test_invalid_requests_are_refused_with_a_reason(fields, message):
    with pytest.raises(InvalidRequest, match=message):
        request(**fields)


# Loading ---------------------------------------------------------------------------------------------


def test_a_missing_folder_is_a_clear_load_error(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist.*fix the path"):
        DiffusersEngine.from_spec(spec_for(tmp_path / "nowhere"))


def test_a_pickle_only_folder_is_refused(tmp_path):
    # Given a diffusers layout whose weights are only pickle files
    (tmp_path / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04not really a pickle")
    # When it is loaded / Then it is refused before anything is unpickled
    with pytest.raises(UnsafeModelFormat, match="pickle"):
        DiffusersEngine.from_spec(spec_for(tmp_path))


def test_a_folder_without_model_index_is_refused(tmp_path):
    (tmp_path / "weights.safetensors").write_bytes(b"")
    with pytest.raises(ModelLoadError, match="model_index.json"):
        DiffusersEngine.from_spec(spec_for(tmp_path))


def test_a_single_file_needs_a_local_config_folder(tmp_path):
    from safetensors.torch import save_file

    checkpoint = tmp_path / "model.safetensors"
    save_file({"weight": torch.zeros(1)}, str(checkpoint))
    with pytest.raises(ModelLoadError, match="options.config"):
        DiffusersEngine.from_spec(spec_for(checkpoint))


def test_unknown_dtype_option_is_refused(model_dir):
    with pytest.raises(ModelLoadError, match="Unknown dtype"):
        DiffusersEngine.from_spec(spec_for(model_dir, options={"dtype": "float8"}))


def test_nsfw_check_uses_the_folders_safety_checker(tmp_path):
    # Given a demo folder that ships a safety checker (which never flags)
    folder = build_image_model(tmp_path / "with-checker", seed=0, with_safety_checker=True)
    checked = DiffusersEngine.from_spec(spec_for(folder, options={"nsfw_check": True}))
    unchecked = DiffusersEngine.from_spec(spec_for(folder))
    try:
        # When images are made with and without the option
        flagged = checked.generate(request(num_images=2))
        plain = unchecked.generate(request())
    finally:
        checked.close()
        unchecked.close()
    # Then only the checked engine reports flags, one per image
    assert flagged.nsfw == [False, False]
    assert plain.nsfw is None


def test_memory_options_on_cpu_still_generate(model_dir):
    options = {"attention_slicing": True, "vae_tiling": True, "cpu_offload": True}
    loaded = DiffusersEngine.from_spec(spec_for(model_dir, options=options))
    try:
        result = loaded.generate(request())
    finally:
        loaded.close()
    assert result.finish_reason == "done"
    assert any("cpu_offload" in warning for warning in result.warnings)


def test_with_cpu_offload_every_mode_and_a_cancel_send_the_models_back(model_dir):
    # Given offload hooks on the text-to-image pipeline, which img2img and inpaint share their models with (on a
    # GPU host these move each model to the GPU while it runs; here the "GPU" is the CPU itself)
    loaded = DiffusersEngine.from_spec(spec_for(model_dir))
    loaded._base.enable_model_cpu_offload(device="cpu")
    loaded.cpu_offload = True
    mask = Image.new("L", (SIDE, SIDE), 255)
    runs = {
        "img2img": request(mode="img2img", init_image=start_image(), strength=1.0),
        "inpaint": request(mode="inpaint", init_image=start_image(), mask_image=mask, strength=1.0),
        "cancelled txt2img": request(steps=4, cancel=lambda: True if calls else calls.append(1)),
    }
    calls: list[int] = []
    try:
        for name, each in runs.items():
            before = list(loaded._base._all_hooks)  # kept alive, so their ids cannot be reused
            # When a pipeline other than text-to-image runs, or a run stops early
            result = loaded.generate(each)
            # Then the hooks were re-armed, which first offloads every model they manage
            after = loaded._base._all_hooks
            assert after and not {id(hook) for hook in after} & {id(hook) for hook in before}, name
            assert result.finish_reason == ("cancelled" if name.startswith("cancelled") else "done"), name
    finally:
        loaded.close()


def test_a_half_precision_model_stays_half_precision_in_every_mode(model_dir):
    # Given the model loaded in bfloat16 (as on a GPU)
    loaded = DiffusersEngine.from_spec(spec_for(model_dir, options={"dtype": "bfloat16"}))
    try:
        # Then making the img2img and inpaint pipelines did not cast the shared modules back to float32
        assert loaded.dtype == torch.bfloat16
        assert {pipe.unet.dtype for pipe in loaded._pipes.values()} == {torch.bfloat16}
        assert len({id(pipe.unet) for pipe in loaded._pipes.values()}) == 1  # one UNet, shared
        result = loaded.generate(request())
    finally:
        loaded.close()
    assert result.finish_reason == "done"
    assert result.images[0].size == (SIDE, SIDE)


def test_the_demo_builder_is_deterministic_for_a_seed(model_dir, tmp_path):
    # When the demo model is built again with the same seed, and once with another
    again = build_image_model(tmp_path / "again", seed=0)
    other = build_image_model(tmp_path / "other", seed=1)
    weights = "unet/diffusion_pytorch_model.safetensors"
    # Then the same seed gives the same files, and another seed other weights
    for name in (weights, "text_encoder/model.safetensors", "tokenizer/tokenizer.json", "tokenizer/merges.txt"):
        assert (again / name).read_bytes() == (model_dir / name).read_bytes(), name
    assert (other / weights).read_bytes() != (model_dir / weights).read_bytes()


def test_a_closed_engine_says_it_was_unloaded(model_dir):
    loaded = DiffusersEngine.from_spec(spec_for(model_dir))
    loaded.close()
    with pytest.raises(EngineUnavailable, match="unloaded"):
        loaded.generate(request())
