"""Physical sizes in millimetres to pixels at a print resolution, with bleed, and the source-size check."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from .errors import PrintError

MM_PER_INCH = 25.4
POINTS_PER_INCH = 72.0
DEFAULT_DPI = 300
MIN_DPI = 150
MAX_DPI = 600
DEFAULT_BLEED_MM = 3.0
MAX_BLEED_MM = 10.0
#: Screen previews are laid out like the print at this low resolution.
PREVIEW_DPI = 40
#: The smallest printable side: below this a print shop cannot cut reliably.
MIN_SIDE_MM = 10.0
#: The largest side: a B0 poster is 1000 x 1414 mm; wide-format is out of scope.
MAX_SIDE_MM = 1000.0
#: A raster page above this many pixels would need gigabytes in memory; the user lowers size or resolution.
MAX_PIXELS = 100_000_000
#: Below this effective resolution the print looks soft: a warning, not a refusal.
WARN_BELOW_DPI = 150


def mm_to_px(mm: float, dpi: int = DEFAULT_DPI) -> int:
    """Whole pixels covering ``mm`` at ``dpi``, rounded to the nearest pixel."""
    return max(1, round(mm / MM_PER_INCH * dpi))


def mm_to_pt(mm: float) -> float:
    return mm / MM_PER_INCH * POINTS_PER_INCH


def check_side(name: str, mm: float) -> float:
    """``mm`` as a float when it is a printable side length; a translated PrintError otherwise."""
    if isinstance(mm, bool) or not isinstance(mm, int | float) or mm != mm:
        raise PrintError(_("%(name)s must be a number of millimetres.") % {"name": name})
    if mm < MIN_SIDE_MM:
        raise PrintError(
            _("%(name)s is %(mm)g mm; the smallest printable size is %(min)g mm.")
            % {"name": name, "mm": mm, "min": MIN_SIDE_MM}
        )
    if mm > MAX_SIDE_MM:
        raise PrintError(
            _("%(name)s is %(mm)g mm; the largest size this export makes is %(max)g mm. Choose a smaller size.")
            % {"name": name, "mm": mm, "max": MAX_SIDE_MM}
        )
    return float(mm)


def check_bleed(bleed_mm: float) -> float:
    if isinstance(bleed_mm, bool) or not isinstance(bleed_mm, int | float) or not 0 <= bleed_mm <= MAX_BLEED_MM:
        raise PrintError(_("Bleed must be between 0 and %(max)g mm (3 mm is usual).") % {"max": MAX_BLEED_MM})
    return float(bleed_mm)


def check_dpi(dpi: int) -> int:
    if isinstance(dpi, bool) or not isinstance(dpi, int) or not MIN_DPI <= dpi <= MAX_DPI:
        raise PrintError(
            _("Resolution must be between %(min)d and %(max)d DPI (300 is usual).") % {"min": MIN_DPI, "max": MAX_DPI}
        )
    return dpi


@dataclass(frozen=True)
class PrintSize:
    """A trimmed piece of ``width_mm`` x ``height_mm`` with ``bleed_mm`` of extra image on every side."""

    width_mm: float
    height_mm: float
    bleed_mm: float = DEFAULT_BLEED_MM
    dpi: int = DEFAULT_DPI

    def __post_init__(self) -> None:
        check_side(_("Width"), self.width_mm)
        check_side(_("Height"), self.height_mm)
        check_bleed(self.bleed_mm)
        if not PREVIEW_DPI <= self.dpi <= MAX_DPI:
            check_dpi(self.dpi)  # the user's resolution is checked in full by plan_export
        width, height = self.bleed_px
        if width * height > MAX_PIXELS:
            raise PrintError(
                _(
                    "%(w)d x %(h)d mm at %(dpi)d DPI needs %(mp)d megapixels; the limit is %(max)d. "
                    "Choose a smaller size or a lower resolution."
                )
                % {
                    "w": self.width_mm,
                    "h": self.height_mm,
                    "dpi": self.dpi,
                    "mp": width * height // 1_000_000,
                    "max": MAX_PIXELS // 1_000_000,
                }
            )

    @property
    def bleed_width_mm(self) -> float:
        return self.width_mm + 2 * self.bleed_mm

    @property
    def bleed_height_mm(self) -> float:
        return self.height_mm + 2 * self.bleed_mm

    @property
    def trim_px(self) -> tuple[int, int]:
        return mm_to_px(self.width_mm, self.dpi), mm_to_px(self.height_mm, self.dpi)

    @property
    def bleed_px(self) -> tuple[int, int]:
        """The raster size of the whole page: trim plus bleed on both sides."""
        return mm_to_px(self.bleed_width_mm, self.dpi), mm_to_px(self.bleed_height_mm, self.dpi)


@dataclass(frozen=True)
class SourceCheck:
    """How a source image compares with the pixels a region needs."""

    needed_px: tuple[int, int]
    source_px: tuple[int, int]
    #: The resolution the source gives at this size, before upscaling.
    effective_dpi: float
    #: How much the source is enlarged (1.0 or less: no upscale needed).
    upscale: float
    warning: str = ""


def check_source(source_px: tuple[int, int], needed_px: tuple[int, int], dpi: int = DEFAULT_DPI) -> SourceCheck:
    """Compare a source with the pixels needed when it covers the region (scaled to fill, then cropped)."""
    scale = max(needed_px[0] / source_px[0], needed_px[1] / source_px[1])
    effective = dpi / scale
    warning = ""
    if effective < WARN_BELOW_DPI:
        warning = _(
            "The image is %(sw)d x %(sh)d pixels: at this size it gives about %(dpi)d DPI and will print soft. "
            "Upscale it first or choose a smaller size; %(dpi_ok)d DPI or more is recommended."
        ) % {"sw": source_px[0], "sh": source_px[1], "dpi": round(effective), "dpi_ok": WARN_BELOW_DPI}
    return SourceCheck(
        needed_px=needed_px, source_px=source_px, effective_dpi=effective, upscale=scale, warning=warning
    )
