"""Writes for the studio, on the request side: check a request, queue it as a job, cancel, recall, boards.

Every value a user sends is checked here with a translated message that says what to change, before
anything is stored or queued; the worker side (:mod:`studio.generation`) only ever sees valid requests.
"""

from __future__ import annotations

import io
import math
import secrets
import warnings
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from accounts.models import User
from assistant.language import detect_language
from catalog.models import ModelEntry
from catalog.selectors import model_default
from exaone_web.jobs.models import Job
from exaone_web.jobs.services import QueueFull, job_cancel, job_submit
from inference.images_in import ALLOWED_FORMATS, MAX_INPUT_PIXELS, MAX_INPUT_SIDE, sniff_format

from . import models as m
from . import pngmeta, publisher, selectors, storage
from .models import Board, Generation, ImageModelSettings, StudioImage, StylePreset

#: Largest file accepted for Recall.
MAX_RECALL_BYTES = 20 * 1024 * 1024
#: Byte strings that make an image a polyglot (a browser or another reader would run it as something else).
_POLYGLOT_MARKERS = (b"<script", b"<html", b"<svg", b"<?php", b"<!doctype", b"<iframe", b"javascript:")


class StudioError(Exception):
    """A request the user can fix; ``code`` is stable for clients, ``message`` is translated."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# ------------------------------------------------------------------------------------------ checking


@dataclass(frozen=True)
class GenerationInput:
    brief: str
    prompt: str
    negative: str
    model: ModelEntry
    preset: StylePreset | None
    width: int
    height: int
    steps: int
    guidance: float
    seed: int
    count: int


def _text(value: object, *, name: str, limit: int, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise StudioError("invalid", _("%(name)s must be text.") % {"name": name})
    value = value.strip()
    if len(value) > limit:
        raise StudioError(
            "too_long",
            _("The %(name)s has %(count)d characters; the limit is %(limit)d. Shorten it.")
            % {"name": name, "count": len(value), "limit": limit},
        )
    if required and not value:
        raise StudioError("empty", _("Write a %(name)s first.") % {"name": name})
    return value


def _whole(value: object, *, name: str, low: int, high: int) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int):
        raise StudioError(
            "invalid",
            _("%(name)s must be a whole number from %(low)d to %(high)d.") % {"name": name, "low": low, "high": high},
        )
    if not low <= value <= high:
        raise StudioError(
            "out_of_range",
            _("%(name)s must be from %(low)d to %(high)d; you sent %(value)d.")
            % {"name": name, "low": low, "high": high, "value": value},
        )
    return value


def _number(value: object, *, name: str, low: float, high: float) -> float:
    try:
        number = float(value) if isinstance(value, (int, float, str)) and not isinstance(value, bool) else math.nan
    except ValueError:
        number = math.nan
    if not math.isfinite(number) or not low <= number <= high:
        raise StudioError(
            "out_of_range",
            _("%(name)s must be a number from %(low)g to %(high)g.") % {"name": name, "low": low, "high": high},
        )
    return number


def _seed(value: object) -> int:
    """A fixed seed, or a fresh random one for None / "" / "random" (chosen now, so it is shown and saved)."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "random")):
        return secrets.randbelow(m.MAX_SEED + 1)
    if isinstance(value, str) and not value.strip().isdigit():
        raise StudioError(
            "invalid",
            _("The seed must be a whole number from 0 to %(max)d, or empty for a random one.") % {"max": m.MAX_SEED},
        )
    return _whole(value, name=_("Seed"), low=0, high=m.MAX_SEED)


def _size(value: object, name: str) -> int:
    side = _whole(value, name=name, low=m.MIN_SIDE, high=m.MAX_SIDE)
    if side % 8:
        raise StudioError(
            "invalid",
            _("%(name)s must be a multiple of 8 (for example %(example)d).")
            % {"name": name, "example": side - side % 8},
        )
    return side


def image_model_get(*, name: object) -> ModelEntry:
    if name in (None, ""):
        entry = model_default(kind=ModelEntry.Kind.IMAGE)
    else:
        entry = selectors.image_model_list().filter(name=str(name)).first()
    if entry is None:
        raise StudioError("unknown_model", _("That image model is not available. Pick another one."))
    return entry


def preset_get(*, user: User, slug: object) -> StylePreset | None:
    if slug in (None, ""):
        return None
    preset = StylePreset.objects.filter(slug=str(slug)).first()
    if preset is None or not preset.allows(user):
        raise StudioError("preset_forbidden", _("You may not use that style preset. Pick another one."))
    return preset


