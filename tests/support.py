"""Helpers shared by the socket, service-mode and benchmark code: real processes and real sockets."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def until(socket_, kind: str, timeout: float = 60) -> tuple[dict, list[dict]]:
    """Receive events (from a channels WebsocketCommunicator) until one of ``kind``; return it and those before."""
    seen = []
    while True:
        event = await socket_.receive_json_from(timeout=timeout)
        if event["type"] == kind:
            return event, seen
        seen.append(event)


class Process:
    """A child process (a server or a worker) with its output kept for failure messages."""

    def __init__(
        self, command: list[str], *, env: dict[str, str], ready: str, name: str, timeout: float = 90, port: int = 0
    ) -> None:
        """``ready`` is a line the process prints when it is up; with ``port``, it is up once the port answers."""
        self.name = name
        self.log: list[str] = []
        self._ready_text = ready
        self.ready = threading.Event()
        self.process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        if port:
            threading.Thread(target=self._poll, args=(port, timeout), daemon=True).start()
        if not self.ready.wait(timeout):
            self.stop()
            raise RuntimeError(f"{name} did not start:\n" + self.tail())

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.log.append(line)
            if self._ready_text in line:
                self.ready.set()

    def _poll(self, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                self.ready.set()
                return
            except OSError:
                time.sleep(0.2)

    def tail(self, lines: int = 60) -> str:
        return "".join(self.log[-lines:])

    def saw(self, *words: str, timeout: float = 30) -> bool:
        """Whether a line with all ``words`` appears in the output within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count(*words):
                return True
            time.sleep(0.1)
        return False

    def count(self, *words: str) -> int:
        return sum(1 for line in list(self.log) if all(word in line for word in words))

    def kill(self) -> None:
        """SIGKILL the whole process group: no cleanup runs, as when a machine or the OOM killer strikes."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self, timeout: float = 30) -> int | None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        return self.process.returncode


def service_env(database_name: str, **overrides: str) -> dict[str, str]:
    """The environment of a web or worker process on the test database (service mode)."""
    url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + database_name
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "exaone_web.settings.base",
        "CHAT_STREAM_FLUSH_MS": "20",
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "INFO",
    }
    env.update(overrides)
    return env


def start_worker(env: dict[str, str], *, queues: str = "text", beat: bool = False) -> Process:
    """`manage.py jobworker` for one queue: a Celery worker with a thread pool, as deployed."""
    command = [sys.executable, "manage.py", "jobworker", "-Q", queues, "-n", f"test-{uuid.uuid4().hex[:8]}"]
    if beat:
        command.append("--beat")
    return Process(command, env=env, ready=" ready.", name=f"worker {queues}")


def start_web(env: dict[str, str], port: int) -> Process:
    """The web server as `make run` starts it (daphne with request bodies bounded while they arrive)."""
    command = [sys.executable, "-m", "exaone_web.serve", "-b", "127.0.0.1", "-p", str(port)]
    command.append("exaone_web.asgi:application")
    return Process(command, env=env, ready="Listening on TCP address", name="web", port=port)


class LiveClient:
    """A signed-in browser against a live server: a session cookie, REST over httpx, sockets over websockets."""

    def __init__(self, base_url: str, session_key: str) -> None:
        import httpx

        self.base_url = base_url
        self.cookies = {"sessionid": session_key}
        self.http = httpx.Client(base_url=base_url, cookies=self.cookies, timeout=30, trust_env=False)

    def socket(self, conversation_id: int) -> LiveSocket:
        return LiveSocket(self, conversation_id)


class LiveSocket:
    """A websocket to a live server, with the Origin and cookie a browser sends."""

    def __init__(self, client: LiveClient, conversation_id: int) -> None:
        self.client = client
        self.url = client.base_url.replace("http://", "ws://") + f"/ws/chat/{conversation_id}/"
        self.connection: Any = None
        self.events: list[dict[str, Any]] = []

    async def __aenter__(self) -> LiveSocket:
        import websockets

        self.connection = await websockets.connect(
            self.url,
            origin=self.client.base_url,
            additional_headers={"Cookie": f"sessionid={self.client.cookies['sessionid']}"},
            open_timeout=20,
            ping_interval=None,  # like a quiet browser tab: the server must keep the socket by itself
        )
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.connection.close()

    async def send(self, frame: dict[str, Any]) -> None:
        await self.connection.send(json.dumps(frame))

    async def receive(self, timeout: float = 60) -> dict[str, Any]:
        import asyncio

        event = json.loads(await asyncio.wait_for(self.connection.recv(), timeout))
        self.events.append(event)
        return event

    async def until(self, kind: str, timeout: float = 90, message_id: int | None = None) -> tuple[dict, list[dict]]:
        seen = []
        while True:
            event = await self.receive(timeout)
            if event["type"] == kind and (message_id is None or _message_id(event) == message_id):
                return event, seen
            seen.append(event)


def _message_id(event: dict[str, Any]) -> int | None:
    if "message_id" in event:
        return event["message_id"]
    return (event.get("message") or {}).get("id")


def sign_in(http, username: str, password: str):
    """Sign in through the form, as a person does (CSRF token from the page); returns the form's response."""
    import re

    page = http.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return http.post(
        "/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": str(http.base_url).rstrip("/") + "/accounts/login/"},
    )


def tiny_image_model(folder: Path) -> Path:
    """The tiny demo Stable Diffusion folder (seed 0), built on first use and kept between runs."""
    from inference.demo.image import build_image_model

    if not (folder / "model_index.json").is_file():
        build_image_model(folder, seed=0)
    return folder


def require_system_file(path: Path, package: str) -> None:
    """Skip a test whose Debian package is missing on this machine; under CI (which installs it) fail instead."""
    if path.exists():
        return
    message = f"needs {path} from Debian's {package} (apt-get install {package}; .ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
