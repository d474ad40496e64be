"""The refine page of one image, and export downloads (to the job's owner only)."""

from __future__ import annotations

from typing import cast

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.models import User
from catalog.models import ModelEntry
from catalog.selectors import model_default

from .. import selectors as studio_selectors
from .. import storage
from ..models import MAX_GUIDANCE, MAX_PROMPT_CHARS, MAX_STEPS
from ..payloads import image_payload
from ..printing.color import INTENT_LABELS
from . import masks, selectors, services

_TYPES = {"pdf": "application/pdf", "tiff": "image/tiff", "preview": "image/png"}
_EXTENSIONS = {"pdf": "pdf", "tiff": "tif", "preview": "png"}


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


@login_required
def refine_page(request: HttpRequest, image_id: int) -> HttpResponse:
    image = studio_selectors.image_get(user=_user(request), image_id=image_id)
    return render(
        request,
        "studio/refine.html",
        {
            "image": image,
            "payload": image_payload(image),
            "intents": list(INTENT_LABELS.items()),
            "sides": masks.SIDES,
            "upscaler": model_default(kind=ModelEntry.Kind.UPSCALE),
            "limits": {
                "prompt": MAX_PROMPT_CHARS,
                "steps": MAX_STEPS,
                "guidance": MAX_GUIDANCE,
                "feather": masks.MAX_FEATHER,
                "outpaint": services.MAX_OUTPAINT,
            },
        },
    )


@login_required
@require_GET
def export_file(request: HttpRequest, job_id: int, kind: str) -> HttpResponseBase:
    """A finished export's PDF, TIFF or preview, to the user who made it; 404 for anyone else."""
    job = selectors.refine_job_get(user=_user(request), job_id=job_id, kind=services.KIND_EXPORT)
    name = (job.progress or {}).get("files", {}).get(kind)
    if kind not in _TYPES or not name:
        raise Http404("No such export file.")
    try:
        handle = storage.studio_storage().open(name, "rb")
    except (FileNotFoundError, OSError) as exc:
        raise Http404("The export file is missing; export again.") from exc
    if kind != "preview":
        from apikeys import audit  # a print file leaving the server is an export (issue 13's audit log)

        audit.record(
            action="export",
            actor=request.user,
            target_type="studio.printexport",
            target_id=str(job.pk),
            target_repr=f"print export of image #{job.params.get('image')}",
            request=request,
            detail={"format": kind},
        )
    response = FileResponse(
        handle,
        content_type=_TYPES[kind],
        as_attachment=kind != "preview",
        filename=f"studio-{job.params.get('image')}-print.{_EXTENSIONS[kind]}",
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response
