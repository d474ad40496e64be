"""The chat page in a real browser: streaming, Stop, reload mid-stream, the Korean IME Enter rule, XSS,
the language switch, and screenshots for a human to look at.

The app runs as a subprocess (see conftest.py); Debian's Chromium is driven through Playwright's sync API.
Every test ends by asserting that the page logged no JavaScript error.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

if not Path("/usr/bin/chromium").exists():
    pytest.skip("Debian's Chromium (/usr/bin/chromium) is not installed", allow_module_level=True)

from playwright.sync_api import expect  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"

#: Generous: other jobs may share the two cores, and a long answer is 600 tokens.
STREAM_MS = 180_000
FINAL = ("done", "stopped", "failed")

#: An init script (it survives navigations and reloads, and CSP does not apply to it): on every DOM change of
#: #messages it records each assistant message whose text or status changed, so no step of a stream is missed.
#: While a reply streams its body is plain text; once final it may be re-rendered (e.g. as Markdown).
WATCH_GROWTH = """
window.__growth = [];
document.addEventListener("DOMContentLoaded", () => {
  const messages = document.getElementById("messages");
  if (!messages) return;
  const last = new Map();
  new MutationObserver(() => {
    messages.querySelectorAll("article.message.assistant").forEach((article) => {
      const body = article.querySelector(".body");
      const entry = {id: article.dataset.messageId, text: body ? body.textContent : "", status: article.dataset.status};
      const previous = last.get(entry.id);
      if (!previous || previous.text !== entry.text || previous.status !== entry.status) {
        last.set(entry.id, entry);
        window.__growth.push(entry);
      }
    });
  }).observe(messages, {subtree: true, childList: true, characterData: true, attributes: true,
                        attributeFilter: ["data-status"]});
});
"""

#: How many lines the element's text takes.
LINES_OF_TEXT = """(el) => {
  const range = document.createRange();
  range.selectNodeContents(el);
  return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
}"""

#: True once every assistant message on the page has a final status.
ALL_FINAL = """(final) => [...document.querySelectorAll("article.message.assistant")]
  .every((a) => final.includes(a.dataset.status))"""


# -- helpers ------------------------------------------------------------------------------------------


def sign_in(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    expect(page).to_have_url(re.compile(r"/chat/$"))


def sign_out(page) -> None:
    with page.expect_navigation():
        page.click("form.signout button[type=submit]")
    expect(page).to_have_url(re.compile(r"/accounts/login/"))


def switch_language(page, code: str) -> None:
    with page.expect_navigation():
        page.select_option("#language-select", code)
    expect(page.locator("html")).to_have_attribute("lang", code)


def new_chat(page, model: str) -> int:
    """Start a conversation with ``model`` through the sidebar; return its id."""
    page.goto("/chat/")
    page.select_option("#model-select", model)
    with page.expect_navigation(url=re.compile(r"/chat/\d+/$")):
        page.click("#new-chat-form button[type=submit]")
    return conversation_id(page)


def conversation_id(page) -> int:
    match = re.search(r"/chat/(\d+)/$", page.url)
    assert match, page.url
    return int(match.group(1))


def send(page, text: str) -> None:
    page.fill("#composer-input", text)
    page.press("#composer-input", "Enter")


def api_messages(tab, app, conversation: int) -> list[dict]:
    response = tab.context.request.get(f"{app.url}/api/conversations/{conversation}/messages/")
    assert response.ok, response.status
    return response.json()["results"]


def body_text(locator) -> str:
    """The body's raw text (what a streaming reply shows)."""
    return locator.locator(".body").evaluate("(el) => el.textContent")


def shown(locator) -> str:
    """The body's text as the reader sees it."""
    return locator.locator(".body").inner_text()


def streamed(page, message_id: str) -> list[str]:
    """The texts a reply showed while it streamed, in order, each recorded once."""
    growth = page.evaluate("window.__growth")
    return [e["text"] for e in growth if e["id"] == message_id and e["status"] == "streaming" and e["text"]]


