"""The shell around every page, in a real browser: axe-core on every page in both languages and both themes,
the menu on a phone, keyboard access, what screen readers hear while a reply streams, reduced motion, the
theme switch, and files dropped or pasted into the chat. Screenshots land in var/screenshots/shell/ for a
human to look at.

The app runs as a subprocess (see conftest.py); Debian's Chromium is driven through Playwright's sync API.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

if not Path("/usr/bin/chromium").exists():
    pytest.skip("Debian's Chromium (/usr/bin/chromium) is not installed", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "shell"
STREAM_MS = 180_000
FINAL = ("done", "stopped", "failed")
PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1280, "height": 800}
CSV = b"name,boiling point\nwater,100\nethanol,78.4\n"
#: A PNG header: the server reads the content, sees no table, and says which files it takes.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
UNSUPPORTED = {
    "en": "Only CSV (.csv, .tsv) and Excel (.xlsx) files can be read as tables.",
    "ko": "CSV(.csv, .tsv)",
}

#: Records every text the #announcer status region says (an init script: it survives navigations).
WATCH_ANNOUNCER = """
window.__announced = [];
document.addEventListener("DOMContentLoaded", () => {
  const region = document.getElementById("announcer");
  if (!region) return;
  new MutationObserver(() => {
    const text = region.textContent.trim();
    if (text) window.__announced.push(text);
  }).observe(region, {childList: true, characterData: true, subtree: true});
});
"""

#: Records the colour scheme <html> carries at the moment <body> is inserted, i.e. before the first paint.
WATCH_FIRST_PAINT = """
window.__schemeAtBody = null;
new MutationObserver((changes, observer) => {
  if (document.body) {
    window.__schemeAtBody = document.documentElement.dataset.colorScheme || "none";
    observer.disconnect();
  }
}).observe(document, {childList: true, subtree: true});
"""

#: Drops (or pastes) files made in the page on an element; returns whether the page took the event.
DISPATCH_FILES = """([selector, kind, files, text]) => {
  const data = new DataTransfer();
  for (const f of files) data.items.add(new File([new Uint8Array(f.bytes)], f.name, {type: f.type}));
  if (text) data.setData("text/plain", text);
  const event = kind === "paste"
    ? new ClipboardEvent("paste", {clipboardData: data, bubbles: true, cancelable: true})
    : new DragEvent(kind, {dataTransfer: data, bubbles: true, cancelable: true});
  document.querySelector(selector).dispatchEvent(event);
  return event.defaultPrevented;
}"""


# -- helpers ------------------------------------------------------------------------------------------


def sign_in(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/chat/$"))


def use_language(page, code: str) -> None:
    """Switch the signed-in user's language through the top bar, if the page is not in it already."""
    if page.locator("html").get_attribute("lang") != code:
        with page.expect_navigation():
            page.select_option("#language-select", code)
    expect(page.locator("html")).to_have_attribute("lang", code)


def send(page, text: str) -> None:
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")


def wait_final(page, reply) -> str:
    message_id = reply.get_attribute("data-message-id")
    page.wait_for_function(
        """([id, wanted]) => {
             const a = document.querySelector(`article.message[data-message-id="${id}"]`);
             return a && wanted.includes(a.dataset.status);
           }""",
        arg=[message_id, list(FINAL)],
        timeout=STREAM_MS,
    )
    return reply.get_attribute("data-status")


def ask(page, text: str):
    """Send ``text`` in the open chat and wait for the reply to finish; return the reply's locator."""
    before = page.locator("article.message.assistant").count()
    send(page, text)
    replies = page.locator("article.message.assistant")
    expect(replies).to_have_count(before + 1, timeout=STREAM_MS)
    reply = replies.last
    expect(reply).to_have_attribute("data-message-id", re.compile(r"^\d+$"))
    status = wait_final(page, reply)
    assert status == "done", f"the reply ended {status}: {reply.locator('.meta').text_content()}"
    return reply


def file_payload(name: str, content: bytes, mime: str) -> dict:
    return {"name": name, "bytes": list(content), "type": mime}


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= document.documentElement.clientWidth")


def is_expected_http_error(entry: str, *paths: str) -> bool:
    return "Failed to load resource" in entry and any(path in entry for path in paths)


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=False)


