"""Enlarging images x2 or x4 with diffusers' Stable Diffusion x4 upscaler.

The pipeline (``StableDiffusionUpscalePipeline``) denoises latents at the input's own size, conditioned on the
input with a little noise added (``noise_level``), and its VAE decodes them at four times the size. A x2 request
runs the x4 model and resizes the result down by half with Lanczos: the model still invents detail at the
finer scale, and one model serves both factors (the x2 latent upscaler works on Stable Diffusion latents, not on
pictures, so it cannot enlarge an uploaded image).

Conventions are those of :mod:`inference.image.diffusion`: device and dtype from :func:`pick_device`, a CPU
generator per seed, cancel polled after every step (the run stops before the VAE decode), progress per step,
and one call at a time per engine.

Options read from ``spec.options``:

* ``device`` / ``dtype`` - as for the diffusers engine.
* ``max_input_pixels`` - largest input (width x height) the model takes; memory grows with the output size
  (default :data:`~inference.image.types.UPSCALE_MAX_INPUT_PIXELS`, 512 x 512 in, 2048 x 2048 out).
* ``attention_slicing``, ``vae_tiling`` - trade speed for memory (booleans).
"""

from __future__ import annotations

import gc
import json
import secrets
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..devices import pick_device
from ..errors import EngineUnavailable, InvalidRequest, ModelLoadError
from ..safety import check_revision, check_weights
from ..types import ModelSpec
from .diffusion import _dtype_kwargs
from .types import (
    MAX_SEED,
    ImageTimings,
    ProgressEvent,
    UpscaleFinishReason,
    UpscaleRequest,
    UpscaleResult,
    max_input_pixels,
)

#: The pipeline pads its input to a multiple of this (its UNet halves the size three times at most).
_PAD_TO = 8


class _Stop(Exception):
    """Raised from the step callback to leave the denoising loop at once (skipping the VAE decode)."""