def open_chat(open_tab, app, username: str):
    """A tab signed in as ``username`` on /chat/, recording how replies grow."""
    tab = open_tab()
    tab.page.add_init_script(WATCH_GROWTH)
    sign_in(tab.page, username, app.password)
    return tab


def wait_longer_than(page, message_id: str, length: int, *, status: str | None = None) -> str:
    """Wait until the message's text is longer than ``length`` (and still has ``status``); return it."""
    page.wait_for_function(
        """([id, n, status]) => {
             const a = document.querySelector(`article.message[data-message-id="${id}"]`);
             return a && a.querySelector(".body").textContent.length > n && (!status || a.dataset.status === status);
           }""",
        arg=[message_id, length, status],
        timeout=STREAM_MS,
    )
    return body_text(page.locator(f'article.message[data-message-id="{message_id}"]'))


def settle(page) -> None:
    """Stop whatever is still being written and wait until every reply has a final status."""
    # Clicked in the page, in one step: the button may hide itself at any moment.
    page.locator("#stop-button").evaluate("(button) => button.hidden || button.click()")
    page.wait_for_function(ALL_FINAL, arg=list(FINAL), timeout=STREAM_MS)


def wait_status(page, reply, *, leaving: tuple[str, ...] = FINAL) -> str:
    """Wait until the reply's status is one of ``leaving``; return it (so a failed reply fails fast)."""
    message_id = reply.get_attribute("data-message-id")
    page.wait_for_function(
        """([id, wanted]) => {
             const a = document.querySelector(`article.message[data-message-id="${id}"]`);
             return a && wanted.includes(a.dataset.status);
           }""",
        arg=[message_id, list(leaving)],
        timeout=STREAM_MS,
    )
    return reply.get_attribute("data-status")


def assert_done(page, reply) -> None:
    status = wait_status(page, reply)
    assert status == "done", f"the reply ended {status}: {reply.locator('.meta').text_content()}"


def start_long_answer(page, app) -> tuple[int, object, str]:
    """A new chat with the long-answer model, streaming; returns (conversation, reply locator, reply id)."""
    conversation = new_chat(page, app.long_model)
    send(page, "Write a long report about semiconductor etching.")
    reply = page.locator("article.message.assistant").last
    status = wait_status(page, reply, leaving=("streaming", *FINAL))
    assert status == "streaming", f"the reply is {status}: {reply.locator('.meta').text_content()}"
    message_id = reply.get_attribute("data-message-id")
    wait_longer_than(page, message_id, 40, status="streaming")
    return conversation, reply, message_id


# -- tests --------------------------------------------------------------------------------------------


def test_korean_message_streams_then_shows_token_count(open_tab, app):
    tab = open_chat(open_tab, app, "streamer")
    page = tab.page
    question = "안녕하세요! 한국의 수도는 어디인가요?"
    page.locator("#composer-input").click()
    page.keyboard.type(question)
    page.keyboard.press("Enter")

    user = page.locator("article.message.user")
    expect(user).to_have_count(1)
    expect(page).to_have_url(re.compile(r"/chat/\d+/$"))
    assert shown(user) == question
    # The new conversation is listed (and current) in the sidebar, titled by the question.
    current = page.locator(".conversation-list a[aria-current=page]")
    expect(current).to_have_text(question)
    expect(current).to_have_attribute("href", f"/chat/{conversation_id(page)}/")
    reply = page.locator("article.message.assistant")
    assert_done(page, reply)

    steps = streamed(page, reply.get_attribute("data-message-id"))
    assert len(steps) >= 2, f"the reply did not visibly grow twice while streaming: {steps}"
    for shorter, longer in zip(steps, steps[1:], strict=False):
        assert longer.startswith(shorter) and len(longer) > len(shorter), steps
    assert shown(reply).strip()

    saved = api_messages(tab, app, conversation_id(page))
    assert [m["role"] for m in saved] == ["user", "assistant"]
    assert saved[0]["content"] == question
    assert saved[1]["content"] == steps[-1], "the streamed text differs from the saved reply"
    tokens = saved[1]["usage"]["completion_tokens"]
    assert tokens > 0
    expect(reply.locator(".meta")).to_contain_text(f"{tokens} tokens")
    expect(page.locator("#stop-button")).to_be_hidden()
    tab.assert_clean_console()


