"""Typed requests and results for image generation.

An :class:`ImageRequest` is checked when it is built, so an engine only ever sees values it can run; every
refusal is an :class:`~inference.errors.InvalidRequest` whose message says which value to change.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from PIL import Image

from ..errors import InvalidRequest
from ..types import never_cancelled

Mode = Literal["txt2img", "img2img", "inpaint"]
ImageFinishReason = Literal["done", "cancelled"]
UpscaleFinishReason = Literal["done", "cancelled"]

MODES: tuple[str, ...] = ("txt2img", "img2img", "inpaint")
#: Scheduler names users may pick; "default" keeps the one the model ships with.
SCHEDULERS: tuple[str, ...] = ("default", "euler", "euler_a", "ddim", "dpm++", "pndm", "lms", "unipc")

MIN_SIDE = 64
MAX_SIDE = 2048
#: Largest output, in pixels (1536 x 1536); bounds memory whatever the aspect ratio.
MAX_PIXELS = 1536 * 1536
MAX_STEPS = 150
MAX_GUIDANCE = 30.0
MAX_IMAGES = 4
MAX_PROMPT_CHARS = 2000
MAX_SEED = 2**32 - 1
MAX_PREVIEW_EVERY_S = 60.0


@dataclass(frozen=True)
class ProgressEvent:
    """One denoising step has finished.

    ``preview`` is a small (at most about 128 px) rough picture of the first image, present only when the
    request's preview throttle allows one at this step.
    """

    step: int
    total: int
    elapsed_s: float
    preview: Image.Image | None = None


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    mode: Mode = "txt2img"
    negative_prompt: str = ""
    width: int = 512
    height: int = 512
    steps: int = 25
    guidance_scale: float = 7.0
    #: None picks a random seed; the seed used is in the result, so a good image can be made again.
    seed: int | None = None
    #: How much of ``init_image`` is repainted (img2img and inpaint only); 1.0 ignores it almost fully.
    strength: float = 0.75
    init_image: Image.Image | None = None
    #: White where the image is repainted, black where it is kept (inpaint only).
    mask_image: Image.Image | None = None
    scheduler: str = "default"
    num_images: int = 1
    #: Polled once per step; return True to stop.
    cancel: Callable[[], bool] = never_cancelled
    on_progress: Callable[[ProgressEvent], None] | None = None
    #: Least seconds between two previews; 0 gives one every step, None gives none.
    preview_every: float | None = 1.0

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidRequest(f"Unknown mode {self.mode!r}: use {', '.join(MODES)}.")
        for name, value in (("prompt", self.prompt), ("negative_prompt", self.negative_prompt)):
            if not isinstance(value, str):
                raise InvalidRequest(f"{name} must be text.")
            if len(value) > MAX_PROMPT_CHARS:
                raise InvalidRequest(f"{name} is {len(value)} characters long; the limit is {MAX_PROMPT_CHARS}.")
        if not self.prompt.strip():
            raise InvalidRequest("Write a prompt that describes the image.")
        self._check_size()
        _check_int("steps", self.steps, 1, MAX_STEPS)
        _check_float("guidance_scale", self.guidance_scale, 0.0, MAX_GUIDANCE)
        _check_int("num_images", self.num_images, 1, MAX_IMAGES)
        if self.seed is not None:
            _check_int("seed", self.seed, 0, MAX_SEED)
        if self.scheduler not in SCHEDULERS:
            raise InvalidRequest(f"Unknown scheduler {self.scheduler!r}: use one of {', '.join(SCHEDULERS)}.")
        if self.preview_every is not None:
            _check_float("preview_every", self.preview_every, 0.0, MAX_PREVIEW_EVERY_S)
        if not callable(self.cancel):
            raise InvalidRequest("cancel must be a function that returns True to stop.")
        if self.on_progress is not None and not callable(self.on_progress):
            raise InvalidRequest("on_progress must be a function or None.")
        self._check_images()

    def _check_size(self) -> None:
        for name in ("width", "height"):
            value = getattr(self, name)
            _check_int(name, value, MIN_SIDE, MAX_SIDE)
            if value % 8:
                lower = max(MIN_SIDE, value - value % 8)
                raise InvalidRequest(f"{name} must be a multiple of 8 (for example {lower}); got {value}.")
        if self.width * self.height > MAX_PIXELS:
            raise InvalidRequest(
                f"{self.width}x{self.height} is {self.width * self.height} pixels; the limit is {MAX_PIXELS} "
                f"(for example 1536x1536 or 2048x1152). Make the image smaller."
            )

    def _check_images(self) -> None:
        for name in ("init_image", "mask_image"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Image.Image):
                raise InvalidRequest(f"{name} must be a PIL image; open uploads with inference.images_in.")
        if self.mode == "txt2img":
            if self.init_image is not None or self.mask_image is not None:
                raise InvalidRequest("txt2img takes no init or mask image: use img2img or inpaint for those.")
            return
        if self.init_image is None:
            raise InvalidRequest(f"{self.mode} needs an init image to start from.")
        if self.mode == "inpaint" and self.mask_image is None:
            raise InvalidRequest("inpaint needs a mask image: white where to repaint, black where to keep.")
        if self.mode == "img2img" and self.mask_image is not None:
            raise InvalidRequest("img2img takes no mask: use inpaint to repaint part of an image.")
        _check_float("strength", self.strength, 0.0, 1.0)
        if int(self.steps * self.strength) < 1:
            raise InvalidRequest(
                f"strength {self.strength} with {self.steps} steps runs no step at all: raise strength or steps "
                "so that strength x steps is at least 1."
            )


@dataclass(frozen=True)
class ImageTimings:
    total_ms: float = 0.0
    #: Time in the denoising loop (text encoding included).
    steps_ms: float = 0.0
    #: Time after the last step: VAE decode and the optional NSFW check.
    decode_ms: float = 0.0


@dataclass(frozen=True)
class ImageResult:
    #: Empty when cancelled.
    images: list[Image.Image]
    #: The seed of the first image; image ``i`` used ``seeds[i]`` (``seed + i``).
    seed: int
    seeds: list[int]
    finish_reason: ImageFinishReason
    steps_done: int
    steps_total: int
    timings: ImageTimings = field(default_factory=ImageTimings)
    #: One flag per image when the model's NSFW checker ran, else None. Flagged images come back black.
    nsfw: list[bool] | None = None
    #: True when the prompt or negative prompt was longer than the text encoder reads (77 CLIP tokens).
    prompt_truncated: bool = False
    warnings: list[str] = field(default_factory=list)
    width: int = 0
    height: int = 0


# ------------------------------------------------------------------------------------------ upscaling

UPSCALE_FACTORS: tuple[int, ...] = (2, 4)
#: Largest input by default: 512 x 512 becomes 2048 x 2048, about what a 24 GB GPU decodes without tiling.
UPSCALE_MAX_INPUT_PIXELS = 512 * 512
UPSCALE_MIN_SIDE = 16
UPSCALE_MAX_STEPS = 100


def max_input_pixels(options: dict[str, Any]) -> int:
    """The input limit an upscaler's options set (``max_input_pixels``), or the default."""
    try:
        value = int(options.get("max_input_pixels", UPSCALE_MAX_INPUT_PIXELS))
    except (TypeError, ValueError):
        return UPSCALE_MAX_INPUT_PIXELS
    return max(UPSCALE_MIN_SIDE * UPSCALE_MIN_SIDE, value)


