"""Refine requests, on the request side: check every value, store inputs, queue the job.

Nothing is stored or queued until every value passed its check; each refusal is a translated
:class:`studio.services.StudioError` that says what to change.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import asdict
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from PIL import Image

from accounts.models import User
from catalog.models import ModelEntry
from catalog.selectors import model_default
from exaone_web.jobs.models import Job
from exaone_web.jobs.services import QueueFull, job_cancel, job_submit
from inference.errors import InvalidRequest
from inference.image.types import MAX_PIXELS as MAX_DIFFUSION_PIXELS
from inference.image.types import max_input_pixels
from inference.images_in import MAX_INPUT_BYTES, open_image
from inference.vision.describe import MAX_QUESTIONS
from inference.vision.types import MAX_QUESTION_CHARS

from .. import models as m
from .. import pngmeta, storage
from ..models import StudioImage
from ..printing.errors import PrintError
from ..printing.export import ExportOptions, plan_export
from ..printing.upscale import check_factor
from ..services import StudioError, _number, _seed, _text, _whole, image_model_get
from . import masks

MODES: tuple[str, ...] = ("variation", "inpaint", "outpaint", "upscale")
KIND_REFINE = "studio.refine"
KIND_DESCRIBE = "studio.describe"
KIND_EXPORT = "studio.export"
KINDS = (KIND_REFINE, KIND_DESCRIBE, KIND_EXPORT)
#: How to upscale: the default upscaling model when one is registered, the model, or Lanczos resampling.
UPSCALE_METHODS: tuple[str, ...] = ("auto", "model", "resampler")
MAX_OUTPAINT = 512
#: Largest mask upload (a PNG data URL of a 1536 x 1536 mask is far smaller).
MAX_MASK_BYTES = 8 * 1024 * 1024


def _bad(code: str, message: str) -> StudioError:
    return StudioError(code, message)


# ------------------------------------------------------------------------------------------ images in


def open_upload(data: bytes) -> Image.Image:
    """A user's file as a clean RGB image; not an image, damaged, or a decompression bomb: a clear error."""
    if not data:
        raise _bad("empty", _("The file is empty. Upload a PNG, JPEG or WEBP image."))
    if len(data) > MAX_INPUT_BYTES:
        raise _bad(
            "too_large",
            _("The file is larger than %(mib)d MiB. Upload a smaller PNG, JPEG or WEBP image.")
            % {"mib": MAX_INPUT_BYTES >> 20},
        )
    try:
        return open_image(data)
    except InvalidRequest as exc:
        raise _bad(
            "not_image",
            _(
                "This file could not be used: it is not a PNG, JPEG or WEBP image, it is damaged, or it is too "
                "large to open safely (%(detail)s). Upload another image."
            )
            % {"detail": exc},
        ) from exc


def source_open(image: StudioImage) -> Image.Image:
    """The stored PNG of ``image`` as RGB."""
    with storage.image_open(image.file) as handle, Image.open(handle, formats=["PNG"]) as picture:
        return picture.convert("RGB")


def upload_store(*, user: User, data: bytes) -> StudioImage:
    """Keep an uploaded picture as a gallery image (mode "upload") so refinements can name their source."""
    picture = open_upload(data)
    values = {"brief": "", "prompt": "", "model": "", "seed": 0, "width": picture.width, "height": picture.height}
    name = storage.image_save(owner_id=user.pk, data=pngmeta.png_with_metadata(picture, values))
    return StudioImage.objects.create(owner=user, file=name, seed=0, metadata={**values, "mode": "upload"})


def mask_decode(value: object, *, size: tuple[int, int]) -> Image.Image:
    """A mask sent as a PNG data URL (or base64): same size as the image, and something painted."""
    if not isinstance(value, str) or not value:
        raise _bad("mask_missing", _("Paint the area to change on the image first."))
    raw = value.split(",", 1)[1] if value.startswith("data:") else value
    if len(raw) > MAX_MASK_BYTES * 4 // 3 + 4:
        raise _bad("mask_invalid", _("The mask is too large. Paint it again on the canvas."))
    try:
        mask = open_image(base64.b64decode(raw, validate=True), keep_alpha=True, max_bytes=MAX_MASK_BYTES)
    except (ValueError, InvalidRequest) as exc:
        raise _bad("mask_invalid", _("The mask is not a PNG image. Paint it again on the canvas.")) from exc
    if mask.size != size:
        raise _bad(
            "mask_size",
            _("The mask is %(mw)d x %(mh)d pixels but the image is %(w)d x %(h)d. Reload the page and paint again.")
            % {"mw": mask.width, "mh": mask.height, "w": size[0], "h": size[1]},
        )
    if masks.painted_pixels(mask) == 0:
        raise _bad("mask_empty", _("The mask is empty: paint over the part of the image to change."))
    return mask


# ------------------------------------------------------------------------------------------ refine


