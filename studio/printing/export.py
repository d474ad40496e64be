"""The print export as one call: validate options, lay the artwork out, convert to CMYK, write PDF/TIFF/preview.

``plan_export`` validates everything that does not need the image (so a form can show errors at once);
``export_print`` does the work. Both raise PrintError with a translated message on bad input.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

from django.utils.translation import gettext as _
from PIL import Image

from . import color, dielines, layout, pdf, preview, tiff
from .dielines import Dieline
from .errors import PrintError
from .sizing import DEFAULT_BLEED_MM, DEFAULT_DPI, PREVIEW_DPI, PrintSize, SourceCheck, check_dpi, check_source

Shape = Literal["sheet", "carton", "label"]
SHAPES: tuple[str, ...] = ("sheet", "carton", "label")
FORMATS: tuple[str, ...] = ("pdf", "tiff", "preview")


@dataclass(frozen=True)
class ExportOptions:
    """What the user chose. ``width_mm`` / ``height_mm`` are the sheet's or label's trim size; a carton uses
    ``length_mm`` x ``depth_mm`` x ``height_mm`` (front width, side width, body height)."""

    shape: Shape = "sheet"
    width_mm: float = 148.0
    height_mm: float = 210.0
    length_mm: float = 0.0
    depth_mm: float = 0.0
    corner_radius_mm: float = 0.0
    bleed_mm: float = DEFAULT_BLEED_MM
    dpi: int = DEFAULT_DPI
    intent: str = color.DEFAULT_INTENT
    crop_marks: bool = True
    placement: layout.Placement = "front"


@dataclass(frozen=True)
class ExportPlan:
    options: ExportOptions
    size: PrintSize
    dieline: Dieline | None


@dataclass
class ExportResult:
    plan: ExportPlan
    source: SourceCheck
    pdf: bytes = b""
    tiff: bytes = b""
    preview: bytes = b""
    warnings: list[str] = field(default_factory=list)
    #: Milliseconds per stage: layout, cmyk, pdf, tiff, preview.
    timings: dict[str, float] = field(default_factory=dict)


def plan_export(options: ExportOptions) -> ExportPlan:
    """Check the options and build the dieline; nothing is rendered."""
    if options.shape not in SHAPES:
        raise PrintError(_("Choose a sheet, a carton or a label."))
    if options.placement not in layout.PLACEMENTS:
        raise PrintError(_("Place the image on the front panel or wrap it around: choose front or wrap."))
    color.check_intent(options.intent)
    check_dpi(options.dpi)
    net: Dieline | None = None
    if options.shape == "carton":
        net = dielines.straight_tuck_end(options.length_mm, options.depth_mm, options.height_mm)
    elif options.shape == "label":
        net = dielines.label(options.width_mm, options.height_mm, options.corner_radius_mm)
    if net is None:
        size = PrintSize(options.width_mm, options.height_mm, options.bleed_mm, options.dpi)
    else:
        size = PrintSize(net.width, net.height, options.bleed_mm, options.dpi)
    return ExportPlan(options=options, size=size, dieline=net)


def export_print(
    image: Image.Image, options: ExportOptions, *, formats: tuple[str, ...] = FORMATS, title: str = ""
) -> ExportResult:
    """Lay ``image`` out for ``options`` and write the asked ``formats`` (pdf, tiff, preview)."""
    unknown = set(formats) - set(FORMATS)
    if unknown or not formats:
        raise PrintError(_("Choose what to export: pdf, tiff or preview."))
    plan = plan_export(options)
    profile = color.output_profile()
    timings: dict[str, float] = {}
    started = time.perf_counter()
    laid = layout.lay_out(image, plan.size, plan.dieline, options.placement)
    timings["layout"] = _ms(started)
    started = time.perf_counter()
    cmyk = color.to_cmyk(laid.image, options.intent)
    timings["cmyk"] = _ms(started)
    result = ExportResult(plan=plan, source=laid.source, timings=timings)
    if laid.source.warning:
        result.warnings.append(laid.source.warning)
    size = plan.size
    if "pdf" in formats:
        started = time.perf_counter()
        result.pdf = pdf.write_pdf(
            cmyk,
            width_mm=size.width_mm,
            height_mm=size.height_mm,
            bleed_mm=size.bleed_mm,
            profile=profile,
            dieline=plan.dieline,
            crop_marks=options.crop_marks,
            title=title,
        )
        timings["pdf"] = _ms(started)
    if "tiff" in formats:
        started = time.perf_counter()
        result.tiff = tiff.write_tiff(cmyk, profile=profile, dpi=size.dpi)
        timings["tiff"] = _ms(started)
    if "preview" in formats:
        started = time.perf_counter()
        result.preview = preview.preview_png(
            color.cmyk_to_screen(cmyk.reduce(max(1, max(cmyk.size) // preview.PREVIEW_MAX_SIDE))),
            width_mm=size.width_mm,
            height_mm=size.height_mm,
            bleed_mm=size.bleed_mm,
            dieline=plan.dieline,
        )
        timings["preview"] = _ms(started)
    return result


def preview_only(image: Image.Image, options: ExportOptions) -> ExportResult:
    """The flat preview alone, laid out at PREVIEW_DPI: fast enough to answer a form change at once."""
    plan = plan_export(options)
    size = PrintSize(plan.size.width_mm, plan.size.height_mm, plan.size.bleed_mm, PREVIEW_DPI)
    laid = layout.lay_out(image, size, plan.dieline, options.placement)
    # The source is judged against the real print resolution, not the preview's.
    ratio = plan.size.dpi / PREVIEW_DPI
    needed = (round(laid.source.needed_px[0] * ratio), round(laid.source.needed_px[1] * ratio))
    source = check_source(laid.source.source_px, needed, plan.size.dpi)
    result = ExportResult(plan=plan, source=source, warnings=[source.warning] if source.warning else [])
    result.preview = preview.preview_png(
        color.cmyk_to_screen(color.to_cmyk(laid.image, options.intent)),
        width_mm=size.width_mm,
        height_mm=size.height_mm,
        bleed_mm=size.bleed_mm,
        dieline=plan.dieline,
    )
    return result


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)
