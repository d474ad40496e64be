"""Upscale x2 / x4 with Lanczos when no model is given; bounds."""

from __future__ import annotations

import pytest
from PIL import Image

from studio.printing.errors import PrintError
from studio.printing.upscale import upscale


@pytest.mark.parametrize("factor", [2, 4])
def test_upscale_sizes_and_method(factor):
    result = upscale(Image.new("RGBA", (48, 32), (10, 20, 30, 255)), factor)
    assert result.image.size == (48 * factor, 32 * factor)
    assert result.image.mode == "RGB"
    assert result.method == "lanczos" and result.model == ""


@pytest.mark.parametrize("factor", [0, 3, 8, True])
def test_only_x2_and_x4(factor):
    with pytest.raises(PrintError):
        upscale(Image.new("RGB", (8, 8)), factor)


def test_output_side_is_bounded():
    with pytest.raises(PrintError, match="8192"):
        upscale(Image.new("RGB", (3000, 100)), 4)
