"""The refine job kinds, run by workers: repaint/extend/vary/upscale, describe, and print export.

Each run reads its inputs from the job's parameters, writes its results as StudioImage rows or stored files,
and leaves the outcome in the job's progress (``context.report``), which the page polls. Inputs are checked
on the request side (:mod:`studio.refine.services`); what can still fail here (a deleted source image, a
model that cannot inpaint) raises JobFailed with a translated message.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from django.core.files.base import ContentFile
from django.utils.translation import gettext as _
from PIL import Image

from catalog.models import ModelEntry
from exaone_web.jobs import kinds
from exaone_web.jobs.models import Job
from exaone_web.jobs.runner import JobContext, JobFailed
from inference.errors import InvalidRequest
from inference.image.types import ImageRequest, ProgressEvent, UpscaleRequest
from inference.registry import get_engine
from inference.types import ModelSpec
from inference.vision.describe import describe

from .. import pngmeta, storage
from ..models import StudioImage
from ..printing.export import ExportOptions, export_print
from ..printing.upscale import upscale
from . import masks
from .services import KIND_DESCRIBE, KIND_EXPORT, KIND_REFINE, source_open

EXPORT_FOLDER = "exports"
#: Export files kept per user: older exports' files are deleted when a new one is written (bounded storage).
KEEP_EXPORTS = 5


def _source(job: Job) -> StudioImage:
    image = StudioImage.objects.filter(pk=job.params.get("image"), owner_id=job.owner_id).first()
    if image is None:
        raise JobFailed(_("The source image was deleted. Pick another image."))
    return image


def _engine(model_id: int, kind: str) -> Any:
    entry = ModelEntry.objects.filter(pk=model_id, kind=kind).first()
    if entry is None:
        raise JobFailed(_("The model was removed. Pick another one and try again."))
    return entry, get_engine(ModelSpec.from_dict(entry.to_spec()))


def store_result(job: Job, source: StudioImage, picture: Image.Image, values: dict[str, Any]) -> StudioImage:
    """A refined picture as a gallery image: its settings in the PNG and the row, its source recorded."""
    metadata = {**values, "source": source.pk, "width": picture.width, "height": picture.height}
    name = storage.image_save(owner_id=job.owner_id, data=pngmeta.png_with_metadata(picture, metadata))
    return StudioImage.objects.create(
        owner_id=job.owner_id,
        generation=None,
        file=name,
        seed=int(metadata.get("seed") or 0),
        metadata=metadata,
    )


def diffusion_request(job: Job, source: Image.Image, context: JobContext) -> tuple[ImageRequest, Image.Image | None]:
    """The pipeline request for a variation, inpaint or outpaint, and the compositing mask (None: keep all)."""
    params = job.params
    mode = params["mode"]
    width, height = params["size"]

    def on_progress(event: ProgressEvent) -> None:
        context.report(state="running", step=event.step, total=event.total, elapsed_s=round(event.elapsed_s, 2))

    common: dict[str, Any] = {
        "prompt": params["prompt"],
        "negative_prompt": params["negative"],
        "width": width,
        "height": height,
        "steps": params["steps"],
        "guidance_scale": params["guidance"],
        "seed": params["seed"],
        "strength": params["strength"],
        "cancel": context.cancelled,
        "on_progress": on_progress,
        "preview_every": None,
    }
    if mode == "variation":
        return ImageRequest(mode="img2img", init_image=source, **common), None
    if mode == "inpaint":
        with storage.image_open(params["mask"]) as handle, Image.open(handle, formats=["PNG"]) as mask:
            painted = masks.binary(mask)
        request = ImageRequest(mode="inpaint", init_image=source, mask_image=painted, **common)
        return request, masks.feathered(painted, params["feather"])
    canvas = masks.extend(source, params["side"], params["amount"])
    request = ImageRequest(mode="inpaint", init_image=canvas.image, mask_image=canvas.mask, **common)
    return request, canvas.blend


def refine_run(job: Job, context: JobContext) -> None:
    params = job.params
    source_row = _source(job)
    source = source_open(source_row)
    started = time.perf_counter()
    if params["mode"] == "upscale":
        upscale_run(job, source_row, source, context)
        return
    entry, engine = _engine(params["model"], ModelEntry.Kind.IMAGE)
    request, blend = diffusion_request(job, source, context)
    if request.mode not in engine.modes:
        raise JobFailed(_("The model %(model)s cannot do this; pick another image model.") % {"model": entry.name})
    output = engine.generate(request)
    if output.finish_reason == "cancelled" or context.cancelled():
        context.report(state="cancelled")
        return
    (picture,) = output.images
    if blend is not None:
        picture = masks.composite(request.init_image, picture, blend)  # type: ignore[arg-type]
    values = {
        "brief": params.get("brief", ""),
        "prompt": params["prompt"],
        "negative": params["negative"],
        "model": entry.name,
        "seed": output.seed,
        "steps": params["steps"],
        "guidance": params["guidance"],
        "preset": params.get("preset", ""),
        "mode": params["mode"],
        "strength": params["strength"],
    }
    if params["mode"] == "outpaint":
        values.update(side=params["side"], amount=params["amount"])
    row = store_result(job, source_row, picture, values)
    context.report(state="done", images=[row.pk], ms=_ms(started), pipeline_ms=output.timings.total_ms)


class _Cancelled(Exception):
    """The upscaling model stopped at the user's cancel; nothing is stored."""