@pytest.fixture(scope="module")
def audited_chat(browser, app) -> str:
    """A conversation of "auditor" with a table attached and a finished, streamed reply; returns its path."""
    context = browser.new_context(base_url=app.url, viewport=DESKTOP)
    page = context.new_page()
    try:
        sign_in(page, "auditor", app.password)
        use_language(page, "en")
        page.set_input_files("#attach-input", files=[{"name": "solvents.csv", "mimeType": "text/csv", "buffer": CSV}])
        expect(page.locator("#attachment-chips .chip")).to_contain_text("solvents.csv")
        ask(page, "Which of these boils first? Answer in one sentence.")
        expect(page.locator("article.message.user .data-table")).to_be_visible()
        reply = ask(page, "What is plasma etching?")
        expect(reply.locator(".body")).not_to_be_empty()
        expect(page.locator("#stop-button")).to_be_hidden()
        return re.sub(r"^https?://[^/]+", "", page.url)
    finally:
        context.close()


# -- axe-core on every page ---------------------------------------------------------------------------


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("language", ["en", "ko"])
def test_every_page_has_no_serious_accessibility_violations(open_tab, app, axe, audited_chat, language, theme):
    locale = "ko-KR" if language == "ko" else "en-US"
    tab = open_tab(locale, color_scheme=theme, reduced_motion="reduce")
    page = tab.page
    checked: dict[str, list[dict]] = {}

    page.goto("/accounts/login/")
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.locator("html")).to_have_attribute("data-color-scheme", theme)
    checked["sign-in"] = axe(page)
    shot(page, f"signin-{language}-{theme}-1280")
    sign_in(page, "auditor", app.password)
    use_language(page, language)
    checked["chat, empty"] = axe(page)
    page.goto(audited_chat)
    reply = page.locator("article.message.assistant").last
    assert wait_final(page, reply) == "done"
    checked["chat with a streamed reply"] = axe(page)
    shot(page, f"chat-{language}-{theme}-1280")
    page.set_viewport_size(PHONE)
    shot(page, f"chat-{language}-{theme}-375")
    page.click("#menu-button")
    expect(page.locator("#app-drawer")).to_be_visible()
    checked["chat, menu open on a phone"] = axe(page)
    shot(page, f"menu-{language}-{theme}-375")
    page.keyboard.press("Escape")
    page.set_viewport_size(DESKTOP)
    page.goto("/admin/")
    expect(page.locator("html")).to_have_attribute("lang", language)
    checked["admin index"] = axe(page)
    shot(page, f"admin-{language}-{theme}-1280")
    page.goto("/chat/999999999/")
    expect(page.locator("main h1")).to_be_visible()
    checked["not found"] = axe(page)
    shot(page, f"404-{language}-{theme}-1280")
    # A form sent without its CSRF cookie (an expired page) gets the "form has expired" page.
    page.goto("/chat/")
    tab.context.clear_cookies(name="csrftoken")
    with page.expect_navigation():
        page.select_option("#language-select", "en" if language == "ko" else "ko")
    expect(page.locator("main h1")).to_be_visible()
    checked["form expired"] = axe(page)

    failures = {where: found for where, found in checked.items() if found}
    assert not failures, "\n".join(
        f"{where} ({language}, {theme}):\n{axe.describe(v)}" for where, v in failures.items()
    )
    assert page.locator("main h1").text_content() != "Forbidden"
    assert all(is_expected_http_error(e, "/chat/999999999/", "/accounts/language/") for e in tab.errors), tab.errors


def test_a_reply_being_written_has_no_serious_accessibility_violations(open_tab, app, axe):
    tab = open_tab()
    page = tab.page
    sign_in(page, "navigator", app.password)
    page.select_option("#model-select", app.long_model)
    with page.expect_navigation(url=re.compile(r"/chat/\d+/$")):
        page.click("#new-chat-form button[type=submit]")

    send(page, "Write a long report about wafer cleaning.")
    reply = page.locator("article.message.assistant").last
    expect(reply).to_have_attribute("data-status", "streaming", timeout=STREAM_MS)
    violations = axe(page)
    page.click("#stop-button")

    assert violations == [], axe.describe(violations)
    assert wait_final(page, reply) in FINAL
    tab.assert_clean_console()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_rendered_answers_with_code_tables_and_links_have_no_serious_violations(open_tab, app, axe, theme):
    from assistant.rendering import render_markdown

    answer = render_markdown(
        'Here:\n\n```python\n# add two numbers\ndef add(a: int, b: int) -> int:\n    """Sum."""\n'
        "    return a + b  # 42\n```\n\nInline `code`, a [link](https://example.com), **bold**, $x^2$.\n\n"
        "> quoted\n\n| 이름 | 점수 |\n|---|---:|\n| 홍길동 | 95 |\n"
    )
    tab = open_tab(color_scheme=theme, reduced_motion="reduce")
    page = tab.page
    sign_in(page, "navigator", app.password)

    # The chat shows answers as this server-rendered HTML (content_html); here it is put in the page directly,
    # so every kind of markup the renderer makes is checked in this theme's colours, whatever the model writes.
    page.locator("#messages").evaluate(
        """(list, html) => {
             const article = document.createElement("article");
             article.className = "message assistant";
             const body = document.createElement("div");
             body.className = "body rendered";
             body.innerHTML = html;
             article.append(body);
             list.replaceChildren(article);
           }""",
        answer,
    )
    expect(page.locator("#messages .code-block")).to_be_visible()
    violations = axe(page)
    shot(page, f"rendered-answer-en-{theme}-1280")

    assert violations == [], axe.describe(violations)
    tab.assert_clean_console()


