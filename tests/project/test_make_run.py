"""`make run` serves the app: the README's commands, tried as a newcomer would, with a scripted client."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from support import sign_in

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path, gemma_path):
    """`make run` on a fresh var/ folder, with the demo Gemma model and one account made the README's way."""
    port = _free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "EXAONE_VAR_DIR": str(tmp_path / "var"),
        "MODELS_DIR": str(gemma_path.parent),  # the assembled GGUF is reused, not copied
        "DJANGO_SUPERUSER_USERNAME": "newcomer",
        "DJANGO_SUPERUSER_EMAIL": "newcomer@example.com",
        "DJANGO_SUPERUSER_PASSWORD": "a-long-pass-phrase-2026",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)
    manage = [sys.executable, "manage.py"]
    # A fixed seed makes the small base model's answer reproducible (some samples are empty answers).
    seeded = (
        "from catalog.models import ModelEntry as M; m = M.objects.get(name='gemma-3-270m-demo'); "
        "m.default_sampling = {**m.default_sampling, 'seed': 1, 'max_new_tokens': 48}; m.save()"
    )
    for command in (
        ["migrate", "-v0"],
        ["build_demo_models", "--only", "gemma"],
        ["createsuperuser", "--noinput"],
        ["shell", "-c", seeded],
    ):
        subprocess.run(manage + command, cwd=REPO, env=env, check=True, timeout=300, capture_output=True)
    server = subprocess.Popen(
        ["make", "run"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            httpx.get(base + "/healthz", timeout=5)
            break
        except httpx.HTTPError:
            time.sleep(0.5)
    yield base
    os.killpg(server.pid, signal.SIGTERM)
    server.communicate(timeout=30)


def test_make_run_serves_healthz_and_the_korean_sign_in_page(served, tmp_path):
    health = httpx.get(served + "/healthz").json()
    sign_in = httpx.get(served + "/accounts/login/", headers={"Accept-Language": "ko"})

    assert health == {"status": "ok"}  # details are for staff only
    assert sign_in.status_code == 200 and "로그인" in sign_in.text
    assert (tmp_path / "var" / "exaone.sqlite3").exists()


def test_scripted_client_signs_in_and_streams_a_korean_reply(served):
    import websockets

    browser = httpx.Client(base_url=served, follow_redirects=True)
    signed_in = sign_in(browser, "newcomer", "a-long-pass-phrase-2026")
    conversation = browser.post(
        "/api/conversations/", json={}, headers={"X-CSRFToken": browser.cookies["csrftoken"], "Referer": served}
    ).json()
    cookie = "; ".join(f"{name}={value}" for name, value in browser.cookies.items())

    async def chat() -> list[dict]:
        url = served.replace("http", "ws") + f"/ws/chat/{conversation['id']}/"
        events = []
        async with websockets.connect(url, additional_headers={"Cookie": cookie, "Origin": served}) as ws:
            await ws.send(
                json.dumps({"type": "message.send", "content": "반도체 식각 공정을 한 문장으로 설명해 주세요."})
            )
            while not events or events[-1]["type"] not in ("message.done", "error"):
                events.append(json.loads(await asyncio.wait_for(ws.recv(), timeout=120)))
        return events

    with ThreadPoolExecutor(1) as pool:  # a thread of its own: another event loop may be running here
        events = pool.submit(asyncio.run, chat()).result()

    assert signed_in.url.path == "/chat/"
    deltas = [e for e in events if e["type"] == "message.delta"]
    done = events[-1]
    assert done["type"] == "message.done" and done["message"]["status"] == "done"
    assert deltas and "".join(d["text"] for d in deltas) == done["message"]["content"]
    created = [e["message"] for e in events if e["type"] == "message.created"]
    assert created[0]["content"] == "반도체 식각 공정을 한 문장으로 설명해 주세요."
    stored = browser.get(f"/api/conversations/{conversation['id']}/messages/").json()["results"]
    assert stored[-1]["content"] == done["message"]["content"]