class ModelUpscaler:
    """A registered upscaling model as :class:`studio.printing.upscale.Upscaler`, with the job's cancel and
    progress wired in; ``seed`` is the one the last run used."""

    def __init__(self, entry: ModelEntry, engine: Any, context: JobContext) -> None:
        self.name = entry.display_name
        self.entry = entry
        self.engine = engine
        self.context = context
        self.seed = 0

    def upscale(self, image: Image.Image, factor: int) -> Image.Image:
        sampling = self.entry.default_sampling or {}

        def on_progress(event: ProgressEvent) -> None:
            self.context.report(state="running", step=event.step, total=event.total)

        try:
            request = UpscaleRequest(
                image=image,
                factor=factor,
                steps=int(sampling.get("steps", 20)),
                guidance_scale=float(sampling.get("guidance_scale", 7.0)),
                noise_level=int(sampling.get("noise_level", 20)),
                cancel=self.context.cancelled,
                on_progress=on_progress,
            )
        except (InvalidRequest, TypeError, ValueError) as exc:
            raise JobFailed(
                _("The upscaling model %(model)s has invalid default sampling (%(detail)s). Ask an administrator.")
                % {"model": self.name, "detail": exc}
            ) from exc
        try:
            result = self.engine.upscale(request)
        except InvalidRequest as exc:
            raise JobFailed(
                _("The upscaling model %(model)s could not take this image (%(detail)s). Use the Lanczos resampler.")
                % {"model": self.name, "detail": exc}
            ) from exc
        if result.finish_reason == "cancelled" or result.image is None:
            raise _Cancelled
        self.seed = result.seed
        return result.image


def upscale_run(job: Job, source_row: StudioImage, source: Image.Image, context: JobContext) -> None:
    """Enlarge with the chosen upscaling model, or with Lanczos when none was chosen; record which."""
    params = job.params
    started = time.perf_counter()
    model: ModelUpscaler | None = None
    if params.get("upscaler"):
        entry, engine = _engine(params["upscaler"], ModelEntry.Kind.UPSCALE)
        model = ModelUpscaler(entry, engine, context)
    context.report(state="running")
    try:
        result = upscale(source, params["factor"], model=model)
    except _Cancelled:
        context.report(state="cancelled")
        return
    if context.cancelled():
        context.report(state="cancelled")
        return
    values = {**source_row.metadata, "mode": "upscale", "factor": result.factor, "method": result.method}
    values["upscaler"] = result.model
    if model is not None:
        values["upscale_seed"] = model.seed
    row = store_result(job, source_row, result.image, values)
    context.report(state="done", images=[row.pk], method=result.method, upscaler=result.model, ms=_ms(started))


