"""The API keys page in a browser: create a key, see it once, revoke it; no serious accessibility violations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("playwright")
from playwright.sync_api import expect  # noqa: E402

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "apikeys"


@pytest.mark.parametrize("language", ["en", "ko"])
def test_a_key_is_created_shown_once_and_revoked_on_an_accessible_page(open_tab, app, axe, language):
    tab = open_tab("ko-KR" if language == "ko" else "en-US")
    page = tab.page
    page.goto("/accounts/login/")
    page.fill("#id_username", "navigator")
    page.fill("#id_password", app.password)
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    page.goto("/settings/keys/")
    expect(page.locator("html")).to_have_attribute("lang", language)

    page.fill("#id_name", f"notebook {language}")
    with page.expect_navigation():
        page.click("main form button.primary")
    secret = page.locator("#new-key code").text_content() or ""
    violations = axe(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"keys-{language}.png"), full_page=True)
    page.reload()
    with page.expect_navigation():
        page.locator("tr", has_text=f"notebook {language}").locator("button").click()

    assert re.fullmatch(r"exa-[0-9a-f]{8}_[\w-]{40}", secret)
    assert secret not in page.content()
    revoked = "Revoked" if language == "en" else "폐기됨"
    expect(page.locator("tr", has_text=f"notebook {language}")).to_contain_text(revoked)
    assert not violations, axe.describe(violations)
