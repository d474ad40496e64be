"""Write a print PDF with pikepdf: CMYK image, page boxes, output intent, crop marks and a dieline layer.

What a print shop's preflight looks for, written as plain PDF objects:
- MediaBox = BleedBox = trim plus bleed (or larger by a margin when crop marks are drawn), TrimBox = trim;
- the ICC output profile as a GTS_PDFX OutputIntent, and the image in DeviceCMYK (interpreted through it);
- crop marks in the registration colour (Separation /All) outside the bleed;
- cut and fold lines as Separation colours named CutContour and Crease, overprinting, inside an optional
  content group (a layer named "Dieline") so they can be switched off for proofs and never print as ink.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass

import pikepdf
from pikepdf import Array, Dictionary, Name, String
from PIL import Image

from .color import OutputProfile
from .dielines import Dieline, Path
from .sizing import mm_to_pt

#: Crop marks: gap from the bleed edge, then their length (mm). The page grows by both on every side.
MARK_GAP_MM = 2.0
MARK_LENGTH_MM = 6.0
MARK_WIDTH_PT = 0.25
DIELINE_WIDTH_PT = 0.5
CUT_CONTOUR = "CutContour"
CREASE = "Crease"
DIELINE_LAYER = "Dieline"
#: Alternate (on-screen) CMYK of each spot colour: magenta cuts, cyan creases, as most shops show them.
SPOT_ALTERNATES = {CUT_CONTOUR: [0, 1, 0, 0], CREASE: [1, 0, 0, 0], "All": [1, 1, 1, 1]}
#: zlib level for the image: 1 keeps an A5 carton at 300 DPI to a few seconds; higher levels save little on
#: photographic content.
IMAGE_COMPRESSION = 1


@dataclass(frozen=True)
class PageBoxes:
    """The page's boxes in points: [x0, y0, x1, y1]."""

    media: tuple[float, float, float, float]
    bleed: tuple[float, float, float, float]
    trim: tuple[float, float, float, float]


def page_boxes(width_mm: float, height_mm: float, bleed_mm: float, crop_marks: bool) -> PageBoxes:
    margin = mm_to_pt(MARK_GAP_MM + MARK_LENGTH_MM + 1.0) if crop_marks else 0.0
    bleed = mm_to_pt(bleed_mm)
    width, height = mm_to_pt(width_mm), mm_to_pt(height_mm)
    outer_w, outer_h = width + 2 * bleed + 2 * margin, height + 2 * bleed + 2 * margin
    return PageBoxes(
        media=(0.0, 0.0, outer_w, outer_h),
        bleed=(margin, margin, outer_w - margin, outer_h - margin),
        trim=(margin + bleed, margin + bleed, margin + bleed + width, margin + bleed + height),
    )


def _separation(pdf: pikepdf.Pdf, name: str) -> pikepdf.Object:
    tint = Dictionary(
        FunctionType=2,
        Domain=Array([0, 1]),
        C0=Array([0, 0, 0, 0]),
        C1=Array(SPOT_ALTERNATES[name]),
        N=1,
    )
    return pdf.make_indirect(Array([Name.Separation, Name("/" + name), Name.DeviceCMYK, tint]))