def test_stop_ends_the_reply_and_keeps_its_text(open_tab, app):
    tab = open_chat(open_tab, app, "streamer")
    page = tab.page
    conversation, reply, message_id = start_long_answer(page, app)

    stop = page.locator("#stop-button")
    expect(stop).to_be_visible()
    stop.click()
    assert wait_status(page, reply) == "stopped"
    expect(stop).to_be_hidden()
    expect(reply.locator(".meta")).to_contain_text("Stopped")
    assert shown(reply).strip(), "the stopped reply lost its text"

    saved = api_messages(tab, app, conversation)[-1]
    assert saved["status"] == "stopped"
    assert saved["content"] == streamed(page, message_id)[-1]
    assert saved["usage"]["completion_tokens"] < 600  # it really ended early
    html = reply.locator(".body").inner_html()
    page.wait_for_timeout(1500)  # a reply that kept going would have grown by now
    assert reply.locator(".body").inner_html() == html
    assert reply.get_attribute("data-status") == "stopped"
    assert api_messages(tab, app, conversation)[-1]["content"] == saved["content"]
    tab.assert_clean_console()


def test_reload_mid_stream_resumes_without_duplication(open_tab, app):
    tab = open_chat(open_tab, app, "streamer")
    page = tab.page
    conversation, _reply, message_id = start_long_answer(page, app)
    before = body_text(page.locator(f'article.message[data-message-id="{message_id}"]'))

    page.reload()
    reply = page.locator(f'article.message[data-message-id="{message_id}"]')
    # The page may first show the saved (empty) text, then the socket's snapshot: wait for the text so far.
    resumed = wait_longer_than(page, message_id, len(before) - 1)
    assert resumed.startswith(before), (before, resumed)
    grown = wait_longer_than(page, message_id, len(resumed))
    assert grown.startswith(resumed)
    assert_done(page, reply)

    steps = streamed(page, message_id)  # since the reload
    final = steps[-1]
    saved = api_messages(tab, app, conversation)
    assert [m["role"] for m in saved] == ["user", "assistant"]
    assert saved[1]["id"] == int(message_id) and saved[1]["status"] == "done"
    assert final == saved[1]["content"], "the streamed text differs from the saved reply (lost or doubled deltas)"
    assert final.startswith(before)
    # The base model may repeat itself, so a doubled prefix only counts when the saved reply lacks it.
    assert not final.startswith(before * 2) or saved[1]["content"].startswith(before * 2)
    expect(page.locator("article.message")).to_have_count(2)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "chat-long-en.png", full_page=True)
    # A long reply scrolls inside the message pane: the composer stays on screen.
    expect(page.locator("#composer-input")).to_be_in_viewport()
    tab.assert_clean_console()


def test_enter_while_composing_korean_does_not_send(open_tab, app):
    tab = open_chat(open_tab, app, "streamer")
    page = tab.page
    composer = page.locator("#composer-input")
    composer.fill("한글 조합 중")

    not_cancelled = composer.evaluate(
        """(el) => {
             el.dispatchEvent(new CompositionEvent("compositionstart", {bubbles: true, data: ""}));
             const results = [
               el.dispatchEvent(new KeyboardEvent("keydown",
                 {key: "Enter", code: "Enter", isComposing: true, bubbles: true, cancelable: true})),
               // Some IMEs report the confirming Enter only as keyCode 229.
               el.dispatchEvent(new KeyboardEvent("keydown",
                 {key: "Enter", code: "Enter", keyCode: 229, bubbles: true, cancelable: true})),
             ];
             el.dispatchEvent(new CompositionEvent("compositionend", {bubbles: true, data: "중"}));
             return results;
           }"""
    )
    assert not_cancelled == [True, True], "the page handled an IME-confirming Enter as a send"
    expect(composer).to_have_value("한글 조합 중")
    expect(page.locator("article.message")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"/chat/$"))

    composer.press("End")
    page.keyboard.press("Shift+Enter")
    expect(composer).to_have_value("한글 조합 중\n")
    page.keyboard.type("둘째 줄")
    page.keyboard.press("Enter")

    user = page.locator("article.message.user")
    expect(user).to_have_count(1)
    assert shown(user) == "한글 조합 중\n둘째 줄", "the line break typed with Shift+Enter is not shown"
    expect(page.locator("#composer-input")).to_have_value("")
    settle(page)
    saved = api_messages(tab, app, conversation_id(page))
    assert [m["content"] for m in saved if m["role"] == "user"] == ["한글 조합 중\n둘째 줄"]
    tab.assert_clean_console()


