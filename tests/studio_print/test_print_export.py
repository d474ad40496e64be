"""The exported PDF and TIFF read back with pikepdf and Pillow: boxes, output intent, spot colours, layer."""

from __future__ import annotations

import io

import pikepdf
import pytest
from django.test import override_settings
from PIL import Image, ImageCms

from studio.printing import color
from studio.printing.errors import PrintError
from studio.printing.export import ExportOptions, export_print, plan_export
from studio.printing.sizing import mm_to_pt

PT_TOLERANCE = 0.01


def artwork(size=(600, 400)) -> Image.Image:
    """Left half red, right half blue: placement and cropping are visible in the pixels."""
    image = Image.new("RGB", size, (220, 30, 40))
    image.paste((20, 40, 200), (size[0] // 2, 0, size[0], size[1]))
    return image


def boxes(document: pikepdf.Pdf) -> dict[str, list[float]]:
    page = document.pages[0].obj
    return {name: [float(v) for v in page[f"/{name}"]] for name in ("MediaBox", "BleedBox", "TrimBox")}


def assert_box(actual: list[float], expected: list[float]) -> None:
    assert actual == pytest.approx(expected, abs=PT_TOLERANCE)


def test_sheet_pdf_page_is_trim_plus_bleed_with_trim_and_bleed_boxes():
    result = export_print(artwork(), ExportOptions(width_mm=90, height_mm=50, crop_marks=False), formats=("pdf",))
    with pikepdf.open(io.BytesIO(result.pdf)) as document:
        found = boxes(document)
        width, height = mm_to_pt(96), mm_to_pt(56)
        assert_box(found["MediaBox"], [0, 0, width, height])
        assert_box(found["BleedBox"], [0, 0, width, height])
        assert_box(found["TrimBox"], [mm_to_pt(3), mm_to_pt(3), mm_to_pt(93), mm_to_pt(53)])
        image = document.pages[0].obj.Resources.XObject.Im0
        assert image.ColorSpace == pikepdf.Name.DeviceCMYK
        assert (int(image.Width), int(image.Height)) == result.plan.size.bleed_px
        decoded = pikepdf.PdfImage(image).as_pil_image()
        assert decoded.mode == "CMYK"


def test_pdf_output_intent_carries_the_cmyk_profile():
    result = export_print(artwork(), ExportOptions(width_mm=90, height_mm=50), formats=("pdf",))
    profile = color.output_profile()
    with pikepdf.open(io.BytesIO(result.pdf)) as document:
        (intent,) = document.Root.OutputIntents
        assert intent.S == pikepdf.Name.GTS_PDFX
        assert str(intent.OutputConditionIdentifier) == profile.identifier
        stream = intent.DestOutputProfile
        assert int(stream.N) == 4
        assert stream.read_bytes() == profile.data
        icc = ImageCms.ImageCmsProfile(io.BytesIO(stream.read_bytes()))
        assert icc.profile.xcolor_space.strip() == "CMYK"


def test_crop_marks_enlarge_the_media_box_outside_the_bleed():
    result = export_print(artwork(), ExportOptions(width_mm=90, height_mm=50, crop_marks=True), formats=("pdf",))
    with pikepdf.open(io.BytesIO(result.pdf)) as document:
        found = boxes(document)
        media, bleed = found["MediaBox"], found["BleedBox"]
        assert media[2] - media[0] > bleed[2] - bleed[0]
        assert bleed[2] - bleed[0] == pytest.approx(mm_to_pt(96), abs=PT_TOLERANCE)
        content = document.pages[0].obj.Contents.read_bytes().decode()
        assert "/CSAll CS" in content
        separation = document.pages[0].obj.Resources.ColorSpace.CSAll
        assert separation[1] == pikepdf.Name("/All")


def test_carton_pdf_has_cut_and_crease_separations_on_a_dieline_layer():
    options = ExportOptions(shape="carton", length_mm=40, depth_mm=20, height_mm=60, crop_marks=False)
    result = export_print(artwork(), options, formats=("pdf",))
    net = result.plan.dieline
    assert net is not None
    with pikepdf.open(io.BytesIO(result.pdf)) as document:
        found = boxes(document)
        assert_box(found["MediaBox"], [0, 0, mm_to_pt(net.width + 6), mm_to_pt(net.height + 6)])
        assert_box(found["TrimBox"], [mm_to_pt(3), mm_to_pt(3), mm_to_pt(net.width + 3), mm_to_pt(net.height + 3)])
        resources = document.pages[0].obj.Resources
        names = {str(space[1]) for space in resources.ColorSpace.values()}
        assert {"/CutContour", "/Crease"} <= names
        for space in resources.ColorSpace.values():
            assert space[0] == pikepdf.Name.Separation
            assert space[2] == pikepdf.Name.DeviceCMYK
        (layer,) = document.Root.OCProperties.OCGs
        assert layer.Type == pikepdf.Name.OCG
        assert str(layer.Name) == "Dieline"
        assert resources.Properties.Dieline.objgen == layer.objgen
        content = document.pages[0].obj.Contents.read_bytes().decode()
        layer_part = content[content.index("/OC /Dieline BDC") : content.index("EMC")]
        assert "/CSCut CS" in layer_part and "/CSCrease CS" in layer_part


def test_tiff_is_cmyk_at_300_dpi_with_the_profile_embedded():
    result = export_print(artwork(), ExportOptions(width_mm=60, height_mm=40), formats=("tiff",))
    with Image.open(io.BytesIO(result.tiff)) as tiff:
        assert tiff.format == "TIFF"
        assert tiff.mode == "CMYK"
        assert tiff.size == result.plan.size.bleed_px
        assert tuple(round(float(v)) for v in tiff.info["dpi"]) == (300, 300)
        assert tiff.info["icc_profile"] == color.output_profile().data


def test_front_placement_leaves_the_back_panel_blank_and_wrap_covers_it():
    options = ExportOptions(shape="carton", length_mm=40, depth_mm=20, height_mm=60, crop_marks=False)
    front = export_print(artwork(), options, formats=("tiff",))
    wrapped = export_print(artwork(), ExportOptions(**{**options.__dict__, "placement": "wrap"}), formats=("tiff",))
    net = front.plan.dieline
    assert net is not None
    back = net.panel("back")
    scale = 300 / 25.4

    def pixel(result, x_mm: float, y_mm: float) -> tuple[int, ...]:
        with Image.open(io.BytesIO(result.tiff)) as tiff:
            row = round((net.height + 3 - y_mm) * scale)
            return tiff.getpixel((round((x_mm + 3) * scale), row))

    centre_back = (back.x + back.width / 2, back.y + back.height / 2)
    front_panel = net.panel("front")
    assert pixel(front, *centre_back) == (0, 0, 0, 0)  # paper: no ink
    assert sum(pixel(wrapped, *centre_back)) > 200
    assert sum(pixel(front, front_panel.x + 2, front_panel.y + 30)) > 200


def test_preview_is_a_small_png_and_a_small_source_is_warned():
    result = export_print(artwork((64, 64)), ExportOptions(width_mm=148, height_mm=210), formats=("preview",))
    with Image.open(io.BytesIO(result.preview)) as preview:
        assert preview.format == "PNG"
        assert max(preview.size) <= 1200
    assert result.warnings and "64 x 64" in result.warnings[0]


def test_intents_change_the_separation():
    image = Image.new("RGB", (4, 4), (250, 240, 230))
    assert color.to_cmyk(image, "absolute").getpixel((0, 0)) != color.to_cmyk(image, "relative").getpixel((0, 0))


@pytest.mark.parametrize(
    "options",
    [
        ExportOptions(intent="vivid"),
        ExportOptions(shape="box"),
        ExportOptions(placement="back"),  # type: ignore[arg-type]
        ExportOptions(shape="carton", length_mm=40, depth_mm=0, height_mm=60),
        ExportOptions(width_mm=2000),
        ExportOptions(width_mm=0),
    ],
)
def test_bad_options_are_refused_before_any_work(options):
    with pytest.raises(PrintError):
        plan_export(options)


def test_a_missing_profile_says_what_to_install(tmp_path):
    with override_settings(STUDIO_CMYK_PROFILE=str(tmp_path / "none.icc")), pytest.raises(PrintError) as caught:
        color.output_profile()
    assert "libgs-common" in str(caught.value)


def test_an_rgb_profile_is_refused(tmp_path):
    path = tmp_path / "srgb.icc"
    path.write_bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    with override_settings(STUDIO_CMYK_PROFILE=str(path)), pytest.raises(PrintError, match="CMYK"):
        color.output_profile()


def test_preview_only_is_small_and_judges_the_source_at_print_resolution():
    from studio.printing.export import preview_only

    options = ExportOptions(shape="carton", length_mm=148, depth_mm=50, height_mm=210, placement="wrap")
    result = preview_only(artwork((512, 512)), options)
    with Image.open(io.BytesIO(result.preview)) as png:
        assert png.width == round((result.plan.dieline.width + 6) / 25.4 * 40)
    full = export_print(artwork((512, 512)), options, formats=("preview",))
    assert result.source.effective_dpi == pytest.approx(full.source.effective_dpi, rel=0.02)
    assert result.warnings and result.source.effective_dpi < 150
    assert result.pdf == b"" and result.tiff == b""


def test_a_print_resolution_below_150_dpi_is_refused():
    with pytest.raises(PrintError, match="DPI"):
        plan_export(ExportOptions(dpi=40))