def generation_input(*, user: User, data: dict[str, Any]) -> GenerationInput:
    """Check every field of a generation request; raise :class:`StudioError` at the first bad one."""
    brief = _text(data.get("brief"), name=_("brief"), limit=m.MAX_BRIEF_CHARS, required=True)
    prompt = _text(data.get("prompt"), name=_("English prompt"), limit=m.MAX_PROMPT_CHARS)
    negative = _text(data.get("negative"), name=_("negative prompt"), limit=m.MAX_PROMPT_CHARS)
    model = image_model_get(name=data.get("model"))
    preset = preset_get(user=user, slug=data.get("preset"))
    if not prompt:
        if detect_language(brief) == "ko" and rewrite_enabled(model):
            raise StudioError(
                "needs_prompt", _("Write the English prompt, or press Rewrite to make one from the brief.")
            )
        prompt = brief
    width = _size(data.get("width", preset.default_width if preset else 512), _("Width"))
    height = _size(data.get("height", preset.default_height if preset else 512), _("Height"))
    default_steps = preset.default_steps if preset else 25
    steps = _whole(data.get("steps", default_steps), name=_("Steps"), low=m.MIN_STEPS, high=m.MAX_STEPS)
    guidance = _number(data.get("guidance", 7.0), name=_("Guidance"), low=m.MIN_GUIDANCE, high=m.MAX_GUIDANCE)
    count = _whole(data.get("count", 1), name=_("Number of images"), low=1, high=m.MAX_IMAGES)
    return GenerationInput(
        brief=brief,
        prompt=prompt,
        negative=negative,
        model=model,
        preset=preset,
        width=width,
        height=height,
        steps=steps,
        guidance=guidance,
        seed=_seed(data.get("seed")),
        count=count,
    )


# ------------------------------------------------------------------------------------------ generations


@transaction.atomic
def generation_submit(*, user: User, data: dict[str, Any]) -> Generation:
    """Check the request, store it and queue its job; the user's row lock makes the per-user bound hold."""
    values = generation_input(user=user, data=data)
    User.objects.select_for_update().filter(pk=user.pk).first()
    if selectors.generation_active_list(user=user).count() >= settings.STUDIO_MAX_ACTIVE_PER_USER:
        raise StudioError(
            "busy",
            _("You already have %(count)d images waiting or being made. Wait for one to finish or cancel one.")
            % {"count": settings.STUDIO_MAX_ACTIVE_PER_USER},
        )
    generation = Generation.objects.create(owner=user, **values.__dict__)
    try:
        job = job_submit(kind="studio.generate", owner=user, subject_id=generation.pk)
    except QueueFull as exc:
        transaction.set_rollback(True)
        raise StudioError("busy", exc.message) from exc
    Generation.objects.filter(pk=generation.pk).update(job=job)
    generation.job = job
    return generation


def generation_cancel(*, generation: Generation) -> Generation:
    """Stop a generation: at once while it waits, within one step while it runs."""
    if not generation.active or generation.job is None:
        return generation
    if job_cancel(job=generation.job):
        updated = Generation.objects.filter(pk=generation.pk, status=Generation.Status.QUEUED).update(
            status=Generation.Status.CANCELLED, finished_at=timezone.now()
        )
        if updated:
            generation.refresh_from_db()
            publisher.finished(generation)
    return generation


# ------------------------------------------------------------------------------------------ rewrite


def model_settings(model: ModelEntry) -> ImageModelSettings:
    existing = ImageModelSettings.objects.filter(model=model).first()
    return existing or ImageModelSettings(model=model)


def rewrite_enabled(model: ModelEntry) -> bool:
    return model_settings(model).rewrite_enabled


def rewrite_submit(*, user: User, brief: object, model_name: object) -> dict[str, Any]:
    """Queue the English prompt for a Korean brief (``{"job": id}``), or hand the brief back when not needed."""
    text = _text(brief, name=_("brief"), limit=m.MAX_BRIEF_CHARS, required=True)
    model = image_model_get(name=model_name)
    if detect_language(text) != "ko" or not rewrite_enabled(model):
        return {"job": None, "prompt": text, "note": _("The brief is used as the prompt as it is.")}
    if model_default(kind=ModelEntry.Kind.TEXT) is None:
        return {
            "job": None,
            "prompt": text,
            "note": _("No text model is set up to rewrite the brief; it is used as it is."),
        }
    try:
        job = job_submit(kind="studio.rewrite", owner=user, params={"brief": text, "image_model": model.pk})
    except QueueFull as exc:
        raise StudioError("busy", exc.message) from exc
    return {"job": job.pk, "prompt": "", "note": ""}


