"""The image-input guard: only safe, allowed, sane-sized images get through, without their metadata."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib

import pytest
from PIL import Image

from inference.errors import InvalidRequest
from inference.images_in import MAX_INPUT_PIXELS, open_image, png_bytes, sniff_format


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def noise(size=(64, 48), mode="RGB") -> Image.Image:
    """A picture that does not compress away, so truncating its file really cuts pixel data."""
    return Image.frombytes(mode, size, bytes((i * 7919) % 251 for i in range(size[0] * size[1] * len(mode))))


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(side: int) -> bytes:
    """A valid 1-bit PNG of side x side pixels whose pixels compress to a few tens of kilobytes."""
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit greyscale
    row = b"\x00" * (1 + (side + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", data) + png_chunk(b"IEND", b"")


def test_pillows_own_bomb_limit_is_set_explicitly_to_ours():
    # In a fresh interpreter, so no other test's import order decides the answer.
    code = "import PIL.Image as I; d = I.MAX_IMAGE_PIXELS; import inference.images_in; print(d, I.MAX_IMAGE_PIXELS)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)

    pillow_default, ours = (int(value) for value in result.stdout.split())
    assert ours == MAX_INPUT_PIXELS == 40_000_000 and ours != pillow_default
    assert Image.MAX_IMAGE_PIXELS == MAX_INPUT_PIXELS


def test_a_decompression_bomb_is_refused_before_decoding():
    # Given a small PNG that claims 20000x20000 pixels
    data = bomb_png(20_000)
    assert len(data) < 200_000
    # When it is opened / Then it is refused with a message that says to downscale
    with pytest.raises(InvalidRequest, match="Downscale") as caught:
        open_image(data)
    assert "megapixels" in str(caught.value)


def test_an_image_over_the_pixel_limit_names_its_size():
    # Given a PNG a little over the limit (under Pillow's own hard stop at twice the limit)
    side = int(MAX_INPUT_PIXELS**0.5) + 100
    # When it is opened / Then the message gives its size and the limit
    with pytest.raises(InvalidRequest, match=f"{side}x{side}"):
        open_image(bomb_png(side))


def test_svg_is_refused():
    svg = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    with pytest.raises(InvalidRequest, match="SVG files are not accepted"):
        open_image(svg)
    with pytest.raises(InvalidRequest, match="SVG"):
        open_image(b'  <svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF"])
def test_formats_outside_the_allow_list_are_refused(fmt):
    # Given a real, valid image in a format that is not allowed
    data = encode(noise(), fmt)
    # When it is opened / Then the user is told which formats work
    with pytest.raises(InvalidRequest, match=f"{fmt} files are not accepted.*PNG, JPEG or WEBP"):
        open_image(data)


@pytest.mark.parametrize("data", [b"hello, this is text", b"\x00" * 64, b"%PDF-1.7 fake"])
def test_non_images_are_refused(data):
    with pytest.raises(InvalidRequest, match="PNG, JPEG or WEBP"):
        open_image(data)


def test_empty_and_oversized_files_are_refused():
    with pytest.raises(InvalidRequest, match="empty"):
        open_image(b"")
    with pytest.raises(InvalidRequest, match="larger than"):
        open_image(encode(noise(), "PNG"), max_bytes=100)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_truncated_file_gets_a_clear_error(fmt):
    # Given the first half of a valid file
    data = encode(noise((128, 128)), fmt)
    # When it is opened / Then the user learns the file is damaged, not a stack trace
    with pytest.raises(InvalidRequest, match="damaged"):
        open_image(data[: len(data) // 2])


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_allowed_formats_open_as_rgb(fmt):
    # Given a valid image in an allowed format, read from a file object
    data = encode(noise((40, 30)), fmt)
    # When it is opened
    image = open_image(io.BytesIO(data))
    # Then it is an RGB image of the same size
    assert image.mode == "RGB"
    assert image.size == (40, 30)
    assert sniff_format(data) == fmt


def test_transparency_is_kept_only_when_asked():
    # Given a half-transparent PNG
    source = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    data = encode(source, "PNG")
    # When it is opened both ways
    flat = open_image(data)
    kept = open_image(data, keep_alpha=True)
    # Then the flat one is composited onto white and the other keeps its alpha
    assert flat.mode == "RGB"
    assert flat.getpixel((0, 0)) == (255, 255, 255)
    assert kept.mode == "RGBA"
    assert kept.getpixel((0, 0))[3] == 0


def test_exif_is_stripped_after_turning_the_photo_upright():
    # Given a JPEG with a camera model, a GPS block and "rotate 90" orientation
    exif = Image.Exif()
    exif[0x0110] = "SecretCam 3000"  # camera model
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to view
    data = encode(noise((40, 20)), "JPEG", exif=exif.tobytes())
    assert b"SecretCam" in data
    # When it is opened
    image = open_image(data)
    # Then it is upright, and no metadata survives, not even once re-encoded
    assert image.size == (20, 40)
    assert image.info == {}
    assert len(image.getexif()) == 0
    assert b"SecretCam" not in png_bytes(image)
    assert b"eXIf" not in png_bytes(image)


def test_png_text_chunks_are_stripped():
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "private note")
    data = encode(noise((16, 16)), "PNG", pnginfo=info)
    image = open_image(data)
    assert "Comment" not in image.info
    assert b"private note" not in png_bytes(image)


def test_png_bytes_is_deterministic():
    image = noise((16, 16))
    assert png_bytes(image) == png_bytes(image.copy())
    assert Image.open(io.BytesIO(png_bytes(image))).tobytes() == image.tobytes()
