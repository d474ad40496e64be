"""Request bodies are bounded while they arrive (SECURITY.md line 5): in the ASGI application and in daphne."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHUNK = b"x" * 65536


def _http_scope(*, content_type: bytes = b"application/x-www-form-urlencoded", length: int | None = None) -> dict:
    headers = [(b"host", b"127.0.0.1"), (b"content-type", content_type), (b"accept-language", b"ko")]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    else:
        headers.append((b"transfer-encoding", b"chunked"))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/accounts/login/",
        "raw_path": b"/accounts/login/",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def _call(scope: dict, chunks: int) -> tuple[int, dict, int]:
    """Feed ``chunks`` body chunks of 64 KiB; return (chunks read by the application, response start, body)."""
    from exaone_web.asgi import application

    read = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal read
        if read >= chunks:  # the body is complete: a client that waits for its answer sends nothing more
            await asyncio.Event().wait()
        read += 1
        return {"type": "http.request", "body": CHUNK, "more_body": read < chunks}

    async def send(message: dict) -> None:
        sent.append(message)

    await application(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return read, start, json.loads(body) if start["status"] == 413 else {}


async def test_a_chunked_body_is_refused_at_the_first_chunk_over_the_limit(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024

    read, start, body = await _call(_http_scope(), chunks=200)  # 12.5 MiB offered

    assert start["status"] == 413
    assert read == 5  # four chunks fit in 256 KiB; the fifth is one byte too many
    assert body["code"] == "too_large" and "262144" in body["detail"] and "보내세요" in body["detail"]  # Korean


async def test_a_declared_length_over_the_limit_is_refused_before_reading(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024

    read, start, body = await _call(_http_scope(length=10 * 1024 * 1024), chunks=160)

    assert (start["status"], read) == (413, 0)
    assert "10485760" in body["detail"]


async def test_multipart_bodies_have_the_upload_limit(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
    settings.MAX_UPLOAD_BYTES = 1024 * 1024
    multipart = b"multipart/form-data; boundary=xyz"

    within, start_within, _ = await _call(_http_scope(content_type=multipart), chunks=8)
    over, start_over, _ = await _call(_http_scope(content_type=multipart), chunks=40)

    assert start_within["status"] != 413 and within == 8  # read to the end and handed to Django
    assert start_over["status"] == 413 and over == 17


# ------------------------------------------------------------------------------------------ a real daphne


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def daphne_port(tmp_path_factory):
    """The web server the way `make run` starts it, with a 64 KiB body limit."""
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "exaone_web.settings.base",
        "EXAONE_VAR_DIR": str(tmp_path_factory.mktemp("var")),
        "MAX_REQUEST_BYTES": "65536",
        "MAX_UPLOAD_BYTES": "131072",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "exaone_web.serve", "-b", "127.0.0.1", "-p", str(port), "exaone_web.asgi:application"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert server.poll() is None, server.stderr.read().decode()
            time.sleep(0.2)
    yield port
    os.killpg(server.pid, signal.SIGTERM)
    server.communicate(timeout=30)


def _send_until_answered(port: int, head: bytes, frame: bytes, *, most: int) -> tuple[bytes, int]:
    """Send ``head``, then ``frame`` over and over (up to ``most`` bytes) until the server answers.

    Returns the answer and how many body bytes had been sent when it came.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        sent = 0
        answer = b""
        while sent < most:
            readable, writable, _ = select.select([sock], [sock], [], 10)
            if readable:
                answer = sock.recv(65536)
                break
            if writable:
                try:
                    sent += sock.send(frame)
                except (BrokenPipeError, ConnectionResetError):
                    break
        if not answer:
            readable, _, _ = select.select([sock], [], [], 10)
            answer = sock.recv(65536) if readable else b""
        return answer, sent


def test_daphne_refuses_an_endless_chunked_body_while_it_arrives(daphne_port):
    head = (
        b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Language: en\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    frame = b"%x\r\n" % len(CHUNK) + CHUNK + b"\r\n"

    answer, sent = _send_until_answered(daphne_port, head, frame, most=256 * 1024 * 1024)

    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"code": "too_large"' in answer and b"65536" in answer
    # Answered while the body was still coming, after the limit plus what socket buffers hold.
    assert sent < 32 * 1024 * 1024


def test_daphne_refuses_a_declared_length_over_the_limit_without_the_body(daphne_port):
    head = (
        b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1073741824\r\nExpect: 100-continue\r\n\r\n"
    )

    answer, sent = _send_until_answered(daphne_port, head, CHUNK, most=256 * 1024 * 1024)

    assert answer.startswith(b"HTTP/1.1 413") and b"1073741824" in answer
    assert b"100 Continue" not in answer
    assert sent < 32 * 1024 * 1024


def test_daphne_still_serves_bodies_within_the_limit(daphne_port):
    body = b"username=alice&password=" + b"p" * 60_000
    head = (
        b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    frame = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"

    answer, _ = _send_until_answered(daphne_port, head + frame, b"", most=1)

    assert answer.startswith(b"HTTP/1.1 403")  # Django read it: no CSRF token


def test_make_run_and_the_image_start_the_bounded_server():
    makefile = (REPO / "Makefile").read_text()
    dockerfile = (REPO / "Dockerfile").read_text()
    compose = (REPO / "docker-compose.yml").read_text()

    assert "-m exaone_web.serve" in makefile
    assert '"exaone_web.serve"' in dockerfile
    assert "-m exaone_web.serve" in compose and "daphne -b" not in compose
