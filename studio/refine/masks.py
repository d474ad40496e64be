"""Masks and canvases for inpainting and outpainting, as plain image operations (no models).

The rule that makes "only the masked area changes" true whatever the pipeline does: the pipeline's output is
composited back over the source through the (feathered) mask, so a pixel the mask leaves at 0 is copied from
the source bit for bit. (The VAE round trip alone would shift every pixel a little.)
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageChops, ImageFilter

MAX_FEATHER = 64
#: How far (px) an outpainting mask reaches back into the original, so the seam is repainted smoothly.
OUTPAINT_OVERLAP = 16
SIDES: tuple[str, ...] = ("left", "right", "top", "bottom")


def binary(mask: Image.Image) -> Image.Image:
    """White (255) where painted, black (0) elsewhere; alpha counts as paint when the mask has any."""
    gray = mask.getchannel("A") if mask.mode in ("RGBA", "LA") else mask.convert("L")
    return gray.point(lambda v: 255 if v >= 128 else 0)


def painted_pixels(mask: Image.Image) -> int:
    return int(binary(mask).histogram()[255])


def feathered(mask: Image.Image, feather: int) -> Image.Image:
    """The binary mask with a soft inner edge (half strength at the edge, full ``feather`` px inside).

    Outside the paint it stays exactly 0: blurring spreads paint outward too, so the blur is multiplied by
    the hard mask.
    """
    hard = binary(mask)
    if feather <= 0:
        return hard
    soft = hard.filter(ImageFilter.GaussianBlur(radius=feather / 2))
    return ImageChops.multiply(soft, hard)


def composite(source: Image.Image, generated: Image.Image, mask: Image.Image) -> Image.Image:
    """``generated`` where ``mask`` is white, ``source`` where it is black, blended in between."""
    if generated.size != source.size:
        generated = generated.resize(source.size, Image.Resampling.LANCZOS)
    return Image.composite(generated.convert("RGB"), source.convert("RGB"), mask)


@dataclass(frozen=True)
class Canvas:
    """An outpainting canvas: the enlarged start image, where to repaint, and where the source sits."""

    image: Image.Image
    mask: Image.Image
    #: The compositing mask: 0 (the source, exactly) outside the new area and its overlap band.
    blend: Image.Image
    offset: tuple[int, int]


def extend(source: Image.Image, side: str, amount: int) -> Canvas:
    """``source`` on a canvas ``amount`` px larger on ``side``; the new area starts as the stretched edge."""
    width, height = source.size
    horizontal = side in ("left", "right")
    size = (width + amount, height) if horizontal else (width, height + amount)
    offset = {"left": (amount, 0), "right": (0, 0), "top": (0, amount), "bottom": (0, 0)}[side]
    canvas = Image.new("RGB", size)
    edge_box = {
        "left": (0, 0, 1, height),
        "right": (width - 1, 0, width, height),
        "top": (0, 0, width, 1),
        "bottom": (0, height - 1, width, height),
    }[side]
    fill_size = (amount, height) if horizontal else (width, amount)
    fill = source.crop(edge_box).resize(fill_size, Image.Resampling.BILINEAR).filter(ImageFilter.GaussianBlur(4))
    fill_at = {"left": (0, 0), "right": (width, 0), "top": (0, 0), "bottom": (0, height)}[side]
    canvas.paste(fill, fill_at)
    canvas.paste(source.convert("RGB"), offset)
    mask = Image.new("L", size, 255)
    overlap = min(OUTPAINT_OVERLAP, (width if horizontal else height) // 4)
    kept = {
        "left": (amount + overlap, 0, size[0], height),
        "right": (0, 0, width - overlap, height),
        "top": (0, amount + overlap, width, size[1]),
        "bottom": (0, 0, width, height - overlap),
    }[side]
    mask.paste(0, kept)
    return Canvas(image=canvas, mask=mask, blend=feathered(mask, overlap), offset=offset)
