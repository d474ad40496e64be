"""Physical sizes to pixels at 300 DPI with bleed, the bounds, and the small-source warning."""

from __future__ import annotations

import pytest

from studio.printing.errors import PrintError
from studio.printing.sizing import PrintSize, check_source, mm_to_px


def test_millimetres_to_pixels_at_300_dpi():
    assert mm_to_px(25.4) == 300
    assert mm_to_px(148) == 1748


def test_a5_with_default_bleed_adds_3_mm_a_side():
    size = PrintSize(148, 210)
    assert size.bleed_mm == 3
    assert size.trim_px == (1748, 2480)
    assert size.bleed_px == (mm_to_px(154), mm_to_px(216)) == (1819, 2551)


@pytest.mark.parametrize(("width", "height"), [(0, 100), (100, 0), (2000, 100), (100, 2000), (-5, 50)])
def test_sizes_out_of_bounds_are_refused_with_what_to_do(width, height):
    with pytest.raises(PrintError) as caught:
        PrintSize(width, height)
    assert " mm" in str(caught.value)


def test_errors_are_translated_to_korean():
    from django.utils import translation

    with translation.override("ko"), pytest.raises(PrintError) as caught:
        PrintSize(2000, 100)
    assert "mm" in str(caught.value)
    assert any("\uac00" <= char <= "\ud7a3" for char in str(caught.value)), str(caught.value)


@pytest.mark.parametrize("bleed", [-1, 11, True])
def test_bleed_is_bounded(bleed):
    with pytest.raises(PrintError):
        PrintSize(100, 100, bleed_mm=bleed)


def test_pixel_budget_is_bounded():
    with pytest.raises(PrintError, match="megapixels"):
        PrintSize(1000, 1000, dpi=600)


def test_a_small_source_is_warned_not_refused():
    check = check_source((512, 512), PrintSize(148, 210).bleed_px)
    assert check.upscale > 4
    assert check.effective_dpi < 100
    assert "512 x 512" in check.warning


def test_a_large_enough_source_gives_no_warning():
    check = check_source((2000, 2600), PrintSize(148, 210).bleed_px)
    assert check.warning == ""