# -- phones -------------------------------------------------------------------------------------------


def test_on_a_phone_the_menu_button_opens_the_conversations_and_escape_closes_it(open_tab, app, audited_chat):
    tab = open_tab(viewport=PHONE)
    page = tab.page
    sign_in(page, "auditor", app.password)
    page.goto(audited_chat)
    menu = page.locator("#menu-button")
    expect(page.locator("#conversation-list")).to_be_hidden()
    expect(page.locator(".main-nav")).to_be_hidden()
    expect(menu).to_have_attribute("aria-expanded", "false")

    menu.focus()
    page.keyboard.press("Enter")

    drawer = page.locator("#app-drawer")
    expect(drawer).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(drawer.locator("#conversation-list a[aria-current=page]")).to_be_focused()
    for control in (
        "#new-chat-form button",
        "#conversation-search",
        ".main-nav",
        "#language-select",
        "#theme-select",
        "form.signout button",
    ):
        expect(drawer.locator(control)).to_be_visible()
    inside = []
    for _ in range(25):  # more stops than the drawer has: Tab must wrap around inside it
        page.keyboard.press("Tab")
        inside.append(page.evaluate("() => document.getElementById('app-drawer').contains(document.activeElement)"))
    assert all(inside), "Tab left the open menu"
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("() => document.getElementById('app-drawer').contains(document.activeElement)")

    page.keyboard.press("Escape")

    expect(drawer).to_be_hidden()
    expect(menu).to_be_focused()
    expect(menu).to_have_attribute("aria-expanded", "false")
    assert page.evaluate("() => document.getElementById('site-controls').parentElement.tagName") == "HEADER"
    assert page.evaluate("() => document.querySelector('.sidebar').parentElement.id") == "chat-app"
    tab.assert_clean_console()


def test_on_a_phone_a_new_chat_starts_from_the_menu_and_its_answer_arrives(open_tab, app):
    tab = open_tab(viewport=PHONE)
    page = tab.page
    sign_in(page, "navigator", app.password)

    page.click("#menu-button")
    page.locator("#app-drawer").get_by_role("button", name="New chat").click()
    page.wait_for_url(re.compile(r"/chat/\d+/$"))
    reply = ask(page, "Hello! What is a wafer?")

    expect(page.locator("#app-drawer")).to_be_hidden()
    expect(reply).to_be_in_viewport()
    expect(page.locator("#composer-input")).to_be_in_viewport()
    expect(page.locator("#send-button")).to_be_in_viewport()
    page.click("#menu-button")
    current = page.locator("#app-drawer #conversation-list a[aria-current=page]")
    expect(current).to_be_visible()
    page.locator("#app-drawer").get_by_role("button", name="Close the menu").click()
    expect(page.locator("#app-drawer")).to_be_hidden()
    tab.assert_clean_console()


@pytest.mark.parametrize("language", ["en", "ko"])
def test_every_page_fits_a_360_pixel_wide_screen(open_tab, app, audited_chat, language):
    locale = "ko-KR" if language == "ko" else "en-US"
    tab = open_tab(locale, viewport={"width": 360, "height": 720})
    page = tab.page
    overflowing = []

    page.goto("/accounts/login/")
    if not no_horizontal_scroll(page):
        overflowing.append("sign-in")
    expect(page.locator("#language-select")).to_be_in_viewport()
    sign_in(page, "auditor", app.password)
    use_language(page, language)
    for name, path in (
        ("chat", "/chat/"),
        ("conversation", audited_chat),
        ("admin", "/admin/"),
        ("not found", "/chat/999999999/"),
    ):
        page.goto(path)
        expect(page.locator("main").first).to_be_visible()
        if not no_horizontal_scroll(page):
            overflowing.append(name)
    page.goto(audited_chat)
    page.click("#menu-button")
    if not no_horizontal_scroll(page):
        overflowing.append("menu")

    assert overflowing == [], f"these pages scroll sideways at 360 px ({language}): {overflowing}"
    expect(page.locator("#app-drawer #theme-select")).to_be_in_viewport()
    shot(page, f"menu-{language}-light-360")


