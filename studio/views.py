"""Studio pages and the one place images leave the server: after checking owner or shared-board group."""

from __future__ import annotations

import io
from typing import cast

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET
from PIL import Image

from accounts.models import User

from . import selectors, storage
from .generation import blurred
from .models import MAX_BRIEF_CHARS, MAX_GUIDANCE, MAX_IMAGES, MAX_PROMPT_CHARS, MAX_SEED, MAX_STEPS, StudioImage

#: Size presets the form offers (width, height); all multiples of 8 within the limits.
SIZE_PRESETS = [
    ("draft", 64, 64),
    ("square", 512, 512),
    ("portrait", 512, 768),
    ("landscape", 768, 512),
    ("box-front", 512, 704),
    ("label", 768, 256),
    ("pouch", 576, 768),
    ("carton-side", 384, 768),
]


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _size_labels() -> dict[str, str]:
    return {
        "draft": _("Draft 1:1 (quick; the tiny demo model's own size)"),
        "square": _("Square 1:1"),
        "portrait": _("Portrait 2:3"),
        "landscape": _("Landscape 3:2"),
        "box-front": _("Box front panel 8:11"),
        "label": _("Bottle label 3:1"),
        "pouch": _("Pouch 3:4"),
        "carton-side": _("Carton side panel 1:2"),
    }


@login_required
def studio(request: HttpRequest) -> HttpResponse:
    labels = _size_labels()
    return render(
        request,
        "studio/studio.html",
        {
            "models": selectors.image_model_list(),
            "presets": selectors.preset_list(user=_user(request)),
            "sizes": [(key, labels[key], w, h) for key, w, h in SIZE_PRESETS],
            "limits": {
                "brief": MAX_BRIEF_CHARS,
                "prompt": MAX_PROMPT_CHARS,
                "steps": MAX_STEPS,
                "guidance": MAX_GUIDANCE,
                "seed": MAX_SEED,
                "images": MAX_IMAGES,
            },
        },
    )


@login_required
def gallery(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    return render(
        request,
        "studio/gallery.html",
        {
            "boards": selectors.board_list(user=user),
            "shared_boards": selectors.shared_board_list(user=user),
            "models": selectors.image_model_list(),
            "groups": user.groups.all(),
        },
    )


@login_required
@require_GET
def image_file(request: HttpRequest, image_id: int) -> HttpResponseBase:
    """The PNG, to its owner or to members of a group a board holding it is shared with; 404 for anyone else.

    Flagged images leave only blurred. Sent with a fixed type, nosniff and a generated file name.
    """
    image = selectors.image_viewable_get(user=_user(request), image_id=image_id)
    return image_response(image, download=request.GET.get("download") == "1")


def image_response(image: StudioImage, *, download: bool) -> FileResponse:
    """The PNG of an image already checked for the viewer (a flagged one blurred); 404 when its file is gone."""
    try:
        handle = storage.image_open(image.file)
    except (FileNotFoundError, OSError) as exc:
        raise Http404("The image file is missing.") from exc
    if image.flagged:
        with handle, Image.open(handle, formats=["PNG"]) as original:
            buffer = io.BytesIO()
            blurred(original).save(buffer, format="PNG")
        buffer.seek(0)
        handle = buffer
    response = FileResponse(
        handle, content_type="image/png", as_attachment=download, filename=f"studio-{image.pk}-{image.seed}.png"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response