def _fmt(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _stroke(paths: tuple[Path, ...], origin: tuple[float, float]) -> str:
    ops: list[str] = []
    for path in paths:
        for index, (x, y) in enumerate(path):
            px, py = origin[0] + mm_to_pt(x), origin[1] + mm_to_pt(y)
            ops.append(f"{_fmt(px)} {_fmt(py)} {'m' if index == 0 else 'l'}")
        ops.append("S")
    return "\n".join(ops)


def _crop_marks(trim: tuple[float, float, float, float], bleed_mm: float) -> str:
    gap = mm_to_pt(bleed_mm + MARK_GAP_MM)
    length = mm_to_pt(MARK_LENGTH_MM)
    x0, y0, x1, y1 = trim
    ops: list[str] = []
    for x, sx in ((x0, -1), (x1, 1)):
        for y, sy in ((y0, -1), (y1, 1)):
            # Horizontal mark on the trim line y, outside the bleed; vertical mark on the trim line x.
            ops.append(f"{_fmt(x + sx * gap)} {_fmt(y)} m {_fmt(x + sx * (gap + length))} {_fmt(y)} l S")
            ops.append(f"{_fmt(x)} {_fmt(y + sy * gap)} m {_fmt(x)} {_fmt(y + sy * (gap + length))} l S")
    return "\n".join(ops)


def image_stream(pdf: pikepdf.Pdf, image: Image.Image) -> pikepdf.Stream:
    """The CMYK raster as a Flate-compressed DeviceCMYK image (0 = no ink, as in Pillow's CMYK)."""
    if image.mode != "CMYK":
        raise ValueError("the print image must be CMYK")
    return pikepdf.Stream(
        pdf,
        zlib.compress(image.tobytes(), IMAGE_COMPRESSION),
        Type=Name.XObject,
        Subtype=Name.Image,
        Width=image.width,
        Height=image.height,
        ColorSpace=Name.DeviceCMYK,
        BitsPerComponent=8,
        Filter=Name.FlateDecode,
    )


def write_pdf(
    image: Image.Image,
    *,
    width_mm: float,
    height_mm: float,
    bleed_mm: float,
    profile: OutputProfile,
    dieline: Dieline | None = None,
    crop_marks: bool = False,
    title: str = "",
) -> bytes:
    """One page: ``image`` (CMYK, covering the bleed box) plus optional crop marks and dieline layer."""
    boxes = page_boxes(width_mm, height_mm, bleed_mm, crop_marks)
    pdf = pikepdf.new()
    page = pdf.add_blank_page(page_size=(boxes.media[2], boxes.media[3]))
    page.obj.BleedBox = Array(list(boxes.bleed))
    page.obj.TrimBox = Array(list(boxes.trim))
    resources = Dictionary(XObject=Dictionary(Im0=pdf.make_indirect(image_stream(pdf, image))))
    bx0, by0, bx1, by1 = boxes.bleed
    content = [f"q {_fmt(bx1 - bx0)} 0 0 {_fmt(by1 - by0)} {_fmt(bx0)} {_fmt(by0)} cm /Im0 Do Q"]
    color_spaces = Dictionary()
    if crop_marks:
        color_spaces.CSAll = _separation(pdf, "All")
        content.append(f"q /CSAll CS 1 SCN {MARK_WIDTH_PT} w 0 J\n{_crop_marks(boxes.trim, bleed_mm)}\nQ")
    if dieline is not None:
        color_spaces.CSCut = _separation(pdf, CUT_CONTOUR)
        color_spaces.CSCrease = _separation(pdf, CREASE)
        layer = pdf.make_indirect(Dictionary(Type=Name.OCG, Name=String(DIELINE_LAYER)))
        pdf.Root.OCProperties = Dictionary(
            OCGs=Array([layer]),
            D=Dictionary(Name=String("Print"), Order=Array([layer]), ON=Array([layer]), OFF=Array([])),
        )
        resources.Properties = Dictionary(Dieline=layer)
        resources.ExtGState = Dictionary(GSop=Dictionary(Type=Name.ExtGState, OP=True, op=True, OPM=1))
        origin = (boxes.trim[0], boxes.trim[1])
        content.append(
            f"/OC /Dieline BDC q /GSop gs {DIELINE_WIDTH_PT} w 1 j\n"
            f"/CSCut CS 1 SCN\n{_stroke(dieline.cuts, origin)}\n"
            f"[{_fmt(mm_to_pt(3))} {_fmt(mm_to_pt(1.5))}] 0 d /CSCrease CS 1 SCN\n{_stroke(dieline.folds, origin)}\n"
            "Q EMC"
        )
    if len(color_spaces.keys()):
        resources.ColorSpace = color_spaces
    page.obj.Resources = resources
    page.obj.Contents = pdf.make_stream("\n".join(content).encode("ascii"))
    _output_intent(pdf, profile)
    with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
        meta["dc:title"] = title or "Print export"
    pdf.docinfo.Title = String(title or "Print export")
    pdf.docinfo.Creator = String("EXAONE studio print export")
    pdf.docinfo.Trapped = Name("/False")
    buffer = io.BytesIO()
    pdf.save(buffer, compress_streams=True)
    return buffer.getvalue()


def _output_intent(pdf: pikepdf.Pdf, profile: OutputProfile) -> None:
    icc = pikepdf.Stream(pdf, profile.data, N=4, Alternate=Name.DeviceCMYK)
    pdf.Root.OutputIntents = Array(
        [
            Dictionary(
                Type=Name.OutputIntent,
                S=Name.GTS_PDFX,
                OutputConditionIdentifier=String(profile.identifier),
                OutputCondition=String(profile.identifier),
                Info=String(profile.identifier),
                RegistryName=String("http://www.color.org"),
                DestOutputProfile=pdf.make_indirect(icc),
            )
        ]
    )