def test_markup_in_messages_stays_text(open_tab, app):
    tab = open_chat(open_tab, app, "streamer")
    page = tab.page
    response = page.goto("/chat/")
    assert "script-src 'self'" in response.headers["content-security-policy"]

    payloads = ['<img src=x onerror="window.__pwned=1">', "<script>window.__pwned=2</script>**bold**"]
    for count, payload in enumerate(payloads, start=1):
        send(page, payload)
        users = page.locator("article.message.user")
        expect(users).to_have_count(count)
        expect(page.locator("article.message.assistant")).to_have_count(count)
        settle(page)  # the model echoes the markup: its streamed and final text must stay text as well
        assert shown(users.nth(count - 1)) == payload, "the user's message is not shown literally"

    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("#messages img, #messages script").count() == 0
    assert page.locator("article.message.user strong, article.message.user b").count() == 0
    tab.assert_clean_console()


def test_language_switch_is_remembered_per_user(open_tab, app):
    tab = open_tab()
    page = tab.page
    sign_in(page, "polyglot", app.password)
    expect(page.locator("#send-button")).to_have_text("Send")

    switch_language(page, "ko")
    expect(page).to_have_url(re.compile(r"/chat/$"))
    expect(page.locator("#send-button")).to_have_text("보내기")
    expect(page.locator("#composer-input")).to_have_attribute("placeholder", re.compile(r"^메시지를 입력하세요"))
    expect(page.locator("#new-chat-form button")).to_have_text("새 대화")
    expect(page.locator("#language-select")).to_have_value("ko")
    for button in ("#send-button", "#new-chat-form button"):  # Korean labels must not wrap syllable by syllable
        assert page.locator(button).evaluate(LINES_OF_TEXT) == 1, button

    sign_out(page)
    expect(page.locator("main h1")).to_have_text("로그인")
    sign_in(page, "polyglot", app.password)
    expect(page.locator("#send-button")).to_have_text("보내기")

    # Another browser, English by its Accept-Language and without the cookie: the account's choice wins.
    other = open_tab("en-US")
    other.page.goto("/accounts/login/")
    expect(other.page.locator("main h1")).to_have_text("Sign in")
    sign_in(other.page, "polyglot", app.password)
    expect(other.page.locator("#send-button")).to_have_text("보내기")
    expect(other.page.locator("html")).to_have_attribute("lang", "ko")

    switch_language(other.page, "en")
    expect(other.page.locator("#send-button")).to_have_text("Send")
    page.reload()
    expect(page.locator("#send-button")).to_have_text("Send")
    tab.assert_clean_console()
    other.assert_clean_console()


def test_screenshots_in_english_and_korean(open_tab, app):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab = open_tab()
    page = tab.page
    page.goto("/accounts/login/")
    page.screenshot(path=SCREENSHOTS / "signin-en.png", full_page=True)
    sign_in(page, "photographer", app.password)
    send(page, "안녕하세요! 한국의 수도는 어디인가요?")
    assert_done(page, page.locator("article.message.assistant"))
    send(page, "What is plasma etching?")
    expect(page.locator("article.message.assistant")).to_have_count(2)
    assert_done(page, page.locator("article.message.assistant").last)
    chat_url = page.url
    page.screenshot(path=SCREENSHOTS / "chat-en.png", full_page=True)
    page.goto("/admin/")
    expect(page.locator("#site-name")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "admin-en.png", full_page=True)

    page.goto(chat_url)
    switch_language(page, "ko")
    expect(page.locator("article.message.assistant .meta").first).to_contain_text("토큰")
    page.screenshot(path=SCREENSHOTS / "chat-ko.png", full_page=True)
    page.goto("/admin/")
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    page.screenshot(path=SCREENSHOTS / "admin-ko.png", full_page=True)
    page.goto(chat_url)
    sign_out(page)
    expect(page.locator("main h1")).to_have_text("로그인")
    page.screenshot(path=SCREENSHOTS / "signin-ko.png", full_page=True)

    for name in ("signin", "chat", "admin"):
        for lang in ("en", "ko"):
            assert (SCREENSHOTS / f"{name}-{lang}.png").stat().st_size > 5_000
    tab.assert_clean_console()


