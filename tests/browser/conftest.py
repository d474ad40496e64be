"""The real app in a subprocess (daphne, embedded mode) and Debian's Chromium driven by Playwright.

The server starts once per session: migrate, register the packaged Gemma GGUF (made greedy, so its short
answers are the same on every run), create the test accounts, and register a second "long answers" model on
the same file (no stop strings, greedy, 600 tokens) for the tests that need a long stream.
Playwright never downloads a browser here: it always launches /usr/bin/chromium.
axe-core (the accessibility checker) comes from npm at setup (package.json); the ``axe`` fixture runs it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"
SHARED_MODELS = REPO / "var" / "test-models"

PASSWORD = "browser-test-pass-phrase-7"
#: One account per concern, so a language switch or a reply still running never leaks into another test.
USERS = ("streamer", "polyglot", "photographer", "auditor", "navigator", "dropper", "designer", "inspector")
LONG_MODEL = "gemma-long-test"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: Run in the app's own settings by `manage.py shell -c`: the accounts and the long-answer model.
SETUP_SCRIPT = f"""
from accounts.models import User
from catalog.models import ModelEntry
for name in {USERS!r}:
    User.objects.create_superuser(username=name, email=name + "@example.com", password={PASSWORD!r})
base = ModelEntry.objects.get(name="gemma-3-270m-demo")
base.default_sampling = {{"temperature": 0.0, "max_new_tokens": 200}}
base.save()
ModelEntry.objects.create(
    name={LONG_MODEL!r},
    display_name="Gemma 3 270M long answers (test)",
    kind=base.kind,
    engine=base.engine,
    path=base.path,
    licence=base.licence,
    context_length=2048,
    options={{"n_parallel": 4}},
    default_sampling={{"temperature": 0.0, "max_new_tokens": 600}},
    demo=True,
)
print("setup ok")
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _app_env(var_dir: Path, models_dir: Path) -> dict[str, str]:
    env = {**os.environ, "EXAONE_VAR_DIR": str(var_dir), "MODELS_DIR": str(models_dir), "LOG_LEVEL": "WARNING"}
    # Two cores, often shared with other jobs: one llama.cpp thread keeps decoding steady instead of thrashing.
    env.setdefault("INFERENCE_THREADS", "1")
    # pytest-django points this at the test settings; the served app uses its own defaults (embedded mode).
    for name in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "JOBS_BACKEND"):
        env.pop(name, None)
    return env


def _manage(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"


@dataclass
class App:
    url: str
    log: Path
    process: subprocess.Popen = field(repr=False)
    password: str = PASSWORD
    long_model: str = LONG_MODEL
    #: The served app's environment, so a test module can run `manage.py` against the same database.
    env: dict[str, str] = field(default_factory=dict, repr=False)

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@pytest.fixture(scope="session")
def app(tmp_path_factory) -> Iterator[App]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium (/usr/bin/chromium) is not installed")
    root = tmp_path_factory.mktemp("browser-app")
    var_dir = root / "var"
    models_dir = SHARED_MODELS if (SHARED_MODELS / GEMMA_FILE).exists() else root / "models"
    env = _app_env(var_dir, models_dir)
    _manage(env, "migrate", "-v0")
    _manage(env, "build_demo_models", "--only", "gemma", "image")
    _manage(env, "shell", "-c", SETUP_SCRIPT)

    port = _free_port()
    log = root / "daphne.log"
    with log.open("wb") as out:
        # The web server as `make run` starts it (daphne with bounded request bodies).
        command = ["-m", "exaone_web.serve", "-b", "127.0.0.1", "-p", str(port), "exaone_web.asgi:application"]
        process = subprocess.Popen(
            [sys.executable, *command],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = App(url=f"http://127.0.0.1:{port}", log=log, process=process, env=env)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{server.url}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, f"daphne exited early:\n{server.log_tail()}"
            assert time.monotonic() < deadline, f"daphne did not answer /healthz:\n{server.log_tail()}"
            time.sleep(0.3)
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser(app):
    """Chromium for one test module: Playwright's sync API keeps an event loop running while it lives."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # Playwright gives the browser a fresh temporary profile of its own (never the user's home one).
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _is_allowed_console_error(message) -> bool:
    """The only console error a page may log: Chromium's automatic /favicon.ico request (the app serves none)."""
    return message.text.startswith("Failed to load resource") and message.location.get("url", "").endswith(
        "/favicon.ico"
    )


@dataclass
class Tab:
    """One browser context with one page; console errors and uncaught exceptions are collected."""

    context: object
    page: object
    errors: list[str] = field(default_factory=list)

    def assert_clean_console(self) -> None:
        assert self.errors == [], "JavaScript console errors:\n" + "\n".join(self.errors)


@pytest.fixture
def open_tab(browser, app):
    """Open a fresh context (own cookies, English unless told) and a page in it."""
    contexts = []

    def open_(locale: str = "en-US", **options) -> Tab:
        """``options`` go to Playwright's new_context (viewport, color_scheme, reduced_motion...)."""
        options.setdefault("viewport", {"width": 1280, "height": 800})
        context = browser.new_context(base_url=app.url, locale=locale, **options)
        context.set_default_timeout(30_000)
        contexts.append(context)
        tab = Tab(context=context, page=context.new_page())

        def on_console(message) -> None:
            if message.type == "error" and not _is_allowed_console_error(message):
                tab.errors.append(f"console.error: {message.text} ({message.location.get('url', '')})")

        tab.page.on("console", on_console)
        tab.page.on("pageerror", lambda exc: tab.errors.append(f"uncaught: {exc}"))
        return tab

    yield open_
    for context in contexts:
        context.close()


#: The violations that fail a page: axe-core's two highest impact levels.
AXE_FAILING_IMPACTS = ("serious", "critical")


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE.exists():
        message = "axe-core is not installed: run `make setup` (it runs `npm ci`; needs Node.js and npm)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI installs npm: a missing checker must not pass as a skipped check
        pytest.skip(message)
    return AXE.read_text(encoding="utf-8")


@dataclass
class Axe:
    """``axe(page)``: axe-core's serious and critical violations on the page as it is now.

    The page's CSP (script-src 'self') forbids inline scripts, so axe is not added as a <script> tag: its source
    is evaluated through the DevTools protocol, which the CSP does not govern; the app's CSP stays on.
    """

    source: str = field(repr=False)

    def __call__(self, page) -> list[dict]:
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.evaluate(self.source + "\n;undefined")
        results = page.evaluate(
            """async () => {
                 const r = await window.axe.run(document, {resultTypes: ["violations"]});
                 return r.violations.map((v) => ({
                   id: v.id, impact: v.impact, help: v.help,
                   nodes: v.nodes.map((n) => ({target: n.target.join(" "), summary: n.failureSummary})),
                 }));
               }"""
        )
        return [v for v in results if v["impact"] in AXE_FAILING_IMPACTS]

    @staticmethod
    def describe(violations: list[dict]) -> str:
        """One readable block per violation, for assertion messages."""
        lines = []
        for v in violations:
            lines.append(f"[{v['impact']}] {v['id']}: {v['help']}")
            lines.extend(f"    {n['target']}: {n['summary']}" for n in v["nodes"][:8])
        return "\n".join(lines)


@pytest.fixture
def axe(axe_source) -> Axe:
    return Axe(source=axe_source)