@dataclass(frozen=True)
class UpscaleRequest:
    image: Image.Image
    factor: int = 4
    #: What the picture shows; the upscaler is text-conditioned, an empty prompt works.
    prompt: str = ""
    negative_prompt: str = ""
    steps: int = 20
    guidance_scale: float = 7.0
    #: Noise added to the input before denoising: more lets the model change more (0 to the model's maximum).
    noise_level: int = 20
    seed: int | None = None
    cancel: Callable[[], bool] = never_cancelled
    on_progress: Callable[[ProgressEvent], None] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.image, Image.Image):
            raise InvalidRequest("image must be a PIL image; open uploads with inference.images_in.")
        if isinstance(self.factor, bool) or self.factor not in UPSCALE_FACTORS:
            raise InvalidRequest(f"factor must be 2 or 4; got {self.factor!r}.")
        if min(self.image.size) < UPSCALE_MIN_SIDE:
            raise InvalidRequest(f"The image must be at least {UPSCALE_MIN_SIDE} pixels a side to upscale.")
        for name, value in (("prompt", self.prompt), ("negative_prompt", self.negative_prompt)):
            if not isinstance(value, str) or len(value) > MAX_PROMPT_CHARS:
                raise InvalidRequest(f"{name} must be text of at most {MAX_PROMPT_CHARS} characters.")
        _check_int("steps", self.steps, 1, UPSCALE_MAX_STEPS)
        _check_int("noise_level", self.noise_level, 0, 350)
        if self.seed is not None:
            _check_int("seed", self.seed, 0, MAX_SEED)
        _check_float("guidance_scale", self.guidance_scale, 0.0, MAX_GUIDANCE)
        if not callable(self.cancel):
            raise InvalidRequest("cancel must be a function that returns True to stop.")


@dataclass(frozen=True)
class UpscaleResult:
    #: None when cancelled.
    image: Image.Image | None
    finish_reason: UpscaleFinishReason
    seed: int
    factor: int
    steps_done: int
    steps_total: int
    #: The model that did it, for the record.
    model: str
    timings: ImageTimings = field(default_factory=ImageTimings)
    warnings: list[str] = field(default_factory=list)


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"{name} must be a whole number between {low} and {high}.")
    if not low <= value <= high:
        raise InvalidRequest(f"{name} must be between {low} and {high}; got {value}.")


def _check_float(name: str, value: object, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidRequest(f"{name} must be a number between {low} and {high}.")
    if not low <= value <= high:
        raise InvalidRequest(f"{name} must be between {low} and {high}; got {value}.")
