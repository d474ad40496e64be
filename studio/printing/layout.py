"""Lay artwork out on the page raster: the whole page, a net's front panel, or wrapped around its body panels.

The raster covers the bleed box (trim plus bleed on every side) at the print resolution. Artwork fills its
region (scaled to cover, centred, cropped) and runs ``bleed`` millimetres past the region's edges, so a cut a
little off the line still shows no white edge.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.utils.translation import gettext as _
from PIL import Image

from .dielines import Dieline
from .errors import PrintError
from .sizing import PrintSize, SourceCheck, check_source

Placement = Literal["front", "wrap"]
PLACEMENTS: tuple[str, ...] = ("front", "wrap")


@dataclass(frozen=True)
class Region:
    """A rectangle in trim coordinates (mm, origin bottom-left of the trim box, y up)."""

    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Laid:
    """The page raster (RGB, bleed box at the print resolution) and how the source compared with it."""

    image: Image.Image
    source: SourceCheck


def artwork_region(size: PrintSize, dieline: Dieline | None, placement: Placement) -> Region:
    """Where the artwork goes before bleed: the whole trim, the front panel, or the wrap panels' box."""
    if placement not in PLACEMENTS:
        raise PrintError(_("Place the image on the front panel or wrap it around: choose front or wrap."))
    if dieline is None:
        return Region(0.0, 0.0, size.width_mm, size.height_mm)
    if placement == "front":
        panel = dieline.panel(dieline.front)
        return Region(panel.x, panel.y, panel.width, panel.height)
    x0, y0, x1, y1 = dieline.wrap_box()
    return Region(x0, y0, x1 - x0, y1 - y0)


def _pixel_box(size: PrintSize, region: Region) -> tuple[int, int, int, int]:
    """The region plus bleed as a pixel box of the page raster (rows counted from the top)."""
    scale = size.dpi / 25.4
    page_w, page_h = size.bleed_px
    left = round(region.x * scale)  # region.x - bleed + bleed (the raster starts at -bleed)
    right = round((region.x + region.width + 2 * size.bleed_mm) * scale)
    top = round((size.height_mm - region.y - region.height) * scale)
    bottom = round((size.height_mm - region.y + 2 * size.bleed_mm) * scale)
    return max(0, left), max(0, top), min(page_w, right), min(page_h, bottom)


def flatten(image: Image.Image) -> Image.Image:
    """RGB on white: transparency prints as paper, not as black."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        page = Image.new("RGB", rgba.size, (255, 255, 255))
        page.paste(rgba, mask=rgba.getchannel("A"))
        return page
    return image if image.mode == "RGB" else image.convert("RGB")


def cover(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``image`` scaled (Lanczos) to cover ``size``, centred and cropped to it."""
    width, height = image.size
    target_ratio = size[0] / size[1]
    if width / height > target_ratio:
        crop_w = height * target_ratio
        box = ((width - crop_w) / 2, 0.0, (width + crop_w) / 2, float(height))
    else:
        crop_h = width / target_ratio
        box = (0.0, (height - crop_h) / 2, float(width), (height + crop_h) / 2)
    return image.resize(size, Image.Resampling.LANCZOS, box=box)


def lay_out(image: Image.Image, size: PrintSize, dieline: Dieline | None, placement: Placement) -> Laid:
    """The page raster with ``image`` in its region (plus bleed) on white paper."""
    region = artwork_region(size, dieline, placement)
    left, top, right, bottom = _pixel_box(size, region)
    needed = (right - left, bottom - top)
    source = flatten(image)
    check = check_source(source.size, needed, size.dpi)
    page = Image.new("RGB", size.bleed_px, (255, 255, 255))
    page.paste(cover(source, needed), (left, top))
    return Laid(image=page, source=check)