def rewrite_result(*, user: User, job_id: object) -> dict[str, Any]:
    job = selectors._get(Job.objects.filter(owner=user, kind="studio.rewrite"), job_id, "rewrite")
    result = {"job": job.pk, "status": job.status, "prompt": "", "note": "", "fallback": False}
    if job.finished:
        result.update({k: job.progress.get(k, result[k]) for k in ("prompt", "note", "fallback")})
        if not result["prompt"]:
            result.update(
                prompt=job.params.get("brief", ""),
                fallback=True,
                note=job.error or _("The rewrite did not finish; the brief is used as it is."),
            )
    return result


# ------------------------------------------------------------------------------------------ recall


def recall_from_upload(*, data: bytes) -> dict[str, Any]:
    """The settings stored in a PNG made here; refuse anything else with a clear message. Nothing is stored."""
    if len(data) > MAX_RECALL_BYTES:
        raise StudioError(
            "too_large",
            _("The file is larger than %(mib)d MiB. Upload the PNG the studio made.") % {"mib": MAX_RECALL_BYTES >> 20},
        )
    if not data:
        raise StudioError("empty", _("The file is empty. Upload a PNG the studio made."))
    kind = sniff_format(data[:512])
    if kind == "SVG":
        raise StudioError("svg", _("SVG files are not accepted. Upload a PNG the studio made."))
    if kind not in ALLOWED_FORMATS:
        raise StudioError("not_image", _("This file is not a PNG, JPEG or WEBP image. Upload a PNG the studio made."))
    lowered = data.lower()
    if any(marker in lowered for marker in _POLYGLOT_MARKERS) or (
        kind == "PNG" and not data.rstrip(b"\x00").endswith(b"IEND\xaeB`\x82")
    ):
        raise StudioError(
            "polyglot",
            _("This file is an image with something else hidden in it, so it is refused. Export the image again."),
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            width, height = image.size
            if width * height > MAX_INPUT_PIXELS or max(width, height) > MAX_INPUT_SIDE:
                raise StudioError(
                    "too_large", _("The image is too large to open safely. Upload the PNG the studio made.")
                )
            image.load()
        except Image.DecompressionBombError as exc:
            raise StudioError(
                "too_large", _("The image is too large to open safely. Upload the PNG the studio made.")
            ) from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
            raise StudioError("damaged", _("The image could not be read; it may be damaged. Export it again.")) from exc
    found = pngmeta.read_metadata(image)
    if not found:
        raise StudioError(
            "no_settings", _("This image has no studio settings in it. Only PNGs made here can be recalled.")
        )
    return recall_values(found)


def recall_values(found: dict[str, Any]) -> dict[str, Any]:
    """The form's fields from stored metadata, with numbers as numbers where they parse."""
    values: dict[str, Any] = {k: found.get(k, "") for k in pngmeta.FIELDS}
    for name in ("seed", "steps", "width", "height"):
        try:
            values[name] = int(values[name])
        except (TypeError, ValueError):
            values[name] = ""
    try:
        values["guidance"] = float(values["guidance"])
    except (TypeError, ValueError):
        values["guidance"] = ""
    return values


# ------------------------------------------------------------------------------------------ images


def image_update(*, image: StudioImage, starred: bool) -> StudioImage:
    image.starred = bool(starred)
    image.save(update_fields=["starred"])
    return image


def image_delete(*, image: StudioImage) -> None:
    """Delete the row, then the file (a file without a row can never be served; the reverse could)."""
    name = image.file
    image.delete()
    transaction.on_commit(lambda: storage.image_delete(name))


# ------------------------------------------------------------------------------------------ boards


def board_create(*, user: User, name: object) -> Board:
    text = _text(name, name=_("board name"), limit=80, required=True)
    if Board.objects.filter(owner=user).count() >= 200:
        raise StudioError("too_many", _("You have 200 boards. Delete one first."))
    return Board.objects.create(owner=user, name=text)


def board_update(*, user: User, board: Board, name: object = None, group_ids: object = None) -> Board:
    if name is not None:
        board.name = _text(name, name=_("board name"), limit=80, required=True)
        board.save(update_fields=["name"])
    if group_ids is not None:
        if not isinstance(group_ids, list) or not all(
            isinstance(g, int) and not isinstance(g, bool) for g in group_ids
        ):
            raise StudioError("invalid", _("Groups must be a list of group ids."))
        groups = list(Group.objects.filter(pk__in=group_ids, user=user))
        if len(groups) != len(set(group_ids)):
            raise StudioError("group_forbidden", _("You can share a board only with groups you belong to."))
        board.shared_with_groups.set(groups)
    return board


def board_images_change(*, board: Board, image: StudioImage, add: bool) -> Board:
    if add:
        if image.owner_id != board.owner_id:
            raise StudioError("invalid", _("Only your own images can go on your boards."))
        board.images.add(image)
    else:
        board.images.remove(image)
    return board
