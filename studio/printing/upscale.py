"""Enlarge an image x2 or x4: with an upscaling model when one is given, otherwise Lanczos resampling.

The result always says which was used, so the gallery and the export can tell the user whether detail was
invented by a model or interpolated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from django.utils.translation import gettext as _
from PIL import Image

from .errors import PrintError
from .layout import flatten

FACTORS: tuple[int, ...] = (2, 4)
#: The longest side an upscale may produce; beyond it the image is for a print export, which resamples itself.
MAX_OUTPUT_SIDE = 8192
LANCZOS = "lanczos"


class Upscaler(Protocol):
    """An upscaling model: ``name`` for the record, ``upscale`` returning ``image`` enlarged by ``factor``."""

    name: str

    def upscale(self, image: Image.Image, factor: int) -> Image.Image: ...


@dataclass(frozen=True)
class Upscaled:
    image: Image.Image
    factor: int
    #: "lanczos", or "model" when ``model`` did it.
    method: str
    model: str = ""


def check_factor(factor: int, size: tuple[int, int]) -> int:
    if isinstance(factor, bool) or factor not in FACTORS:
        raise PrintError(_("Upscale by 2 or by 4."))
    if max(size) * factor > MAX_OUTPUT_SIDE:
        raise PrintError(
            _("%(w)d x %(h)d pixels enlarged %(f)d times is over %(max)d pixels a side; choose x2 or a smaller image.")
            % {"w": size[0], "h": size[1], "f": factor, "max": MAX_OUTPUT_SIDE}
        )
    return factor


def upscale(image: Image.Image, factor: int, model: Upscaler | None = None) -> Upscaled:
    """``image`` enlarged ``factor`` times; the model's output is resized to the exact size if it differs."""
    check_factor(factor, image.size)
    source = flatten(image)
    target = (source.width * factor, source.height * factor)
    if model is None:
        return Upscaled(image=source.resize(target, Image.Resampling.LANCZOS), factor=factor, method=LANCZOS)
    enlarged = flatten(model.upscale(source, factor))
    if enlarged.size != target:
        enlarged = enlarged.resize(target, Image.Resampling.LANCZOS)
    return Upscaled(image=enlarged, factor=factor, method="model", model=model.name)
