"""Write the CMYK raster as a TIFF with the output profile embedded and the print resolution set."""

from __future__ import annotations

import io

from PIL import Image

from .color import OutputProfile


def write_tiff(image: Image.Image, *, profile: OutputProfile, dpi: int) -> bytes:
    """Deflate-compressed CMYK TIFF; image editors and RIPs read the profile and the DPI from it."""
    if image.mode != "CMYK":
        raise ValueError("the print image must be CMYK")
    buffer = io.BytesIO()
    image.save(buffer, "TIFF", compression="tiff_adobe_deflate", dpi=(dpi, dpi), icc_profile=profile.data)
    return buffer.getvalue()
