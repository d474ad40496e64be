"""Open user-supplied image bytes safely, for the image and vision engines.

Only PNG, JPEG and WEBP are decoded (few, well-fuzzed decoders). The size is read from the header and checked
before any pixel is decoded, so a decompression bomb (a small file that claims 20000x20000 pixels) costs
nothing. The result is a fresh RGB or RGBA image with no metadata: EXIF (GPS position, camera serial), ICC
profiles and text chunks are dropped after the EXIF orientation has been applied.
"""

from __future__ import annotations

import io
import warnings
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InvalidRequest

#: Formats the decoder may use. GIF, BMP, TIFF, SVG and the rest are refused before decoding.
ALLOWED_FORMATS = ("PNG", "JPEG", "WEBP")
#: Largest image accepted (about 6300 x 6300); big enough for phone photos, small enough to decode safely.
MAX_INPUT_PIXELS = 40_000_000
#: Longest side accepted; stops 1 x 40,000,000 strips that pass the pixel count.
MAX_INPUT_SIDE = 16_384
#: Largest upload read, in bytes.
MAX_INPUT_BYTES = 25 * 1024 * 1024

# Pillow's own bomb check is a process-wide setting; pin it to our bound so that any other code in the
# process that opens images is protected too, instead of relying on Pillow's default.
Image.MAX_IMAGE_PIXELS = MAX_INPUT_PIXELS

_ALLOWED_TEXT = "Upload a PNG, JPEG or WEBP image."

# Leading bytes of formats we name in errors, so the user learns what was wrong with the file.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"8BPS", "PSD"),
    (b"%PDF", "PDF"),
)


def sniff_format(head: bytes) -> str | None:
    """Name the format of a file from its first bytes, or None if unknown."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:12] in (b"ftypavif", b"ftypheic", b"ftypheix", b"ftypmif1"):
        return "HEIC/AVIF"
    for signature, name in _SIGNATURES:
        if head.startswith(signature):
            return name
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<?xml", b"<svg", b"<!doctype svg")) or b"<svg" in head.lower():
        return "SVG"
    return None


def _read_limited(data: bytes | bytearray | memoryview | BinaryIO, max_bytes: int) -> bytes:
    raw = bytes(data) if isinstance(data, bytes | bytearray | memoryview) else data.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise InvalidRequest(
            f"The image file is larger than {max_bytes // (1024 * 1024)} MiB. Compress or downscale it first."
        )
    if not raw:
        raise InvalidRequest(f"The image file is empty. {_ALLOWED_TEXT}")
    return raw


def open_image(
    data: bytes | bytearray | memoryview | BinaryIO,
    *,
    keep_alpha: bool = False,
    max_pixels: int = MAX_INPUT_PIXELS,
    max_bytes: int = MAX_INPUT_BYTES,
) -> Image.Image:
    """Decode user image bytes into a clean RGB (or RGBA with ``keep_alpha``) image.

    Raise :class:`InvalidRequest` with a message for the user when the file is not an allowed image, is too
    large, or is damaged. Animated files give their first frame.
    """
    raw = _read_limited(data, max_bytes)
    kind = sniff_format(raw[:512])
    if kind not in ALLOWED_FORMATS:
        what = f"{kind} files are" if kind else "This file is not an image that is"
        raise InvalidRequest(f"{what} not accepted. {_ALLOWED_TEXT}")

    with warnings.catch_warnings():
        # Pillow refuses past twice MAX_IMAGE_PIXELS on its own and only warns below that; our check right
        # after opening refuses those too, with the image's size in the message.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(raw), formats=ALLOWED_FORMATS)
        except Image.DecompressionBombError as exc:
            raise InvalidRequest(_too_large_message(None, max_pixels)) from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise InvalidRequest(
                f"The {kind} file could not be read; it may be damaged. Re-export it and try again."
            ) from exc
        try:
            # The header alone gives the size: refuse before a single pixel is decoded.
            width, height = image.size
            if width * height > max_pixels or max(width, height) > MAX_INPUT_SIDE:
                raise InvalidRequest(_too_large_message((width, height), max_pixels))
            if width < 1 or height < 1:
                raise InvalidRequest(f"The image has no pixels. {_ALLOWED_TEXT}")
            image.seek(0)
            image.load()
        except InvalidRequest:
            raise
        except Image.DecompressionBombError as exc:
            raise InvalidRequest(_too_large_message(image.size, max_pixels)) from exc
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise InvalidRequest(
                f"The {kind} file is damaged or incomplete ({exc}). Re-export it and upload it again."
            ) from exc
    try:
        return clean_image(image, keep_alpha=keep_alpha)
    finally:
        image.close()


def _too_large_message(size: tuple[int, int] | None, max_pixels: int) -> str:
    limit = f"the limit is {max_pixels / 1e6:.0f} megapixels and {MAX_INPUT_SIDE} pixels a side"
    if size is None:
        return f"The image is too large to open safely; {limit}. Downscale it first."
    width, height = size
    return f"The image is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels); {limit}. Downscale it."


def clean_image(image: Image.Image, *, keep_alpha: bool = False) -> Image.Image:
    """Return a metadata-free RGB/RGBA copy of ``image``, turned upright by its EXIF orientation."""
    try:
        upright = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block must not cost the user the picture
        upright = image
    upright = upright if upright is not None else image
    has_alpha = upright.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        upright.mode == "P" and "transparency" in upright.info
    )
    if upright.mode.startswith("I;16") or upright.mode in ("I", "F"):
        # 16-bit and float greyscale: scale to 8 bits instead of clipping everything to white.
        scale = 1 / 256 if upright.mode != "F" else 255
        upright = upright.convert("F").point(lambda value: value * scale).convert("L")
    target = "RGBA" if keep_alpha and has_alpha else "RGB"
    if has_alpha and target == "RGB":
        # Flatten onto white: transparent areas of logos and screenshots read best that way.
        rgba = upright.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        converted = Image.alpha_composite(background, rgba).convert("RGB")
    else:
        converted = upright.convert(target)
    # A new image built from raw pixels carries no info dict, EXIF, ICC profile or text chunks.
    return Image.frombytes(target, converted.size, converted.tobytes())


def png_bytes(image: Image.Image) -> bytes:
    """Encode ``image`` as a PNG with no metadata (the same pixels always give the same bytes)."""
    buffer = io.BytesIO()
    clean = Image.frombytes(image.mode, image.size, image.tobytes()) if image.info else image
    clean.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
