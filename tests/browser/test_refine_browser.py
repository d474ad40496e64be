"""Refine in a real browser: paint a mask on the canvas and run an inpaint; export a carton PDF and read it back.

The app (tests/browser/conftest.py) gets the tiny Stable Diffusion and x4 upscaler demo models and one gallery
image for a user of this module. Screenshots land in var/screenshots/refine/ for a human to look at.
"""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

if not Path("/usr/bin/chromium").exists():
    pytest.skip("Debian's Chromium (/usr/bin/chromium) is not installed", allow_module_level=True)

import pikepdf  # noqa: E402
from playwright.sync_api import expect  # noqa: E402

#: The tiny pipeline and a 300 DPI export on two shared cores can take minutes under load.
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "var" / "screenshots" / "refine"
USER = "refiner"
JOB_MS = 180_000

#: Run in the served app's settings: a user and one 64 x 64 gallery image made as the studio stores one.
SEED_SCRIPT = """
from PIL import Image
from accounts.models import User
from studio import pngmeta, storage
from studio.models import StudioImage
user = User.objects.create_superuser(username="{user}", email="{user}@example.com", password="{password}")
picture = Image.new("RGB", (64, 64), (200, 40, 40))
picture.paste((30, 30, 220), (32, 0, 64, 64))
values = dict(brief="a red and blue box", prompt="a red and blue box", negative="", model="sd-tiny-demo", seed=5,
              steps=4, guidance=5.0, width=64, height=64, preset="")
name = storage.image_save(owner_id=user.pk, data=pngmeta.png_with_metadata(picture, values))
print("image", StudioImage.objects.create(owner=user, file=name, seed=5, metadata=values).pk)
"""


@pytest.fixture(scope="module")
def image_id(app) -> int:
    _manage(app.env, "build_demo_models", "--only", "image", "upscale")
    output = _manage(app.env, "shell", "-c", SEED_SCRIPT.format(user=USER, password=app.password))
    return int(re.search(r"image (\d+)", output).group(1))


def _manage(env: dict[str, str], *args: str) -> str:
    """`manage.py` in the served app's environment (its database and studio folder); its output."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def sign_in(page, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", USER)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("main form button[type=submit]")


def test_paint_a_mask_and_inpaint(app, open_tab, image_id, axe):
    tab = open_tab()
    page = tab.page
    sign_in(page, app.password)
    page.goto(f"/studio/refine/{image_id}/")
    canvas = page.locator("#mask-canvas")
    expect(canvas).to_be_visible()
    expect(canvas).to_have_attribute("width", "64")  # sized to the image (wait_for_function would need eval)
    expect(page.locator("#zoom-level")).to_have_text("400%")  # a 64 px image starts enlarged to fit
    page.click("#zoom-out")  # 300 %: the mask still maps to image pixels
    expect(page.locator("#zoom-level")).to_have_text("300%")
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.4, steps=5)
    page.mouse.up()
    expect(page.locator("#undo")).to_be_enabled()
    painted = page.evaluate(
        """() => { const c = document.getElementById('mask-canvas');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] >= 128) n++; return n; }"""
    )
    assert 0 < painted < 64 * 64 / 2
    page.click("#undo")
    expect(page.locator("#redo")).to_be_enabled()
    page.click("#redo")
    page.fill("#feather", "2")
    page.click("#inpaint-button")
    result = page.locator(".refine-result img").first
    expect(result).to_be_visible(timeout=JOB_MS)
    result.scroll_into_view_if_needed()
    expect(result).to_have_js_property("naturalWidth", 64, timeout=JOB_MS)
    expect(page.locator("#refine-error")).to_be_hidden()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "inpaint.png"), full_page=True)
    violations = axe(page)
    assert violations == [], axe.describe(violations)
    tab.assert_clean_console()


def test_upscale_with_the_model_says_which_was_used(app, open_tab, image_id):
    tab = open_tab(locale="ko-KR")
    page = tab.page
    sign_in(page, app.password)
    page.goto(f"/studio/refine/{image_id}/")
    expect(page.locator("#upscale-method")).to_have_value("model")
    page.click("[data-upscale='2']")
    result = page.locator(".refine-result").first
    expect(result.locator("img")).to_have_js_property("naturalWidth", 128, timeout=JOB_MS)
    expect(result.locator("figcaption")).to_contain_text("업스케일 모델 x4 upscaler tiny (random weights)")
    page.select_option("#upscale-method", "resampler")
    page.click("[data-upscale='2']")
    expect(page.locator(".refine-result figcaption").first).to_contain_text("Lanczos 리샘플러", timeout=JOB_MS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "upscale.png"), full_page=True)
    tab.assert_clean_console()


def test_export_a_carton_pdf(cmyk_profile, app, open_tab, image_id):
    tab = open_tab(locale="ko-KR")
    page = tab.page
    sign_in(page, app.password)
    page.goto(f"/studio/refine/{image_id}/")
    page.select_option("#export-shape", "carton")
    page.fill("input[name=length_mm]", "40")
    page.fill("input[name=depth_mm]", "20")
    page.locator("label[data-for=carton] input[name=height_mm]").fill("60")
    page.select_option("select[name=placement]", "wrap")
    expect(page.locator("#print-preview")).to_be_visible()
    expect(page.locator("#print-facts")).to_contain_text("mm")
    expect(page.locator("#print-warnings li").first).to_be_visible()  # 64 px on a carton prints soft
    page.locator("input[name=length_mm]").fill("5")
    expect(page.locator("#refine-error")).to_be_visible()  # an impossible carton, said in Korean
    assert re.search("[\uac00-\ud7a3]", page.locator("#refine-error").inner_text())
    page.locator("input[name=length_mm]").fill("40")
    expect(page.locator("#refine-error")).to_be_hidden()
    page.click("#export-button")
    link = page.locator("#downloads a[data-kind=pdf]")
    expect(link).to_be_visible(timeout=JOB_MS)
    response = page.request.get(link.get_attribute("href"))
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    with pikepdf.open(io.BytesIO(response.body())) as pdf:
        page_obj = pdf.pages[0].obj
        trim = [float(v) for v in page_obj.TrimBox]
        bleed = [float(v) for v in page_obj.BleedBox]
        # Net of a 40 x 20 x 60 mm carton: 15 + 2*40 + 2*20 = 135 mm wide, trimmed; bleed 3 mm each side.
        assert trim[2] - trim[0] == pytest.approx(135 / 25.4 * 72, abs=0.05)
        assert bleed[2] - bleed[0] == pytest.approx(141 / 25.4 * 72, abs=0.05)
        assert str(pdf.Root.OCProperties.OCGs[0].Name) == "Dieline"
        assert pdf.Root.OutputIntents[0].S == pikepdf.Name.GTS_PDFX
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "export-carton-ko.png"), full_page=True)
    # The impossible carton above was answered 400 on purpose; Chromium logs any 400 as a console error.
    tab.errors = [e for e in tab.errors if not ("print-preview" in e and "400" in e)]
    tab.assert_clean_console()