def test_edit_starts_a_branch_and_the_arrows_switch_between_versions(open_tab, app):
    tab = open_chat(open_tab, app, "streamer")
    page = tab.page
    conversation = new_chat(page, "gemma-3-270m-demo")
    send(page, "First question about wafers")
    assert_done(page, page.locator("article.message.assistant").last)

    page.locator("article.message.user").get_by_role("button", name="Edit").click()
    page.fill("textarea.edit-box", "Edited question about wafers")
    page.get_by_role("button", name="Save and send").click()
    expect(page.locator("article.message.user .body")).to_have_text("Edited question about wafers")
    assert_done(page, page.locator("article.message.assistant").last)
    user = page.locator("article.message.user")
    expect(user.locator(".siblings .count")).to_have_text("2 / 2")

    user.get_by_role("button", name="Previous version").click()
    expect(page.locator("article.message.user .body")).to_have_text("First question about wafers")
    expect(page.locator("article.message.user .siblings .count")).to_have_text("1 / 2")
    expect(page.locator("article.message")).to_have_count(2)  # only the branch on show

    tree = tab.context.request.get(f"{app.url}/api/conversations/{conversation}/messages/tree/").json()["results"]
    questions = [m for m in tree if m["role"] == "user"]
    assert len(questions) == 2 and questions[0]["parent_id"] == questions[1]["parent_id"]  # two branches
    shown = [m for m in api_messages(tab, app, conversation) if m["role"] == "user"]
    assert [m["content"] for m in shown] == ["First question about wafers"]  # the branch on show
    assert shown[0]["siblings"] == [q["id"] for q in questions]

    page.locator("article.message.assistant").get_by_role("button", name="Regenerate").click()
    expect(page.locator("article.message.assistant .siblings .count")).to_have_text("2 / 2", timeout=STREAM_MS)
    assert_done(page, page.locator("article.message.assistant").last)
    page.reload()
    expect(page.locator("article.message.assistant .siblings .count")).to_have_text("2 / 2")
    expect(page.locator("article.message.user .body")).to_have_text("First question about wafers")
    tab.assert_clean_console()


def test_profile_names_with_markup_stay_text(open_tab, app):
    tab = open_chat(open_tab, app, "streamer")
    page = tab.page
    page.goto("/admin/assistant/expertprofile/add/")
    page.fill("#id_name_en", '<img src=x onerror="window.__pwned=3">Chemist')
    page.fill("#id_name_ko", "<script>window.__pwned=4</script>화학자")
    page.fill("#id_slug", "xss-chemist")
    page.fill("#id_system_prompt_en", "You are a chemist.")
    page.fill("#id_system_prompt_ko", "당신은 화학자입니다.")
    with page.expect_navigation():
        page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_be_visible()

    page.goto("/chat/")
    names = ('<img src=x onerror="window.__pwned=3">Chemist', "<script>window.__pwned=4</script>화학자")
    option = page.locator("#profile-select option[value=xss-chemist]")
    assert option.text_content() in names  # whichever language the user reads, the name is plain text
    page.select_option("#profile-select", "xss-chemist")
    with page.expect_navigation(url=re.compile(r"/chat/\d+/$")):
        page.click("#new-chat-form button[type=submit]")
    send(page, "Hello")
    reply = page.locator("article.message.assistant").last
    assert_done(page, reply)

    assert any(name + " v1" in reply.locator(".meta").text_content() for name in names)
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("main img, main script").count() == 0
    tab.assert_clean_console()