class DiffusersUpscaleEngine:
    """A loaded x4 upscaler; :meth:`upscale` enlarges one image."""

    def __init__(self, name: str, pipe: Any, *, device: str, dtype: torch.dtype, max_pixels: int) -> None:
        self.name = name
        self.device = device
        self.dtype = dtype
        self.max_input_pixels = max_pixels
        self._pipe: Any = pipe
        self._lock = threading.Lock()
        self.scale = 2 ** (len(pipe.vae.config.block_out_channels) - 1)
        pipe.set_progress_bar_config(disable=True)

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> DiffusersUpscaleEngine:
        """Load the upscaler folder ``spec`` points at; raise :class:`ModelLoadError` with a fix when it cannot."""
        from diffusers import StableDiffusionUpscalePipeline

        path = Path(spec.path).expanduser() if spec.path else None
        if path is None or not (path / "model_index.json").is_file():
            raise ModelLoadError(
                f"Upscaler {spec.name!r}: {spec.path or '(no path)'} is not a diffusers folder with "
                "model_index.json. Download the full diffusers layout of an x4 upscaler (for example "
                "stabilityai/stable-diffusion-x4-upscaler) and point the path at it."
            )
        check_weights(path, allow_pickle=spec.allow_pickle)
        check_revision(path, spec.revision, hub_id=spec.hub_id)
        try:
            index = json.loads((path / "model_index.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{path}/model_index.json is not valid JSON ({exc}); download it again.") from exc
        if index.get("_class_name") != "StableDiffusionUpscalePipeline":
            raise ModelLoadError(
                f"{path} holds a {index.get('_class_name')!r}, not a StableDiffusionUpscalePipeline: register it "
                "as an image model, or point this upscaler at an x4 upscaler folder."
            )
        options = dict(spec.options)
        device, dtype = pick_device(options)
        kwargs: dict[str, Any] = {
            "local_files_only": True,
            "use_safetensors": None if spec.allow_pickle else True,
            **_dtype_kwargs(dtype),
        }
        if spec.revision:
            kwargs["revision"] = spec.revision
        try:
            pipe = StableDiffusionUpscalePipeline.from_pretrained(str(path), **kwargs)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"Could not load the upscaler folder {path}: {exc}") from exc
        if options.get("attention_slicing"):
            pipe.enable_attention_slicing()
        if options.get("vae_tiling"):
            pipe.vae.enable_tiling()
        pipe.to(device)
        return cls(spec.name, pipe, device=device, dtype=dtype, max_pixels=max_input_pixels(options))

    def upscale(self, request: UpscaleRequest) -> UpscaleResult:
        """Run ``request``; block until the image is ready or the run is cancelled."""
        if self._pipe is None:
            raise EngineUnavailable(f"Upscaler {self.name!r} was unloaded; load it again to use it.")
        width, height = request.image.size
        if width * height > self.max_input_pixels:
            raise InvalidRequest(
                f"{width}x{height} is {width * height} pixels; upscaler {self.name!r} takes at most "
                f"{self.max_input_pixels}. Use a smaller image or the resampler."
            )
        with self._lock:
            return self._upscale(request)

    def _upscale(self, request: UpscaleRequest) -> UpscaleResult:
        started = time.perf_counter()
        seed = request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1)
        steps = {"done": 0, "total": request.steps}

        def result(image: Image.Image | None, reason: UpscaleFinishReason, **extra: Any) -> UpscaleResult:
            return UpscaleResult(
                image=image,
                finish_reason=reason,
                seed=seed,
                factor=request.factor,
                steps_done=steps["done"],
                steps_total=steps["total"],
                model=self.name,
                **extra,
            )

        if request.cancel():
            return result(None, "cancelled", timings=ImageTimings(total_ms=_ms(started)))

        def on_step(index: int, timestep: Any, latents: torch.Tensor) -> None:
            steps["done"] = index + 1
            if request.on_progress is not None:
                request.on_progress(ProgressEvent(steps["done"], steps["total"], time.perf_counter() - started))
            if request.cancel() and steps["done"] < steps["total"]:
                raise _Stop

        source = request.image.convert("RGB")
        padded = _pad(source, _PAD_TO)
        try:
            with torch.inference_mode():
                output = self._pipe(
                    prompt=request.prompt,
                    negative_prompt=request.negative_prompt or None,
                    image=padded,
                    num_inference_steps=request.steps,
                    guidance_scale=request.guidance_scale,
                    noise_level=min(request.noise_level, int(self._pipe.config.max_noise_level)),
                    generator=torch.Generator(device="cpu").manual_seed(seed),
                    output_type="pil",
                    callback=on_step,
                    callback_steps=1,
                )
        except _Stop:
            return result(None, "cancelled", timings=ImageTimings(total_ms=_ms(started), steps_ms=_ms(started)))
        steps_ms = _ms(started)
        enlarged = output.images[0].crop((0, 0, source.width * self.scale, source.height * self.scale))
        target = (source.width * request.factor, source.height * request.factor)
        if enlarged.size != target:
            enlarged = enlarged.resize(target, Image.Resampling.LANCZOS)
        total_ms = _ms(started)
        return result(enlarged, "done", timings=ImageTimings(total_ms=total_ms, steps_ms=steps_ms))

    def close(self) -> None:
        """Drop the pipeline and give its memory back."""
        with self._lock:
            self._pipe = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _pad(image: Image.Image, multiple: int) -> Image.Image:
    """``image`` grown right and down to a multiple of ``multiple`` by repeating its edge pixels.

    Padding (then cropping the output) keeps the geometry exact, where resizing to a multiple would stretch it.
    """
    width, height = image.size
    right, bottom = -width % multiple, -height % multiple
    if not right and not bottom:
        return image
    pixels = np.pad(np.asarray(image), ((0, bottom), (0, right), (0, 0)), mode="edge")
    return Image.fromarray(pixels, mode="RGB")


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000
