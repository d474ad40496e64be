"""Packaging dielines as geometry: panels, cut paths and fold paths in millimetres on the flat net.

Coordinates: origin at the bottom-left of the net's bounding box, x to the right, y upwards (as in PDF), so
the PDF writer only scales to points and shifts by the bleed. Curves are flattened into short segments: print
shops' RIPs and cutting plotters read polylines as well as curves, and tests can measure them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.utils.translation import gettext as _

from .errors import PrintError
from .sizing import MAX_SIDE_MM, check_side

Point = tuple[float, float]
Path = tuple[Point, ...]

#: Smallest carton side: below this, tuck and glue flaps cannot be folded by a machine or by hand.
MIN_CARTON_MM = 15.0
#: A carton side above this does not fit any folding-carton board sheet this export is for.
MAX_CARTON_MM = 500.0
GLUE_FLAP_MM = 15.0
TUCK_MM = 15.0


@dataclass(frozen=True)
class Panel:
    """A named rectangle of the net (x, y is its bottom-left corner)."""

    name: str
    x: float
    y: float
    width: float
    height: float

    @property
    def box(self) -> tuple[float, float, float, float]:
        return self.x, self.y, self.x + self.width, self.y + self.height


@dataclass(frozen=True)
class Dieline:
    """A flat net: its size, its panels, the lines to cut and the lines to crease."""

    kind: str
    width: float
    height: float
    panels: tuple[Panel, ...]
    cuts: tuple[Path, ...]
    folds: tuple[Path, ...]
    #: The panel the artwork goes on with "front" placement.
    front: str = "front"
    #: The panels the artwork wraps around with "wrap" placement, left to right.
    wrap: tuple[str, ...] = field(default_factory=tuple)

    def panel(self, name: str) -> Panel:
        for panel in self.panels:
            if panel.name == name:
                return panel
        raise KeyError(name)

    def wrap_box(self) -> tuple[float, float, float, float]:
        """The bounding box of the wrap panels (they sit side by side)."""
        boxes = [self.panel(name).box for name in self.wrap]
        return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


def _check_carton_side(name: str, mm: float) -> float:
    value = check_side(name, mm)
    if not MIN_CARTON_MM <= value <= MAX_CARTON_MM:
        raise PrintError(
            _("A carton's %(name)s must be between %(min)g and %(max)g mm; it is %(mm)g mm.")
            % {"name": name, "min": MIN_CARTON_MM, "max": MAX_CARTON_MM, "mm": value}
        )
    return value


def straight_tuck_end(length: float, width: float, height: float) -> Dieline:
    """A straight-tuck-end folding carton: both closures (with their tucks) hinge from the back panel.

    ``length`` is the front panel's width, ``width`` the side panels' width (the box's depth), ``height`` the
    body height. Left to right: glue flap, front, side, back, side. Dust flaps close the ends from the sides.
    """
    length = _check_carton_side(_("length"), length)
    width = _check_carton_side(_("width"), width)
    height = _check_carton_side(_("height"), height)
    glue = min(GLUE_FLAP_MM, 0.8 * width)
    tuck = min(TUCK_MM, 0.5 * height, 0.8 * length)
    dust = min(0.8 * width, 0.5 * length)
    net_width = glue + 2 * length + 2 * width
    net_height = height + 2 * width + 2 * tuck
    if net_width > MAX_SIDE_MM or net_height > MAX_SIDE_MM:
        raise PrintError(
            _("The flat net would be %(w)g x %(h)g mm; the largest sheet is %(max)g mm. Make the carton smaller.")
            % {"w": round(net_width, 1), "h": round(net_height, 1), "max": MAX_SIDE_MM}
        )
    x0, x1 = 0.0, glue
    x2 = x1 + length
    x3 = x2 + width
    x4 = x3 + length
    x5 = x4 + width
    yb = width + tuck
    yt = yb + height
    taper = min(3.0, height / 4)
    chamfer = min(0.3 * dust, 0.2 * width)
    corner = min(3.0, length / 10)
    panels = (
        Panel("glue", x0, yb, glue, height),
        Panel("front", x1, yb, length, height),
        Panel("side_right", x2, yb, width, height),
        Panel("back", x3, yb, length, height),
        Panel("side_left", x4, yb, width, height),
        Panel("top_closure", x3, yt, length, width),
        Panel("top_tuck", x3, yt + width, length, tuck),
        Panel("bottom_closure", x3, yb - width, length, width),
        Panel("bottom_tuck", x3, yb - width - tuck, length, tuck),
        Panel("dust_top_right", x2, yt, width, dust),
        Panel("dust_top_left", x4, yt, width, dust),
        Panel("dust_bottom_right", x2, yb - dust, width, dust),
        Panel("dust_bottom_left", x4, yb - dust, width, dust),
    )
    top: list[Point] = [
        (x0, yb + taper), (x0, yt - taper), (x1, yt), (x2, yt),
        (x2 + chamfer, yt + dust), (x3 - chamfer, yt + dust), (x3, yt),
        (x3, yt + width), (x3 + corner, yt + width + tuck), (x4 - corner, yt + width + tuck), (x4, yt + width),
        (x4, yt), (x4 + chamfer, yt + dust), (x5 - chamfer, yt + dust), (x5, yt),
    ]  # fmt: skip
    bottom: list[Point] = [
        (x5, yb), (x5 - chamfer, yb - dust), (x4 + chamfer, yb - dust), (x4, yb),
        (x4, yb - width), (x4 - corner, yb - width - tuck), (x3 + corner, yb - width - tuck), (x3, yb - width),
        (x3, yb), (x3 - chamfer, yb - dust), (x2 + chamfer, yb - dust), (x2, yb), (x1, yb), (x0, yb + taper),
    ]  # fmt: skip
    outline = tuple(top + bottom)
    folds: list[Path] = [((x, yb), (x, yt)) for x in (x1, x2, x3, x4)]
    for y in (yt, yb):
        folds += [((x2, y), (x3, y)), ((x3, y), (x4, y)), ((x4, y), (x5, y))]
    folds += [((x3, yt + width), (x4, yt + width)), ((x3, yb - width), (x4, yb - width))]
    return Dieline(
        kind="carton",
        width=net_width,
        height=net_height,
        panels=panels,
        cuts=(outline,),
        folds=tuple(folds),
        front="front",
        wrap=("front", "side_right", "back", "side_left"),
    )


def label(width: float, height: float, corner_radius: float = 0.0) -> Dieline:
    """A flat label: one panel, its outline (with rounded corners when ``corner_radius`` > 0), no folds."""
    width = check_side(_("Width"), width)
    height = check_side(_("Height"), height)
    if isinstance(corner_radius, bool) or not isinstance(corner_radius, int | float) or corner_radius < 0:
        raise PrintError(_("The corner radius must be 0 or more millimetres."))
    if corner_radius > min(width, height) / 2:
        raise PrintError(
            _("A corner radius of %(r)g mm does not fit a %(w)g x %(h)g mm label; at most %(max)g mm.")
            % {"r": corner_radius, "w": width, "h": height, "max": min(width, height) / 2}
        )
    return Dieline(
        kind="label",
        width=width,
        height=height,
        panels=(Panel("front", 0.0, 0.0, width, height),),
        cuts=(rounded_rectangle(0.0, 0.0, width, height, float(corner_radius)),),
        folds=(),
        front="front",
        wrap=("front",),
    )


def rounded_rectangle(x: float, y: float, width: float, height: float, radius: float, steps: int = 12) -> Path:
    """A closed rectangle outline, its corners flattened into ``steps`` segments each when rounded."""
    if radius <= 0:
        return ((x, y), (x + width, y), (x + width, y + height), (x, y + height), (x, y))
    corners = (
        (x + width - radius, y + radius, -90.0),
        (x + width - radius, y + height - radius, 0.0),
        (x + radius, y + height - radius, 90.0),
        (x + radius, y + radius, 180.0),
    )
    points: list[Point] = []
    for cx, cy, start in corners:
        for step in range(steps + 1):
            angle = math.radians(start + 90.0 * step / steps)
            points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    points.append(points[0])
    return tuple(points)


def path_length(path: Path) -> float:
    return sum(math.dist(a, b) for a, b in zip(path, path[1:], strict=False))
