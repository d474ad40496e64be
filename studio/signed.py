"""Signed, expiring links to one studio image, for clients without a session (``/v1/images``, ``url``).

The token signs ``<image id>:<owner id>`` with Django's TimestampSigner (SECRET_KEY, a salt of its own), so it
cannot be forged or pointed at another image; it expires after STUDIO_SIGNED_URL_TTL_S. The view serves the
same bytes the gallery does (a flagged image only blurred) and only while the image still has that owner.
A tampered token is 404, an expired one 403 with a message saying to ask again.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from .models import StudioImage

_SALT = "studio.image-url"


def image_url(image: StudioImage) -> str:
    """The path of a signed link to ``image`` (relative; the caller makes it absolute)."""
    token = signing.TimestampSigner(salt=_SALT).sign(f"{image.pk}.{image.owner_id}")
    return reverse("studio:image-signed", args=[token])


def image_from_token(token: str) -> StudioImage | None:
    """The image a valid token names; None when tampered; raises SignatureExpired when too old."""
    try:
        value = signing.TimestampSigner(salt=_SALT).unsign(token, max_age=settings.STUDIO_SIGNED_URL_TTL_S)
    except signing.SignatureExpired:
        raise
    except signing.BadSignature:
        return None
    image_id, _dot, owner_id = value.partition(".")
    if not (image_id.isdigit() and owner_id.isdigit()):
        return None
    return StudioImage.objects.filter(pk=int(image_id), owner_id=int(owner_id)).first()


@require_GET
def image_signed(request: HttpRequest, token: str) -> HttpResponseBase:
    from .views import image_response

    try:
        image = image_from_token(token)
    except signing.SignatureExpired:
        return HttpResponse(
            _("This image link has expired. Ask the API for the image again."),
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    if image is None:
        return HttpResponse(_("No such image."), status=404, content_type="text/plain; charset=utf-8")
    response = image_response(image, download=False)
    response["Cache-Control"] = "private, no-store"
    return response