def _strength(value: object) -> float:
    strength = _number(value, name=_("Strength"), low=0.0, high=1.0)
    if strength <= 0:
        raise _bad("out_of_range", _("Strength must be above 0 (0 would change nothing) and at most 1."))
    return strength


def _diffusion_size(width: int, height: int) -> tuple[int, int]:
    """Multiples of 8 no larger than the image; refuse what the pipeline cannot take."""
    size = (width - width % 8, height - height % 8)
    if min(size) < m.MIN_SIDE or size[0] * size[1] > MAX_DIFFUSION_PIXELS or max(size) > 2048:
        raise _bad(
            "too_large",
            _(
                "The image is %(w)d x %(h)d pixels; repainting works from %(min)d pixels a side up to 1536 x 1536. "
                "Use a smaller image (or the one before upscaling)."
            )
            % {"w": width, "h": height, "min": m.MIN_SIDE},
        )
    return size


def upscaler_choose(method: object, *, size: tuple[int, int]) -> ModelEntry | None:
    """The upscaling model to use, or None for the Lanczos resampler.

    ``auto`` takes the default registered upscaler when there is one; ``model`` insists on it; ``resampler``
    never uses one. The model's memory grows with its output, so an image over its input limit is refused
    (with the resampler as the way out) rather than silently resampled.
    """
    if method not in UPSCALE_METHODS:
        raise _bad("invalid", _("Choose how to upscale: with the upscaling model or with the Lanczos resampler."))
    if method == "resampler":
        return None
    entry = model_default(kind=ModelEntry.Kind.UPSCALE)
    if entry is None:
        if method == "model":
            raise _bad(
                "no_model",
                _("No upscaling model is set up. Upscale with the Lanczos resampler, or ask an administrator."),
            )
        return None
    limit = max_input_pixels(entry.options)
    if size[0] * size[1] > limit:
        side = math.isqrt(limit)
        raise _bad(
            "too_large",
            _(
                "The image is %(w)d x %(h)d pixels; the upscaling model %(model)s takes up to about %(side)d x "
                "%(side)d. Upscale it with the Lanczos resampler, or use a smaller image."
            )
            % {"w": size[0], "h": size[1], "model": entry.display_name, "side": side},
        )
    return entry


def refine_params(*, user: User, image: StudioImage, data: dict[str, Any]) -> dict[str, Any]:
    """Check a refine request against its source image; return the job's parameters."""
    mode = data.get("mode")
    if mode not in MODES:
        raise _bad("invalid", _("Choose variation, inpaint, outpaint or upscale."))
    width, height = int(image.metadata.get("width") or 0), int(image.metadata.get("height") or 0)
    if not width or not height:
        width, height = source_open(image).size
    params: dict[str, Any] = {"mode": mode, "image": image.pk}
    if mode == "upscale":
        factor = _whole(data.get("factor", 2), name=_("Factor"), low=2, high=4)
        try:
            check_factor(factor, (width, height))
        except PrintError as exc:
            raise _bad("out_of_range", str(exc)) from exc
        upscaler = upscaler_choose(data.get("method", "auto"), size=(width, height))
        return {**params, "factor": factor, "upscaler": upscaler.pk if upscaler else None}
    meta = image.metadata
    prompt = _text(data.get("prompt", meta.get("prompt", "")), name=_("English prompt"), limit=m.MAX_PROMPT_CHARS)
    if not prompt:
        raise _bad("empty", _("Write a prompt that describes the image you want."))
    negative = _text(
        data.get("negative", meta.get("negative", "")), name=_("negative prompt"), limit=m.MAX_PROMPT_CHARS
    )
    model = image_model_get(name=data.get("model") or meta.get("model") or None)
    steps = _whole(data.get("steps", meta.get("steps", 25)), name=_("Steps"), low=m.MIN_STEPS, high=m.MAX_STEPS)
    guidance = _number(
        data.get("guidance", meta.get("guidance", 7.0)), name=_("Guidance"), low=m.MIN_GUIDANCE, high=m.MAX_GUIDANCE
    )
    strength = _strength(data.get("strength", 0.6 if mode == "variation" else 1.0))
    if math.floor(steps * strength) < 1:
        raise _bad(
            "out_of_range",
            _("With %(steps)d steps a strength of %(strength)g runs no step: raise the strength or the steps.")
            % {"steps": steps, "strength": strength},
        )
    params.update(
        prompt=prompt,
        negative=negative,
        model=model.pk,
        steps=steps,
        guidance=guidance,
        strength=strength,
        seed=_seed(data.get("seed")),
        brief=str(meta.get("brief", ""))[: m.MAX_BRIEF_CHARS],
        preset=str(meta.get("preset", "")),
    )
    if mode == "variation":
        params["size"] = _diffusion_size(width, height)
    elif mode == "inpaint":
        params["size"] = _diffusion_size(width, height)
        params["feather"] = _whole(data.get("feather", 8), name=_("Feather"), low=0, high=masks.MAX_FEATHER)
        params["mask_data"] = data.get("mask")
    else:
        side = data.get("side")
        if side not in masks.SIDES:
            raise _bad("invalid", _("Choose the side to extend: left, right, top or bottom."))
        amount = _whole(data.get("amount", 128), name=_("Extension"), low=8, high=MAX_OUTPAINT)
        amount -= amount % 8
        grown = (width + amount, height) if side in ("left", "right") else (width, height + amount)
        params.update(side=side, amount=amount, size=_diffusion_size(*grown))
        if grown != params["size"]:
            raise _bad(
                "invalid", _("Outpainting needs an image whose sides are multiples of 8. Make a variation first.")
            )
    return params


