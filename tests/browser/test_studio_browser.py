"""The design studio in a real browser: a Korean brief becomes an English prompt, an image is generated with
live progress, starred, recalled and put on a board; axe-core on the studio pages in both languages and themes.
Screenshots land in var/screenshots/studio/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

if not Path("/usr/bin/chromium").exists():
    pytest.skip("Debian's Chromium (/usr/bin/chromium) is not installed", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402
from test_shell_browser import DISPATCH_FILES, file_payload, is_expected_http_error, sign_in, use_language  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "studio"
LONG_MS = 240_000

#: Records every progress event the page's socket receives (an init script, before the page's own code).
WATCH_SOCKET = """
window.__studioEvents = [];
const RealSocket = window.WebSocket;
window.WebSocket = function (url, protocols) {
  const socket = new RealSocket(url, protocols);
  socket.addEventListener("message", (m) => { try { window.__studioEvents.push(JSON.parse(m.data)); } catch (e) {} });
  return socket;
};
window.WebSocket.prototype = RealSocket.prototype;
Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
"""


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def test_a_designer_turns_a_korean_brief_into_an_image_stars_recalls_and_boards_it(open_tab, app):
    tab = open_tab()
    page = tab.page
    page.add_init_script(WATCH_SOCKET)
    sign_in(page, "designer", app.password)
    page.click("nav.main-nav >> text=Studio")
    expect(page).to_have_url(re.compile(r"/studio/$"))

    expect(page.locator("#size")).to_have_value("draft")  # the demo model starts small and quick
    page.fill("#brief", "봄의 향기를 담은 파스텔 향수 상자")
    page.click("#rewrite-button")
    expect(page.locator("#prompt")).not_to_have_value("", timeout=LONG_MS)
    expect(page.locator("#rewrite-status")).not_to_be_empty()
    english = page.input_value("#prompt")
    # The tiny base model's English is poor: the designer edits the prompt before generating.
    page.fill("#prompt", "pastel perfume box, spring flowers, soft light")
    page.fill("#steps", "6")
    page.click("#generate-button")

    card = page.locator(".job-card").first
    expect(card).to_be_visible()
    result = page.locator("#results .image-card").first
    expect(result).to_be_visible(timeout=LONG_MS)
    shot(page, "studio-result-en")
    events = page.evaluate("window.__studioEvents")
    steps = [e["step"] for e in events if e["type"] == "generation.progress" and "step" in e]
    assert steps and max(steps) == 6, events
    assert any(e.get("preview", "").startswith("data:image/jpeg") for e in events if e["type"] == "generation.progress")
    seed = page.input_value("#seed")
    assert seed.isdigit()
    expect(result.locator("img")).to_have_js_property("complete", True)
    assert result.locator("img").evaluate("img => img.naturalWidth") == 64

    result.locator("[data-action=star]").click()
    expect(result.locator("[data-action=star]")).to_have_attribute("aria-pressed", "true")

    page.fill("#brief", "")
    page.fill("#prompt", "")
    result.locator("[data-action=recall]").click()
    expect(page.locator("#brief")).to_have_value("봄의 향기를 담은 파스텔 향수 상자")
    expect(page.locator("#prompt")).to_have_value("pastel perfume box, spring flowers, soft light")
    expect(page.locator("#seed")).to_have_value(seed)
    expect(page.locator("input[name=seed-mode][value=fixed]")).to_be_checked()
    assert english  # the rewrite's output (or the brief, when the model gave nothing usable) was shown

    page.click("text=Gallery and boards")
    expect(page).to_have_url(re.compile(r"/studio/gallery/$"))
    expect(page.locator("#gallery-status")).not_to_be_empty()  # the page's script is running
    page.fill("#board-name", "Spring 2027")
    page.click("#board-form button[type=submit]")
    expect(page.locator("#board-list li")).to_contain_text("Spring 2027")
    image = page.locator("#gallery-grid .image-card").first
    expect(image).to_be_visible()
    image.locator("select").select_option(label="Spring 2027")
    page.select_option("#filter-board", label="Spring 2027")
    expect(page.locator("#gallery-grid .image-card")).to_have_count(1)
    page.check("#gallery-filters input[name=starred]")
    page.click("#gallery-filters button[type=submit]")
    expect(page.locator("#gallery-grid .image-card")).to_have_count(1)
    shot(page, "gallery-board-en")
    tab.assert_clean_console()


def _studio_png() -> bytes:
    from PIL import Image

    from studio.pngmeta import png_with_metadata

    settings = {
        "brief": "라벨 디자인",
        "prompt": "minimal bottle label, green",
        "negative": "text",
        "model": "sd-tiny-demo",
        "seed": 987654,
        "steps": 12,
        "guidance": 6.5,
        "width": 768,
        "height": 256,
        "preset": "",
    }
    return png_with_metadata(Image.new("RGB", (16, 16), (30, 120, 60)), settings)


SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def test_a_studio_png_dropped_or_pasted_on_the_recall_box_fills_the_form_and_an_svg_is_refused(open_tab, app):
    tab = open_tab()
    page = tab.page
    sign_in(page, "inspector", app.password)
    page.goto("/studio/")
    expect(page.locator("#size")).to_have_value("draft")  # the page's script is running

    took = page.evaluate(
        DISPATCH_FILES, ["#recall-zone", "drop", [file_payload("label.png", _studio_png(), "image/png")], ""]
    )
    assert took is True
    expect(page.locator("#brief")).to_have_value("라벨 디자인")
    expect(page.locator("#prompt")).to_have_value("minimal bottle label, green")
    expect(page.locator("#seed")).to_have_value("987654")
    expect(page.locator("#size")).to_have_value("label")
    expect(page.locator("#steps")).to_have_value("12")

    page.fill("#brief", "")
    page.evaluate(DISPATCH_FILES, ["#brief", "paste", [file_payload("label.png", _studio_png(), "image/png")], ""])
    expect(page.locator("#brief")).to_have_value("라벨 디자인")

    page.evaluate(DISPATCH_FILES, ["#recall-zone", "drop", [file_payload("logo.svg", SVG, "image/svg+xml")], ""])
    expect(page.locator("#form-error")).to_contain_text("SVG files are not accepted")
    dropped = page.locator("#form-error").text_content()
    page.set_input_files("#recall-file", files=[{"name": "logo.svg", "mimeType": "image/svg+xml", "buffer": SVG}])
    expect(page.locator("#form-error")).to_have_text(dropped)  # the button's path says the same
    expect(page.locator("#brief")).to_have_value("라벨 디자인")  # nothing changed
    assert all(is_expected_http_error(e, "/studio/api/recall/") for e in tab.errors), tab.errors


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("language", ["en", "ko"])
def test_the_studio_pages_have_no_serious_accessibility_violations(open_tab, app, axe, language, theme):
    tab = open_tab("ko-KR" if language == "ko" else "en-US", color_scheme=theme, reduced_motion="reduce")
    page = tab.page
    sign_in(page, "inspector", app.password)
    use_language(page, language)
    checked = {}
    page.goto("/studio/")
    expect(page.locator("#studio-form")).to_be_visible()
    checked["studio"] = axe(page)
    shot(page, f"studio-{language}-{theme}")
    page.goto("/studio/gallery/")
    expect(page.locator("#gallery-status")).not_to_be_empty()
    checked["gallery"] = axe(page)
    shot(page, f"gallery-{language}-{theme}")

    failures = {where: found for where, found in checked.items() if found}
    assert not failures, "\n".join(
        f"{where} ({language}, {theme}):\n{axe.describe(v)}" for where, v in failures.items()
    )
    tab.assert_clean_console()