def refine_done(job: Job) -> None:
    """Delete the stored mask: it was only the job's input."""
    name = job.params.get("mask")
    if name:
        storage.image_delete(name)


def _refine(job: Job, context: JobContext) -> None:
    try:
        refine_run(job, context)
    finally:
        refine_done(job)


def refine_failed(job: Job, error: str) -> None:
    refine_done(job)


# ------------------------------------------------------------------------------------------ describe


def describe_run(job: Job, context: JobContext) -> None:
    params = job.params
    source = source_open(_source(job))
    _entry, engine = _engine(params["model"], ModelEntry.Kind.VISION)

    def progress(task: str, done: int, total: int) -> None:
        context.report(state="running", task=task, step=done, total=total)

    result = describe(
        engine,
        source,
        language=params["language"],
        questions=params["questions"],
        caption=params["caption"],
        keywords=10 if params["caption"] else 0,
        cancel=context.cancelled,
        progress=progress,
    )
    context.report(state="cancelled" if result.cancelled else "done", description=result.as_dict())


# ------------------------------------------------------------------------------------------ export


def export_run(job: Job, context: JobContext) -> None:
    source_row = _source(job)
    options = ExportOptions(**job.params["options"])
    context.report(state="running")
    started = time.perf_counter()
    result = export_print(source_open(source_row), options, title=f"studio-{source_row.pk}")
    files = {}
    folder = f"{EXPORT_FOLDER}/{job.owner_id}/{secrets.token_hex(16)}"
    for kind, data in (("pdf", result.pdf), ("tiff", result.tiff), ("preview", result.preview)):
        files[kind] = storage.studio_storage().save(f"{folder}.{_EXTENSIONS[kind]}", ContentFile(data))
    size = result.plan.size
    prune_exports(job)
    context.report(
        state="done",
        files=files,
        warnings=result.warnings,
        timings={**result.timings, "total": _ms(started)},
        page_mm=[round(size.bleed_width_mm, 2), round(size.bleed_height_mm, 2)],
        trim_mm=[round(size.width_mm, 2), round(size.height_mm, 2)],
        pixels=list(size.bleed_px),
        effective_dpi=round(result.source.effective_dpi),
    )


def prune_exports(job: Job) -> None:
    """Delete the files of this user's exports older than the last KEEP_EXPORTS (this one included)."""
    older = (
        Job.objects.filter(owner_id=job.owner_id, kind=KIND_EXPORT, status=Job.Status.SUCCEEDED)
        .exclude(pk=job.pk)
        .order_by("-pk")[KEEP_EXPORTS - 1 :]
    )
    for old in older:
        names = (old.progress or {}).get("files") or {}
        for name in names.values():
            storage.image_delete(name)
        if names:
            Job.objects.filter(pk=old.pk).update(progress={**old.progress, "files": {}, "pruned": True})


def nothing_kept(job: Job, error: str) -> None:
    """Nothing to undo: these jobs store their results only when they finish; the page reads job.error."""


_EXTENSIONS = {"pdf": "pdf", "tiff": "tif", "preview": "png"}


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)


REFINE = kinds.register(kinds.JobKind(name=KIND_REFINE, queue="image", run=_refine, failed=refine_failed))
DESCRIBE = kinds.register(kinds.JobKind(name=KIND_DESCRIBE, queue="vision", run=describe_run, failed=nothing_kept))
EXPORT = kinds.register(kinds.JobKind(name=KIND_EXPORT, queue="default", run=export_run, failed=nothing_kept))
