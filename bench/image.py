"""diffusers: :meth:`DiffusersEngine.generate` against calling the same text-to-image pipeline directly.

Both paths run the same pipeline object (same weights, same scheduler class, progress bar off) with the same
prompt, size, steps, guidance and seed, so they should also produce the same pixels (checked, and reported).
"Steps/s" counts the denoising loop from the call to the last step (text encoding included, VAE decode not);
"ms per image" is the whole call.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .common import median, ratio

PROMPT = "a watercolor illustration of a small house with a garden"
SEED = 1234


@dataclass(frozen=True)
class ImageSettings:
    sizes: tuple[int, ...] = (64, 128)
    steps: int = 10
    guidance_scale: float = 7.0
    repeats: int = 5


@dataclass
class ImageRun:
    """Repeated runs of one size on one path."""

    path: str
    size: int
    steps: int
    steps_s: list[float] = field(default_factory=list)
    total_s: list[float] = field(default_factory=list)

    @property
    def steps_per_s(self) -> float:
        return ratio(self.steps, median(self.steps_s))

    @property
    def ms_per_image(self) -> float:
        return median(self.total_s) * 1000.0


@dataclass
class ImageBenchResult:
    settings: ImageSettings
    load_s: float
    runs: list[ImageRun]
    #: Per size: whether raw and engine gave the same pixels for the same seed.
    same_pixels: dict[int, bool]
    seconds: float = 0.0

    def run(self, path: str, size: int) -> ImageRun:
        return next(r for r in self.runs if r.path == path and r.size == size)

    def engine_vs_raw_steps(self, size: int) -> float:
        """Engine steps/s over raw steps/s (1.0 = no overhead)."""
        return ratio(self.run("engine", size).steps_per_s, self.run("raw", size).steps_per_s)

    def engine_vs_raw_images(self, size: int) -> float:
        """Engine images/s over raw images/s (1.0 = no overhead)."""
        return ratio(self.run("raw", size).ms_per_image, self.run("engine", size).ms_per_image)


def load_engine(model_dir: Path) -> Any:
    from inference.image.diffusion import DiffusersEngine
    from inference.types import ModelSpec

    spec = ModelSpec(name="bench-tiny-sd", kind="image", engine="diffusers", path=str(model_dir))
    return DiffusersEngine.from_spec(spec)


def call_raw(pipe: Any, size: int, settings: ImageSettings) -> tuple[float, float, Any]:
    """One image from ``pipe`` directly; return loop seconds, total seconds and the image."""
    import torch

    last = [0.0]

    def on_step(pipeline: Any, index: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        last[0] = time.perf_counter()
        return {}

    started = time.perf_counter()
    with torch.inference_mode():
        output = pipe(
            prompt=PROMPT,
            num_inference_steps=settings.steps,
            guidance_scale=settings.guidance_scale,
            width=size,
            height=size,
            generator=[torch.Generator(device="cpu").manual_seed(SEED)],
            output_type="pil",
            callback_on_step_end=on_step,
        )
    ended = time.perf_counter()
    return last[0] - started, ended - started, output.images[0]


def call_engine(engine: Any, size: int, settings: ImageSettings) -> tuple[float, float, Any]:
    """One image through the engine; return loop seconds, total seconds and the image."""
    from inference.image.types import ImageRequest

    request = ImageRequest(
        prompt=PROMPT,
        width=size,
        height=size,
        steps=settings.steps,
        guidance_scale=settings.guidance_scale,
        seed=SEED,
        preview_every=None,
    )
    started = time.perf_counter()
    result = engine.generate(request)
    ended = time.perf_counter()
    if result.finish_reason != "done" or len(result.images) != 1:
        raise RuntimeError(f"the engine did not finish the image: {result.finish_reason}")
    return result.timings.steps_ms / 1000.0, ended - started, result.images[0]


def run_image(model_dir: Path, settings: ImageSettings = ImageSettings()) -> ImageBenchResult:
    """Measure both paths for every size on the tiny pipeline in ``model_dir``."""
    started = time.perf_counter()
    engine = load_engine(model_dir)
    load_s = time.perf_counter() - started
    pipe = engine._pipes["txt2img"]
    runs = {(p, s): ImageRun(p, s, settings.steps) for s in settings.sizes for p in ("raw", "engine")}
    same: dict[int, bool] = {}
    try:
        for size in settings.sizes:
            _, _, raw_image = call_raw(pipe, size, settings)  # warm-up, and the pixels to compare
            _, _, engine_image = call_engine(engine, size, settings)
            same[size] = raw_image.tobytes() == engine_image.tobytes()
            for repeat in range(settings.repeats):
                order = ("raw", "engine") if repeat % 2 == 0 else ("engine", "raw")
                for path in order:
                    call = call_raw(pipe, size, settings) if path == "raw" else call_engine(engine, size, settings)
                    runs[(path, size)].steps_s.append(call[0])
                    runs[(path, size)].total_s.append(call[1])
    finally:
        engine.close()
    return ImageBenchResult(
        settings=settings,
        load_s=load_s,
        runs=list(runs.values()),
        same_pixels=same,
        seconds=time.perf_counter() - started,
    )
