"""A small on-screen preview of an export: the press colours shown in sRGB, with the dieline drawn over."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from .dielines import Dieline, Path

PREVIEW_MAX_SIDE = 1200
CUT_RGB = (226, 0, 122)
FOLD_RGB = (0, 150, 214)
TRIM_RGB = (120, 120, 120)


def _scaled(path: Path, scale: float, offset: float, height_px: int) -> list[tuple[float, float]]:
    return [((x + offset) * scale, height_px - (y + offset) * scale) for x, y in path]


def preview_png(
    image: Image.Image, *, width_mm: float, height_mm: float, bleed_mm: float, dieline: Dieline | None
) -> bytes:
    """PNG at most PREVIEW_MAX_SIDE pixels: the artwork, the trim (dotted grey) or the cut and fold lines."""
    rgb = image.convert("RGB") if image.mode != "RGB" else image
    factor = min(1.0, PREVIEW_MAX_SIDE / max(rgb.size))
    small = rgb.resize((max(1, round(rgb.width * factor)), max(1, round(rgb.height * factor))), Image.Resampling.BOX)
    scale = small.width / (width_mm + 2 * bleed_mm)
    draw = ImageDraw.Draw(small)
    if dieline is None:
        trim = ((0.0, 0.0), (width_mm, 0.0), (width_mm, height_mm), (0.0, height_mm), (0.0, 0.0))
        draw.line(_scaled(trim, scale, bleed_mm, small.height), fill=TRIM_RGB, width=1)
    else:
        for path in dieline.folds:
            draw.line(_scaled(path, scale, bleed_mm, small.height), fill=FOLD_RGB, width=1)
        for path in dieline.cuts:
            draw.line(_scaled(path, scale, bleed_mm, small.height), fill=CUT_RGB, width=2)
    buffer = io.BytesIO()
    small.save(buffer, "PNG", optimize=False)
    return buffer.getvalue()
