"""Straight-tuck-end carton and label geometry: panel sizes, closed cut outline, impossible dimensions."""

from __future__ import annotations

import math

import pytest

from studio.printing.dielines import label, path_length, straight_tuck_end
from studio.printing.errors import PrintError


def test_carton_panels_match_the_dimensions():
    net = straight_tuck_end(80, 30, 120)
    sizes = {panel.name: (panel.width, panel.height) for panel in net.panels}
    assert sizes["front"] == (80, 120)
    assert sizes["back"] == (80, 120)
    assert sizes["side_right"] == (30, 120)
    assert sizes["side_left"] == (30, 120)
    assert sizes["top_closure"] == (80, 30)
    assert sizes["bottom_closure"] == (80, 30)
    assert sizes["glue"][1] == 120 and 0 < sizes["glue"][0] <= 15
    assert sizes["top_tuck"][0] == 80 and sizes["bottom_tuck"][0] == 80
    assert {"dust_top_right", "dust_top_left", "dust_bottom_right", "dust_bottom_left"} <= set(sizes)


def test_carton_body_panels_sit_side_by_side_and_closures_hinge_on_the_back():
    net = straight_tuck_end(80, 30, 120)
    body = [net.panel(name) for name in ("glue", "front", "side_right", "back", "side_left")]
    for left, right in zip(body, body[1:], strict=False):
        assert math.isclose(left.x + left.width, right.x)
        assert left.y == right.y
    back, top, bottom = net.panel("back"), net.panel("top_closure"), net.panel("bottom_closure")
    assert top.x == back.x and math.isclose(top.y, back.y + back.height)
    assert bottom.x == back.x and math.isclose(bottom.y + bottom.height, back.y)
    assert math.isclose(net.width, 15 + 2 * 80 + 2 * 30)
    assert math.isclose(net.height, 120 + 2 * 30 + 2 * net.panel("top_tuck").height)


def test_carton_outline_is_closed_and_inside_the_net():
    net = straight_tuck_end(80, 30, 120)
    (outline,) = net.cuts
    assert outline[0] == outline[-1]
    for x, y in outline:
        assert -1e-9 <= x <= net.width + 1e-9 and -1e-9 <= y <= net.height + 1e-9
    # Five vertical body folds less the glue's outer edge: four; plus the closure, tuck and dust hinges.
    assert len(net.folds) == 4 + 6 + 2
    assert all(path_length(fold) > 0 for fold in net.folds)


@pytest.mark.parametrize(
    "dims", [(0, 30, 120), (80, 5, 120), (80, 30, -1), (600, 30, 120), (400, 120, 300), (80, 30, float("nan"))]
)
def test_impossible_cartons_are_refused(dims):
    with pytest.raises(PrintError):
        straight_tuck_end(*dims)


def test_label_with_rounded_corners():
    net = label(90, 50, corner_radius=5)
    (outline,) = net.cuts
    assert outline[0] == outline[-1]
    # A rounded rectangle's perimeter: straight sides plus one full circle.
    expected = 2 * (90 - 10) + 2 * (50 - 10) + 2 * math.pi * 5
    assert math.isclose(path_length(outline), expected, rel_tol=0.01)
    assert net.folds == ()
    assert (net.panel("front").width, net.panel("front").height) == (90, 50)


def test_label_corner_radius_must_fit():
    with pytest.raises(PrintError):
        label(40, 20, corner_radius=11)
    with pytest.raises(PrintError):
        label(40, 20, corner_radius=-1)
