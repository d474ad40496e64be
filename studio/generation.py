"""Make images and rewrite briefs in a worker: the studio's job kinds on the shared job layer.

``studio.generate`` (queue ``image``) claims a queued generation, runs the image engine with the job's cancel
token (checked every denoising step) and a progress callback (step, elapsed, throttled latent previews),
writes each PNG with its settings in text chunks through the studio storage, and optionally checks it with
the image classifier. ``studio.rewrite`` (queue ``text``) asks the text engine for an English diffusion
prompt from a Korean brief, through the same engine path chat uses.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, ImageFilter

from catalog.models import ModelEntry
from catalog.selectors import model_default
from exaone_web.jobs import kinds
from exaone_web.jobs.models import Job
from exaone_web.jobs.runner import JobContext
from inference.image.types import ImageRequest, ProgressEvent
from inference.registry import get_engine
from inference.types import ChatMessage, ModelSpec, SamplingParams, TextDone, TextRequest

from . import pngmeta, publisher, safety, storage
from .models import Generation, StudioImage

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------- images


def full_prompts(generation: Generation) -> tuple[str, str]:
    """The prompt and negative the engine reads: the user's, then the preset's fragments."""
    prompt, negative = generation.prompt, generation.negative
    if generation.preset is not None:
        prompt = ", ".join(p for p in (prompt, generation.preset.prompt_fragment) if p)
        negative = ", ".join(p for p in (negative, generation.preset.negative) if p)
    return prompt, negative


def metadata(generation: Generation, seed: int) -> dict[str, Any]:
    return {
        "brief": generation.brief,
        "prompt": generation.prompt,
        "negative": generation.negative,
        "model": generation.model.name,
        "seed": seed,
        "steps": generation.steps,
        "guidance": generation.guidance,
        "width": generation.width,
        "height": generation.height,
        "preset": generation.preset.slug if generation.preset else "",
    }


def image_request(
    generation: Generation,
    context: JobContext | None = None,
    on_progress: Callable[[ProgressEvent], None] | None = None,
) -> ImageRequest:
    prompt, negative = full_prompts(generation)
    return ImageRequest(
        prompt=prompt,
        negative_prompt=negative,
        width=generation.width,
        height=generation.height,
        steps=generation.steps,
        guidance_scale=generation.guidance,
        seed=generation.seed,
        num_images=generation.count,
        cancel=context.cancelled if context is not None else (lambda: False),
        on_progress=on_progress,
        preview_every=settings.STUDIO_PREVIEW_EVERY_S if on_progress is not None else None,
    )


def generate_run(job: Job, context: JobContext) -> None:
    generation = _claim(job.subject_id)
    if generation is None:
        return  # cancelled while queued, deleted, or already taken
    stream = publisher.GenerationStream(generation)
    stream.started()

    def on_progress(event: ProgressEvent) -> None:
        context.report(step=event.step, total=event.total)
        stream.progress(step=event.step, total=event.total, elapsed_s=event.elapsed_s, preview=event.preview)

    engine = get_engine(ModelSpec.from_dict(generation.model.to_spec()))
    result = engine.generate(image_request(generation, context, on_progress))
    # Kept on the job row: the engine's own time, so the job layer's overhead can be told apart from it.
    context.report(step=result.steps_done, total=result.steps_total, engine_ms=round(result.timings.total_ms, 1))
    if context.interrupted:
        return  # the runner fails the job; generate_failed tells the page
    if result.finish_reason == "cancelled" or context.cancelled():
        generation.status = Generation.Status.CANCELLED
    else:
        check = safety.check_required(generation.owner)
        for image, seed in zip(result.images, result.seeds, strict=False):
            _store(generation, image, seed, check=check)
        generation.status = Generation.Status.DONE
    generation.finished_at = timezone.now()
    saved = Generation.objects.filter(pk=generation.pk, status=Generation.Status.RUNNING).update(
        status=generation.status, finished_at=generation.finished_at
    )
    if saved:
        stream.finished(generation)


def _store(generation: Generation, image: Image.Image, seed: int, *, check: bool) -> StudioImage:
    values = metadata(generation, seed)
    verdict = safety.check(image) if check else None
    name = storage.image_save(owner_id=generation.owner_id, data=pngmeta.png_with_metadata(image, values))
    return StudioImage.objects.create(
        owner_id=generation.owner_id,
        generation=generation,
        file=name,
        seed=seed,
        metadata=values,
        flagged=bool(verdict and verdict.flagged),
        flag_reason=verdict.reason if verdict else "",
    )


def blurred(image: Image.Image) -> Image.Image:
    """What a flagged image shows: blurred beyond recognition, whatever its size."""
    return image.convert("RGB").filter(ImageFilter.GaussianBlur(radius=max(8, max(image.size) // 12)))


def _claim(generation_id: int | None) -> Generation | None:
    if generation_id is None:
        return None
    taken = Generation.objects.filter(pk=generation_id, status=Generation.Status.QUEUED).update(
        status=Generation.Status.RUNNING
    )
    if not taken:
        return None
    return Generation.objects.select_related("model", "preset", "owner").get(pk=generation_id)


def generate_failed(job: Job, error: str) -> None:
    """The job ended without the images: say why on the page, offer to try again."""
    if job.subject_id is None:
        return
    updated = Generation.objects.filter(
        pk=job.subject_id, status__in=[Generation.Status.QUEUED, Generation.Status.RUNNING]
    ).update(status=Generation.Status.FAILED, error=error, finished_at=timezone.now())
    if updated:
        generation = Generation.objects.select_related("model", "preset").get(pk=job.subject_id)
        publisher.finished(generation)


# --------------------------------------------------------------------------------------------- rewrite

_LABEL = re.compile(r"^(english\s+)?prompt\s*:\s*", re.IGNORECASE)
_LATIN_WORD = re.compile(r"[A-Za-z]{3,}")


def clean_prompt(text: str, *, instruction: str) -> str:
    """The model's prompt: its first non-empty line without labels or quotes; "" when it is not usable."""
    for line in text.splitlines():
        line = _LABEL.sub("", line.strip().strip("\"'`*#“”").strip())
        if not line:
            continue
        # Unusable: no English words, or our own instruction repeated back.
        if len(_LATIN_WORD.findall(line)) < 2 or line.lower() in instruction.lower():
            return ""
        return line[:1000]
    return ""


