"""Stable Diffusion text-to-image, image-to-image and inpainting through diffusers.

The model is loaded once; the image-to-image and inpainting pipelines are made from the text-to-image one
with ``from_pipe``, which hands them the same UNet, VAE and text encoder objects (no second copy in memory).
Calls are serialised per engine: a pipeline holds per-call state (scheduler timesteps, guidance flags).

Options read from ``spec.options``:

* ``config`` - for a single ``.safetensors`` file: a local diffusers folder with the model's configs.
* ``pipeline`` - for a single file: ``sd`` (default) or ``sdxl``.
* ``device`` / ``dtype`` - override the choice of CUDA with bf16 (fp16 where bf16 is missing) or CPU fp32.
* ``attention_slicing``, ``vae_tiling``, ``cpu_offload`` - trade speed for memory (booleans).
* ``nsfw_check`` - run the model's own safety checker when the folder ships one.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ..devices import pick_device
from ..errors import EngineUnavailable, InvalidRequest, ModelLoadError
from ..safety import check_revision, check_weights
from ..types import ModelSpec
from .types import MAX_SEED, ImageRequest, ImageResult, ImageTimings, ProgressEvent

logger = logging.getLogger(__name__)

#: Scheduler names users pick -> diffusers class names. Each is built from the model's own scheduler config,
#: so the noise schedule (betas, prediction type) stays the model's.
SCHEDULER_CLASSES: dict[str, str] = {
    "euler": "EulerDiscreteScheduler",
    "euler_a": "EulerAncestralDiscreteScheduler",
    "ddim": "DDIMScheduler",
    "dpm++": "DPMSolverMultistepScheduler",
    "pndm": "PNDMScheduler",
    "lms": "LMSDiscreteScheduler",
    "unipc": "UniPCMultistepScheduler",
}

#: Rough map from Stable Diffusion's 4 latent channels to RGB (rows: channels; columns: R, G, B). A VAE
#: decode per preview would cost as much as several steps; this linear guess costs microseconds and shows
#: composition and colours well enough to decide whether to cancel.
LATENT_RGB = (
    (0.30, 0.19, 0.21),
    (0.19, 0.29, 0.17),
    (-0.16, 0.19, 0.26),
    (-0.18, -0.27, -0.47),
)
PREVIEW_MAX_SIDE = 128


@dataclass
class _Steps:
    """Where a run is: steps done of total, and when the last step and preview happened."""

    done: int = 0
    total: int = 0
    last_step_at: float = 0.0
    last_preview_at: float | None = None


class _Stop(Exception):
    """Raised from the step callback to leave the denoising loop at once (skipping the VAE decode)."""


def _dtype_kwargs(dtype: torch.dtype) -> dict[str, torch.dtype]:
    """diffusers renamed ``torch_dtype`` to ``dtype``; use the name the installed version wants."""
    import diffusers
    from packaging.version import Version

    key = "dtype" if Version(diffusers.__version__).release >= (0, 42) else "torch_dtype"
    return {key: dtype}


def latents_preview(latents: torch.Tensor, max_side: int = PREVIEW_MAX_SIDE) -> Image.Image | None:
    """A small RGB picture of the first latent in the batch, or None if it is not a 4-channel latent."""
    if latents.ndim != 4 or latents.shape[1] != len(LATENT_RGB):
        return None
    matrix = torch.tensor(LATENT_RGB, dtype=torch.float32)
    rgb = torch.einsum("chw,cr->hwr", latents[0].detach().float().cpu(), matrix)
    pixels = ((rgb.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    picture = Image.fromarray(pixels, mode="RGB")
    scale = max_side / max(picture.size)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    return picture.resize(size, Image.Resampling.BILINEAR)


class DiffusersEngine:
    """A loaded Stable Diffusion model; :meth:`generate` runs one request."""

    def __init__(self, name: str, pipe: Any, *, device: str, dtype: torch.dtype, warnings: list[str]) -> None:
        """Wrap a loaded text-to-image ``pipe``; make the other pipelines from it, sharing its modules."""
        from diffusers import AutoPipelineForImage2Image, AutoPipelineForInpainting

        self.name = name
        self.device = device
        self.dtype = dtype
        self.load_warnings = list(warnings)
        self._lock = threading.Lock()
        self._scheduler_config = dict(pipe.scheduler.config)
        self._scheduler_class = type(pipe.scheduler)
        # DiffusionPipeline.from_pipe casts the shared modules to its dtype argument (float32 when none is
        # given); the Auto classes keep them as they are. Pass ours so neither can undo half precision.
        same_dtype = _dtype_kwargs(dtype)
        self._pipes: dict[str, Any] = {}
        if pipe.unet.config.in_channels == pipe.vae.config.latent_channels:
            self._pipes["txt2img"] = pipe
            self._pipes["img2img"] = AutoPipelineForImage2Image.from_pipe(pipe, **same_dtype)
            self._pipes["inpaint"] = AutoPipelineForInpainting.from_pipe(pipe, **same_dtype)
        else:
            # An inpainting checkpoint (9 input channels: latents, mask, masked image) can only inpaint.
            self._pipes["inpaint"] = AutoPipelineForInpainting.from_pipe(pipe, **same_dtype)
        for each in self._pipes.values():
            each.set_progress_bar_config(disable=True)
        self.vae_scale_factor = 2 ** (len(pipe.vae.config.block_out_channels) - 1)
        self.default_size = int(pipe.unet.config.sample_size) * self.vae_scale_factor
        self._tokenizers = [t for t in (getattr(pipe, "tokenizer", None), getattr(pipe, "tokenizer_2", None)) if t]
        self._base = pipe
        #: Set when the model's sub-models live on the CPU and visit the GPU only while they run.
        self.cpu_offload = False

    # Loading -------------------------------------------------------------------------------------------

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> DiffusersEngine:
        """Load the model ``spec`` points at; raise :class:`ModelLoadError` with a fix when it cannot."""
        if not spec.path:
            raise ModelLoadError(f"Image model {spec.name!r} has no path: set it to a diffusers folder or file.")
        path = Path(spec.path).expanduser()
        if not path.exists():
            raise ModelLoadError(
                f"Image model {spec.name!r}: {path} does not exist. Put a diffusers folder (with "
                "model_index.json) or a .safetensors checkpoint there, or fix the path in the admin."
            )
        check_weights(path, allow_pickle=spec.allow_pickle)
        check_revision(path, spec.revision, hub_id=spec.hub_id)
        options = dict(spec.options)
        device, dtype = pick_device(options)
        pipe = cls._load_folder(spec, path, dtype) if path.is_dir() else cls._load_file(spec, path, dtype)
        engine = cls(spec.name, pipe, device=device, dtype=dtype, warnings=[])
        # Placement and offload hooks come last: the derived pipelines share these modules, so they apply
        # to all three pipelines.
        engine.cpu_offload = cls._apply_memory_options(pipe, options, device, engine.load_warnings)
        return engine

    @staticmethod
    def _load_folder(spec: ModelSpec, path: Path, dtype: torch.dtype) -> Any:
        from diffusers import AutoPipelineForText2Image

        index_file = path / "model_index.json"
        if not index_file.is_file():
            raise ModelLoadError(
                f"{path} is not a diffusers model folder (no model_index.json). Download the full diffusers "
                "layout, or point the path at a single .safetensors file and set options.config."
            )
        try:
            index = json.loads(index_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{index_file} is not valid JSON ({exc}); download the model again.") from exc
        kwargs: dict[str, Any] = {
            "local_files_only": True,
            **_dtype_kwargs(dtype),
            # None lets diffusers fall back to pickle files, which is only reached when an admin allowed it.
            "use_safetensors": None if spec.allow_pickle else True,
        }
        if spec.revision:
            kwargs["revision"] = spec.revision
        if "safety_checker" in index:
            has_checker = (path / "safety_checker").is_dir() and (path / "feature_extractor").is_dir()
            if not (spec.options.get("nsfw_check") and has_checker):
                kwargs.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
        try:
            return AutoPipelineForText2Image.from_pretrained(str(path), **kwargs)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"Could not load the diffusers folder {path}: {exc}") from exc

    @staticmethod
    def _load_file(spec: ModelSpec, path: Path, dtype: torch.dtype) -> Any:
        from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

        classes = {"sd": StableDiffusionPipeline, "sdxl": StableDiffusionXLPipeline}
        kind = spec.options.get("pipeline", "sd")
        if kind not in classes:
            raise ModelLoadError(f"Unknown options.pipeline {kind!r} for a single file: use sd or sdxl.")
        config = spec.options.get("config")
        if not config or not Path(config).expanduser().is_dir():
            raise ModelLoadError(
                f"Image model {spec.name!r} is a single file, so it needs options.config: a local folder with "
                "the base model's diffusers configs (model_index.json, scheduler, tokenizer...). Nothing is "
                "downloaded at run time."
            )
        kwargs: dict[str, Any] = {
            "config": str(Path(config).expanduser()),
            "local_files_only": True,
            **_dtype_kwargs(dtype),
        }
        if kind == "sd":
            kwargs.update(safety_checker=None, requires_safety_checker=False)
        try:
            return classes[kind].from_single_file(str(path), **kwargs)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"Could not load the checkpoint {path}: {exc}") from exc

    @staticmethod
    def _apply_memory_options(pipe: Any, options: dict[str, Any], device: str, warnings: list[str]) -> bool:
        """Apply the memory options; return True if CPU offload hooks were installed."""
        if options.get("attention_slicing"):
            pipe.enable_attention_slicing()
        if options.get("vae_tiling"):
            # Tiling bounds VAE memory for large images; slicing decodes a batch one image at a time.
            pipe.vae.enable_tiling()
            pipe.vae.enable_slicing()
        if options.get("cpu_offload"):
            if device.startswith("cuda"):
                # Each sub-model moves to the GPU only while it runs.
                pipe.enable_model_cpu_offload(device=device)
                return True
            warnings.append("cpu_offload was ignored: it only helps when the model runs on a GPU.")
        pipe.to(device)
        return False

    # Generation ----------------------------------------------------------------------------------------

    @property
    def modes(self) -> tuple[str, ...]:
        return tuple(self._pipes)

    def _scheduler(self, name: str) -> Any:
        import diffusers

        if name == "default":
            return self._scheduler_class.from_config(self._scheduler_config)
        if name == "pndm":
            # Stable Diffusion runs PNDM without its Runge-Kutta warm-up (which also breaks below 4 steps).
            return diffusers.PNDMScheduler.from_config(self._scheduler_config, skip_prk_steps=True)
        if name == "lms" and importlib.util.find_spec("scipy") is None:
            raise EngineUnavailable("The lms scheduler needs scipy (pip install scipy); pick another scheduler.")
        return getattr(diffusers, SCHEDULER_CLASSES[name]).from_config(self._scheduler_config)

    def _prompt_truncated(self, *texts: str) -> bool:
        for tokenizer in self._tokenizers:
            limit = int(getattr(tokenizer, "model_max_length", 77) or 77)
            for text in texts:
                if text and len(tokenizer(text, truncation=False, verbose=False).input_ids) > limit:
                    return True
        return False

    def generate(self, request: ImageRequest) -> ImageResult:
        """Run ``request``; block until the images are ready or it is cancelled."""
        if not self._pipes:
            raise EngineUnavailable(f"Image model {self.name!r} was unloaded; load it again to use it.")
        if request.mode not in self._pipes:
            raise InvalidRequest(f"Model {self.name!r} cannot do {request.mode}; it supports {', '.join(self._pipes)}.")
        with self._lock:
            return self._generate(request)

    def _generate(self, request: ImageRequest) -> ImageResult:
        started = time.perf_counter()
        seed = request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1)
        seeds = [(seed + index) % (MAX_SEED + 1) for index in range(request.num_images)]
        truncated = self._prompt_truncated(request.prompt, request.negative_prompt)
        warnings = list(self.load_warnings)
        if truncated:
            warnings.append("The prompt is longer than the text encoder reads (77 tokens); the end was ignored.")

        def result(images: list[Image.Image], reason: str, done: int, total: int, **extra: Any) -> ImageResult:
            return ImageResult(
                images=images,
                seed=seed,
                seeds=seeds,
                finish_reason=reason,  # type: ignore[arg-type]
                steps_done=done,
                steps_total=total,
                prompt_truncated=truncated,
                warnings=warnings,
                width=request.width,
                height=request.height,
                **extra,
            )

        if request.cancel():
            return result([], "cancelled", 0, 0, timings=ImageTimings(total_ms=_ms(started)))

        pipe = self._pipes[request.mode]
        pipe.scheduler = self._scheduler(request.scheduler)
        state = _Steps(last_step_at=started)

        def on_step(pipeline: Any, index: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            now = time.perf_counter()
            state.done = index + 1
            state.total = int(getattr(pipeline, "_num_timesteps", 0) or request.steps)
            state.last_step_at = now
            if request.on_progress is not None:
                preview = None
                last = state.last_preview_at
                if request.preview_every is not None and (last is None or now - last >= request.preview_every):
                    preview = latents_preview(tensors["latents"])
                    state.last_preview_at = now
                request.on_progress(ProgressEvent(state.done, state.total, now - started, preview))
            if request.cancel() and state.done < state.total:
                raise _Stop
            return {}

        # One CPU generator per image: image i depends only on seeds[i], on any device.
        generators = [torch.Generator(device="cpu").manual_seed(each) for each in seeds]
        kwargs: dict[str, Any] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt or None,
            "num_inference_steps": request.steps,
            "guidance_scale": request.guidance_scale,
            "num_images_per_prompt": request.num_images,
            "generator": generators,
            "output_type": "pil",
            "callback_on_step_end": on_step,
            "callback_on_step_end_tensor_inputs": ["latents"],
        }
        size = (request.width, request.height)
        if request.mode == "txt2img":
            kwargs.update(width=request.width, height=request.height)
        else:
            # Resize the inputs to the requested size so width/height always decide the output size.
            assert request.init_image is not None  # the request validated it for this mode
            kwargs["image"] = request.init_image.convert("RGB").resize(size, Image.Resampling.LANCZOS)
            kwargs["strength"] = request.strength
            if request.mode == "inpaint":
                assert request.mask_image is not None
                kwargs["mask_image"] = request.mask_image.convert("L").resize(size, Image.Resampling.NEAREST)
                kwargs.update(width=request.width, height=request.height)

        finished = False
        try:
            with torch.inference_mode():
                output = pipe(**kwargs)
            finished = True
        except _Stop:
            timings = ImageTimings(total_ms=_ms(started), steps_ms=_ms(started))
            return result([], "cancelled", state.done, state.total, timings=timings)
        finally:
            # The offload hooks belong to the text-to-image pipeline, which the others share their models with: a
            # run of another pipeline, a cancel or an error leaves the last model on the GPU until these hooks
            # send it back (a finished text-to-image run has already done so itself).
            if self.cpu_offload and not (finished and pipe is self._base):
                self._base.maybe_free_model_hooks()

        steps_ms = (state.last_step_at - started) * 1000
        total_ms = _ms(started)
        nsfw = output.nsfw_content_detected
        return result(
            list(output.images),
            "done",
            state.done,
            state.total,
            nsfw=[bool(flag) for flag in nsfw] if nsfw is not None else None,
            timings=ImageTimings(total_ms=total_ms, steps_ms=steps_ms, decode_ms=total_ms - steps_ms),
        )

    def close(self) -> None:
        """Drop the pipelines and give their memory back."""
        with self._lock:
            self._pipes.clear()
            self._tokenizers = []
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000