# -- keyboard -----------------------------------------------------------------------------------------


def test_the_skip_link_is_the_first_stop_and_moves_focus_to_the_main_content(open_tab, app):
    tab = open_tab()
    page = tab.page
    sign_in(page, "navigator", app.password)

    page.keyboard.press("Tab")

    skip = page.locator("a.skip-link")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    outline = skip.evaluate("(el) => getComputedStyle(el).outlineStyle + ' ' + getComputedStyle(el).outlineWidth")
    assert outline.startswith("solid") and not outline.endswith(" 0px"), outline
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.getElementById('main').contains(document.activeElement)")
    tab.assert_clean_console()


def test_attach_table_is_reached_by_tab_and_opens_the_file_chooser(open_tab, app):
    tab = open_tab()
    page = tab.page
    # Playwright turns on file-chooser interception without waiting for it: a listener added now has it on
    # long before the key press below (expect_file_chooser alone can miss the first chooser of a page).
    page.on("filechooser", lambda chooser: None)
    sign_in(page, "dropper", app.password)
    page.locator("#composer-input").focus()

    page.keyboard.press("Tab")
    attach = page.locator("#attach-button")
    expect(attach).to_be_focused()
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Enter")
    chooser.value.set_files(files=[{"name": "keyboard.csv", "mimeType": "text/csv", "buffer": CSV}])

    expect(page.locator("#attachment-chips .chip")).to_contain_text("keyboard.csv")
    expect(page).to_have_url(re.compile(r"/chat/\d+/$"))
    remove = page.get_by_role("button", name="Remove keyboard.csv")
    remove.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#attachment-chips .chip")).to_have_count(0)
    expect(page.locator("#composer-input")).to_be_focused()
    tab.assert_clean_console()


def test_a_message_action_keeps_the_keyboard_focus_when_the_list_is_redrawn(open_tab, app):
    tab = open_tab()
    page = tab.page
    sign_in(page, "navigator", app.password)
    reply = ask(page, "Name one noble gas.")
    helpful = reply.get_by_role("button", name="Helpful", exact=True)
    helpful.focus()

    page.keyboard.press("Enter")

    expect(helpful).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#status-line")).to_have_text("Thank you for the feedback.")
    expect(helpful).to_be_focused()
    style = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert style == "solid", "the focused action shows no focus ring"
    tab.assert_clean_console()


# -- screen readers -----------------------------------------------------------------------------------


def test_screen_readers_hear_that_a_reply_is_written_and_finished_but_not_its_tokens(open_tab, app):
    tab = open_tab()
    page = tab.page
    page.add_init_script(WATCH_ANNOUNCER)
    sign_in(page, "navigator", app.password)
    page.click("#new-chat-form button[type=submit]")
    page.wait_for_url(re.compile(r"/chat/\d+/$"))

    reply = ask(page, "What is plasma etching?")

    messages = page.locator("#messages")
    assert messages.get_attribute("aria-live") is None
    assert messages.get_attribute("role") not in ("log", "status", "alert", "marquee", "timer")
    expect(page.locator("#announcer")).to_have_text("Reply finished.")
    announced = page.evaluate("window.__announced")
    assert announced == ["Writing…", "Reply finished."], announced
    text = reply.locator(".body").inner_text().strip()
    assert text and not any(text[:20] in said for said in announced)
    expect(page.locator("#announcer")).to_have_attribute("role", "status")
    tab.assert_clean_console()


# -- motion and theme ---------------------------------------------------------------------------------


def test_reduced_motion_turns_off_the_menu_animation_and_smooth_scrolling(open_tab, app):
    calm = open_tab(viewport=PHONE, reduced_motion="reduce")
    lively = open_tab(viewport=PHONE, reduced_motion="no-preference")
    seen = {}

    for name, tab in (("calm", calm), ("lively", lively)):
        sign_in(tab.page, "navigator", app.password)
        tab.page.click("#menu-button")
        expect(tab.page.locator("#app-drawer")).to_be_visible()
        seen[name] = tab.page.evaluate(
            """() => [getComputedStyle(document.getElementById("app-drawer")).animationName,
                      getComputedStyle(document.documentElement).scrollBehavior]"""
        )

    assert seen["calm"] == ["none", "auto"]
    assert seen["lively"] == ["drawer-in", "smooth"]
    calm.assert_clean_console()
    lively.assert_clean_console()


