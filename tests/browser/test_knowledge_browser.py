"""The knowledge pages in a real browser: create a collection, upload by the button, see the document get
ready, axe-core in both languages; screenshots in var/screenshots/knowledge/ for a human to look at."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

if not Path("/usr/bin/chromium").exists():
    pytest.skip("Debian's Chromium (/usr/bin/chromium) is not installed", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "knowledge"


def _sign_in(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("main form button[type=submit]")


@pytest.mark.parametrize("language", ["en", "ko"])
def test_a_collection_is_created_a_document_uploaded_and_the_pages_pass_axe(open_tab, app, axe, language, tmp_path):
    tab = open_tab("ko-KR" if language == "ko" else "en-US", reduced_motion="reduce")
    page = tab.page
    _sign_in(page, "navigator", app.password)
    if page.locator("html").get_attribute("lang") != language:
        with page.expect_navigation():
            page.select_option("#language-select", language)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    page.click("nav.main-nav a[href='/knowledge/']")
    empty = axe(page)
    page.fill("#collection-name", f"Manuals {language}")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/knowledge/\d+/$"))
    document = tmp_path / "pump.md"
    document.write_text("# Maintenance\n\nFlush the cooling pump every week.\n냉각 펌프는 매주 세척한다.\n")
    page.set_input_files("#upload-input", str(document))
    row = page.locator("#document-rows tr[data-document-id]").first
    expect(row.locator(".document-chunks")).to_have_text("1", timeout=120_000)
    page.screenshot(path=str(SCREENSHOTS / f"collection-{language}.png"), full_page=True)
    with_document = axe(page)

    assert not empty, axe.describe(empty)
    assert not with_document, axe.describe(with_document)
    expect(row.locator("a")).to_have_text("pump.md")
