"""`make run` serves the app: the README's second command, tried as a newcomer would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_run_serves_healthz_and_sign_in(tmp_path):
    port = _free_port()
    env = {**os.environ, "PORT": str(port), "EXAONE_VAR_DIR": str(tmp_path / "var")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    server = subprocess.Popen(
        ["make", "run"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        body = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and body is None:
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
            except httpx.HTTPError:
                time.sleep(0.5)
        sign_in = httpx.get(f"http://127.0.0.1:{port}/accounts/login/", headers={"Accept-Language": "ko"})
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        output = server.communicate(timeout=30)[0].decode(errors="replace")

    assert body is not None, output
    assert body["status"] == "ok" and body["database"]["vendor"] == "sqlite"
    assert sign_in.status_code == 200
    assert "로그인" in sign_in.text  # the Korean sign-in page
    assert (tmp_path / "var" / "exaone.sqlite3").exists()