def test_the_theme_menu_switches_is_remembered_and_is_applied_before_the_first_paint(open_tab, app):
    tab = open_tab(color_scheme="light")
    page = tab.page
    page.add_init_script(WATCH_FIRST_PAINT)
    sign_in(page, "navigator", app.password)
    background = "() => getComputedStyle(document.body).backgroundColor"
    light = page.evaluate(background)

    page.select_option("#theme-select", "dark")

    expect(page.locator("html")).to_have_attribute("data-color-scheme", "dark")
    assert page.evaluate(background) != light
    page.reload()
    expect(page.locator("#theme-select")).to_have_value("dark")
    assert page.evaluate("window.__schemeAtBody") == "dark", "the saved theme came after the first paint"
    page.goto("/admin/")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")  # the admin shares the choice

    page.goto("/chat/")
    page.select_option("#theme-select", "auto")
    expect(page.locator("html")).to_have_attribute("data-color-scheme", "light")
    page.emulate_media(color_scheme="dark")
    expect(page.locator("html")).to_have_attribute("data-color-scheme", "dark")
    page.emulate_media(color_scheme="light")
    expect(page.locator("html")).to_have_attribute("data-color-scheme", "light")
    assert page.evaluate(background) == light
    tab.assert_clean_console()


# -- files dropped and pasted into the chat -----------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "ko"])
def test_a_dropped_table_is_attached_and_an_unsupported_file_gets_the_attach_buttons_error(open_tab, app, language):
    locale = "ko-KR" if language == "ko" else "en-US"
    tab = open_tab(locale)
    page = tab.page
    sign_in(page, "dropper", app.password)
    use_language(page, language)
    chips = page.locator("#attachment-chips .chip")
    status = page.locator("#status-line")

    page.locator(".chat-pane").dispatch_event(
        "dragenter",
        {
            "dataTransfer": page.evaluate_handle(
                "() => { const d = new DataTransfer(); d.items.add(new File(['x'], 'a.csv')); return d; }"
            )
        },
    )
    expect(page.locator(".chat-pane")).to_have_class(re.compile(r"\bis-dragging\b"))
    took = page.evaluate(DISPATCH_FILES, [".messages", "drop", [file_payload("dropped.csv", CSV, "text/csv")], ""])

    assert took is True
    expect(page.locator(".chat-pane")).not_to_have_class(re.compile(r"\bis-dragging\b"))
    expect(chips).to_have_count(1)
    expect(chips.first).to_contain_text("dropped.csv")
    page.evaluate(DISPATCH_FILES, ["#composer-input", "drop", [file_payload("photo.png", PNG, "image/png")], ""])
    expect(status).to_contain_text(UNSUPPORTED[language])
    dropped_error = status.text_content()
    status.evaluate("(el) => { el.textContent = ''; }")
    page.set_input_files("#attach-input", files=[{"name": "photo.png", "mimeType": "image/png", "buffer": PNG}])
    expect(status).to_have_text(dropped_error)  # the Attach button's path says exactly the same
    expect(status).to_have_class(re.compile(r"\berror\b"))
    expect(chips).to_have_count(1)

    send(page, "Summarise the table.")
    expect(page.locator("article.message.user .attachment-name")).to_have_text("dropped.csv")
    wait_final(page, page.locator("article.message.assistant").last)
    guarded = page.evaluate(DISPATCH_FILES, [".topbar", "drop", [file_payload("stray.csv", CSV, "text/csv")], ""])
    assert guarded is True, "a file dropped outside the chat would replace the page"
    assert all(is_expected_http_error(e, "/attachments/") for e in tab.errors), tab.errors  # the two refusals


def test_a_pasted_file_is_attached_and_pasted_text_stays_text(open_tab, app):
    tab = open_tab()
    page = tab.page
    sign_in(page, "dropper", app.password)
    chips = page.locator("#attachment-chips .chip")

    took_file = page.evaluate(
        DISPATCH_FILES, ["#composer-input", "paste", [file_payload("pasted.csv", CSV, "text/csv")], ""]
    )
    took_cells = page.evaluate(
        DISPATCH_FILES, ["#composer-input", "paste", [file_payload("cells.png", PNG, "image/png")], "water\t100"]
    )

    assert took_file is True
    expect(chips).to_have_count(1)
    expect(chips.first).to_contain_text("pasted.csv")
    assert took_cells is False, "text copied from a spreadsheet (with a picture of the cells) must paste as text"
    expect(chips).to_have_count(1)
    tab.assert_clean_console()
