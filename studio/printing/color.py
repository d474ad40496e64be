"""RGB to CMYK through a real ICC output profile, with the rendering intent the user picks.

The default profile is Artifex's "CMYK SWOP" output profile, shipped by Debian's ``libgs-common`` package
(Ghostscript's ICC profiles, AGPL, redistributable) at /usr/share/color/icc/ghostscript/default_cmyk.icc. No
PyPI package ships a CMYK output profile, so the path can be changed with the setting STUDIO_CMYK_PROFILE (a
print shop's own FOGRA39 or GRACoL profile, for example); when no file is found the error says what to install.
"""

from __future__ import annotations

import functools
import io
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from PIL import Image, ImageCms

from .errors import PrintError

DEFAULT_PROFILE_PATHS = (
    Path("/usr/share/color/icc/ghostscript/default_cmyk.icc"),
    Path("/usr/share/ghostscript/iccprofiles/default_cmyk.icc"),
)

#: Rendering intents users pick -> LittleCMS's numbers. Relative colorimetric with black point compensation
#: is what prepress tools default to for photos going to a press profile.
INTENTS = {
    "perceptual": ImageCms.Intent.PERCEPTUAL,
    "relative": ImageCms.Intent.RELATIVE_COLORIMETRIC,
    "saturation": ImageCms.Intent.SATURATION,
    "absolute": ImageCms.Intent.ABSOLUTE_COLORIMETRIC,
}
INTENT_LABELS = {
    "perceptual": gettext_lazy("Perceptual (photos, smooth gamut compression)"),
    "relative": gettext_lazy("Relative colorimetric (exact in-gamut colours)"),
    "saturation": gettext_lazy("Saturation (flat graphics)"),
    "absolute": gettext_lazy("Absolute colorimetric (proofing, simulates paper white)"),
}
DEFAULT_INTENT = "relative"


@dataclass(frozen=True)
class OutputProfile:
    """A CMYK output profile: its bytes (embedded in PDF and TIFF) and what it calls itself."""

    path: Path
    data: bytes
    description: str

    @property
    def identifier(self) -> str:
        """The OutputConditionIdentifier written to the PDF output intent."""
        return self.description or self.path.stem


def profile_path() -> Path:
    # A Django setting wins (tests override it); else the environment variable (docs/configuration.md).
    configured = getattr(settings, "STUDIO_CMYK_PROFILE", "") or os.environ.get("STUDIO_CMYK_PROFILE", "")
    candidates = [Path(configured)] if configured else list(DEFAULT_PROFILE_PATHS)
    for path in candidates:
        if path.is_file():
            return path
    raise PrintError(
        _(
            "No CMYK output profile was found (looked for %(paths)s). Install the Debian package libgs-common "
            "(apt-get install libgs-common) or set STUDIO_CMYK_PROFILE to your print shop's .icc file."
        )
        % {"paths": ", ".join(str(p) for p in candidates)}
    )


@functools.lru_cache(maxsize=4)
def _load(path: Path) -> OutputProfile:
    data = path.read_bytes()
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(data))
    except (OSError, ImageCms.PyCMSError) as error:
        raise PrintError(
            _("%(path)s is not a readable ICC profile: %(error)s") % {"path": path, "error": error}
        ) from error
    if profile.profile.xcolor_space.strip() != "CMYK" or profile.profile.device_class.strip() != "prtr":
        raise PrintError(
            _("%(path)s is not a CMYK output (printer) profile; choose one from your print shop.") % {"path": path}
        )
    description = (ImageCms.getProfileDescription(profile) or "").strip()
    return OutputProfile(path=path, data=data, description=description)


def output_profile() -> OutputProfile:
    """The configured CMYK output profile, read once per process."""
    return _load(profile_path())


@functools.lru_cache(maxsize=8)
def _transform(path: Path, intent: str, black_point: bool) -> ImageCms.ImageCmsTransform:
    flags = ImageCms.Flags.BLACKPOINTCOMPENSATION if black_point else ImageCms.Flags.NONE
    return ImageCms.buildTransform(
        ImageCms.createProfile("sRGB"),
        ImageCms.ImageCmsProfile(io.BytesIO(_load(path).data)),
        "RGB",
        "CMYK",
        renderingIntent=INTENTS[intent],
        flags=flags,
    )


def check_intent(intent: str) -> str:
    if intent not in INTENTS:
        raise PrintError(
            _("Unknown rendering intent %(intent)s: choose %(choices)s.")
            % {"intent": intent, "choices": ", ".join(INTENTS)}
        )
    return intent


def to_cmyk(image: Image.Image, intent: str = DEFAULT_INTENT) -> Image.Image:
    """``image`` (taken as sRGB) in the output profile's CMYK, mapped with ``intent``."""
    check_intent(intent)
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return ImageCms.applyTransform(rgb, _transform(profile_path(), intent, intent != "absolute"))


@functools.lru_cache(maxsize=2)
def _proof_transform(path: Path) -> ImageCms.ImageCmsTransform:
    return ImageCms.buildTransform(
        ImageCms.ImageCmsProfile(io.BytesIO(_load(path).data)),
        ImageCms.createProfile("sRGB"),
        "CMYK",
        "RGB",
        renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
        flags=ImageCms.Flags.BLACKPOINTCOMPENSATION,
    )


def cmyk_to_screen(image: Image.Image) -> Image.Image:
    """A CMYK image back in sRGB: the preview shows what the press gamut did to the colours."""
    return ImageCms.applyTransform(image, _proof_transform(profile_path()))