@transaction.atomic
def refine_submit(*, user: User, image: StudioImage, data: dict[str, Any]) -> Job:
    params = refine_params(user=user, image=image, data=data)
    mask_data = params.pop("mask_data", None)
    if params["mode"] == "inpaint":
        mask = mask_decode(mask_data, size=source_open(image).size)
        buffer = io.BytesIO()
        masks.binary(mask).save(buffer, "PNG")
        params["mask"] = storage.image_save(owner_id=user.pk, data=buffer.getvalue())
    try:
        job = job_submit(kind=KIND_REFINE, owner=user, params=params)
    except QueueFull as exc:
        if "mask" in params:
            storage.image_delete(params["mask"])
        raise _bad("busy", exc.message) from exc
    return job


# ------------------------------------------------------------------------------------------ describe


def describe_submit(*, user: User, image: StudioImage, data: dict[str, Any]) -> Job:
    language = data.get("language", "en")
    if language not in ("en", "ko"):
        raise _bad("invalid", _("Choose English or Korean for the description."))
    questions = data.get("questions", [])
    if isinstance(questions, str):
        questions = [questions]
    if not isinstance(questions, list) or not all(isinstance(q, str) for q in questions):
        raise _bad("invalid", _("Questions must be a list of text."))
    questions = [q.strip() for q in questions if q.strip()]
    if len(questions) > MAX_QUESTIONS:
        raise _bad("too_many", _("Ask at most %(n)d questions at a time.") % {"n": MAX_QUESTIONS})
    for question in questions:
        if len(question) > MAX_QUESTION_CHARS:
            raise _bad(
                "too_long",
                _("A question has %(count)d characters; the limit is %(limit)d. Shorten it.")
                % {"count": len(question), "limit": MAX_QUESTION_CHARS},
            )
    caption = bool(data.get("caption", True))
    if not caption and not questions:
        raise _bad("empty", _("Write a question about the image."))
    model = model_default(kind=ModelEntry.Kind.VISION)
    if model is None:
        raise _bad("no_model", _("No image-to-text model is set up. Ask an administrator to register one."))
    params = {"image": image.pk, "language": language, "questions": questions, "caption": caption, "model": model.pk}
    try:
        return job_submit(kind=KIND_DESCRIBE, owner=user, params=params)
    except QueueFull as exc:
        raise _bad("busy", exc.message) from exc


# ------------------------------------------------------------------------------------------ export


def _mm(data: dict[str, Any], name: str, default: float) -> float:
    value = data.get(name, default)
    if value in (None, ""):
        return default
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise _bad("invalid", _("Sizes are numbers of millimetres, for example 148."))
    return number


def export_options(data: dict[str, Any]) -> ExportOptions:
    """The export form as checked options; an impossible size or carton is a translated error."""
    dpi = data.get("dpi", 300)
    options = ExportOptions(
        shape=str(data.get("shape", "sheet")),  # type: ignore[arg-type]
        width_mm=_mm(data, "width_mm", 148.0),
        height_mm=_mm(data, "height_mm", 210.0),
        length_mm=_mm(data, "length_mm", 0.0),
        depth_mm=_mm(data, "depth_mm", 0.0),
        corner_radius_mm=_mm(data, "corner_radius_mm", 0.0),
        bleed_mm=_mm(data, "bleed_mm", 3.0),
        dpi=int(dpi) if isinstance(dpi, int | str) and str(dpi).isdigit() else -1,
        intent=str(data.get("intent", "relative")),
        crop_marks=bool(data.get("crop_marks", True)),
        placement=str(data.get("placement", "front")),  # type: ignore[arg-type]
    )
    try:
        plan_export(options)
    except PrintError as exc:
        raise _bad("invalid", str(exc)) from exc
    return options


def export_submit(*, user: User, image: StudioImage, data: dict[str, Any]) -> Job:
    options = export_options(data)
    try:
        return job_submit(kind=KIND_EXPORT, owner=user, params={"image": image.pk, "options": asdict(options)})
    except QueueFull as exc:
        raise _bad("busy", exc.message) from exc


# ------------------------------------------------------------------------------------------ jobs


def job_cancel_refine(*, job: Job) -> Job:
    job_cancel(job=job)
    job.refresh_from_db()
    return job