def rewrite(brief: str, *, instruction: str, cancelled=lambda: False) -> str:
    """Ask the default text model for an English prompt; "" when it gave nothing usable."""
    entry = model_default(kind=ModelEntry.Kind.TEXT)
    if entry is None:
        return ""
    engine = get_engine(ModelSpec.from_dict(entry.to_spec()))
    request = TextRequest(
        messages=(ChatMessage("user", f"{instruction}\n\nBrief: {brief}\n\nPrompt:"),),
        sampling=SamplingParams(temperature=0.2, max_new_tokens=96, seed=0),
        cancel=cancelled,
    )
    done = next(e for e in engine.stream(request) if isinstance(e, TextDone))
    if done.finish_reason == "cancelled":
        return ""
    return clean_prompt(done.text, instruction=instruction)


def rewrite_run(job: Job, context: JobContext) -> None:
    from .services import model_settings

    brief = str(job.params.get("brief", ""))
    image_model = ModelEntry.objects.filter(pk=job.params.get("image_model")).first()
    instruction = model_settings(image_model).rewrite_instruction if image_model else ""
    started = time.perf_counter()
    prompt = rewrite(brief, instruction=instruction or "", cancelled=context.cancelled)
    if prompt:
        result = {"prompt": prompt, "fallback": False, "note": ""}
    else:
        note = _("The text model gave no usable English prompt, so the brief is used as it is. Edit the prompt.")
        result = {"prompt": brief, "fallback": True, "note": note}
    context.report(**result, ms=round((time.perf_counter() - started) * 1000))
    publisher.publish(job.owner_id, {"type": "rewrite.done", "job_id": job.pk, **result})


def rewrite_failed(job: Job, error: str) -> None:
    brief = str(job.params.get("brief", ""))
    note = _("The brief could not be rewritten (%(error)s); it is used as it is. Edit the prompt.") % {"error": error}
    publisher.publish(
        job.owner_id, {"type": "rewrite.done", "job_id": job.pk, "prompt": brief, "fallback": True, "note": note}
    )


GENERATE = kinds.register(
    kinds.JobKind(name="studio.generate", queue="image", run=generate_run, failed=generate_failed)
)
REWRITE = kinds.register(kinds.JobKind(name="studio.rewrite", queue="text", run=rewrite_run, failed=rewrite_failed))
