"""Service mode end to end: PostgreSQL, the Redis channel layer and cache, and a real Celery worker process.

Run by `make test-services`, which points DATABASE_URL, REDIS_URL and CELERY_BROKER_URL at the local
servers. The worker is a separate process started here, as in production; nothing runs eagerly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from django.conf import settings

from assistant.models import Conversation, Message

REPO = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (
            settings.REDIS_URL
            and settings.CELERY_BROKER_URL
            and "postgresql" in settings.DATABASES["default"]["ENGINE"]
        ),
        reason="service mode needs DATABASE_URL (PostgreSQL), REDIS_URL and CELERY_BROKER_URL: run make test-services",
    ),
]


class Worker:
    """A `celery worker` process on the test database, with its log kept for failure messages."""

    def __init__(self, database_name: str) -> None:
        url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + database_name
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "exaone_web.settings.base",
            "CHAT_STREAM_FLUSH_MS": "20",
            "PYTHONUNBUFFERED": "1",
        }
        self.name = f"test-{uuid.uuid4().hex[:8]}@%h"
        self.log: list[str] = []
        self.ready = threading.Event()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "exaone_web",
                "worker",
                "-Q",
                "text,default",
                "-c",
                "1",
                "-P",
                "prefork",
                "-n",
                self.name,
                "--without-mingle",
                "--without-gossip",
                "-l",
                "info",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        if not self.ready.wait(60):
            self.stop()
            raise RuntimeError("the Celery worker did not start:\n" + "".join(self.log[-40:]))

    def _read(self) -> None:
        for line in self.process.stdout:
            self.log.append(line)
            if " ready." in line:
                self.ready.set()

    def saw(self, *words: str, timeout: float = 30) -> bool:
        """Whether a log line with all ``words`` appears (the worker logs a task after it returns)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(all(word in line for word in words) for line in list(self.log)):
                return True
            time.sleep(0.1)
        return False

    def pool_children(self) -> list[int]:
        import psutil

        return [child.pid for child in psutil.Process(self.process.pid).children(recursive=True)]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def flushed_redis():
    import redis

    for url in {settings.REDIS_URL, settings.CELERY_BROKER_URL}:
        redis.Redis.from_url(url).flushdb()


@pytest.fixture
def worker(flushed_redis, django_db_setup, text_model):
    from django.db import connection

    process = Worker(connection.settings_dict["NAME"])
    yield process
    process.stop()


@database_sync_to_async
def _conversation(user) -> Conversation:
    return Conversation.objects.create(owner=user)


@database_sync_to_async
def _messages(conversation) -> list[Message]:
    return list(conversation.messages.order_by("id"))


async def _until(socket, kind: str, timeout: float = 90) -> tuple[dict, list[dict]]:
    seen = []
    while True:
        event = await socket.receive_json_from(timeout=timeout)
        if event["type"] == kind:
            return event, seen
        seen.append(event)


async def test_worker_streams_a_korean_reply_through_redis_into_postgres(user, worker, ws_connect):
    conversation = await _conversation(user)
    socket, connected, _ = await ws_connect(user, conversation.pk)
    assert connected

    await socket.send_json_to({"type": "message.send", "content": "화학 공정에서 촉매의 역할은?"})
    done, before = await _until(socket, "message.done")

    deltas = [e for e in before if e["type"] == "message.delta"]
    assert deltas and [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
    assert done["message"]["status"] == "done", "".join(worker.log[-30:])
    assert "".join(d["text"] for d in deltas) == done["message"]["content"]
    stored = await _messages(conversation)
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[1].content == done["message"]["content"] and stored[1].completion_tokens > 0
    assert worker.saw("assistant.generate_reply", "succeeded")  # the worker process did the work
    await socket.disconnect()


def test_healthz_shows_broker_and_the_workers_models(client, user, admin_user, worker):
    from assistant import services

    client.force_login(admin_user)  # the details are for staff
    conversation = Conversation.objects.create(owner=user)
    services.message_send(user=user, conversation=conversation, content="hello")
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and conversation.messages.filter(status="done").count() == 0:
        time.sleep(0.2)

    # The worker publishes its report right after each job returns, a moment after the reply is saved.
    def loaded_models() -> tuple[dict, list[str]]:
        body = client.get("/healthz").json()
        return body, [m["name"] for w in body["engines"]["workers"] for m in w["models"]]

    body, loaded = loaded_models()
    while time.monotonic() < deadline and "Gemma 3 270M (test)" not in loaded:
        time.sleep(0.2)
        body, loaded = loaded_models()

    assert body["status"] == "ok" and body["jobs"] == "celery"
    assert body["database"]["vendor"] == "postgresql"
    assert body["channel_layer"]["backend"] == "RedisChannelLayer" and body["broker"]["ok"]
    assert "Gemma 3 270M (test)" in loaded


def test_a_job_delivered_twice_runs_once(user, worker):
    from assistant import services
    from assistant.tasks import generate_reply

    conversation = Conversation.objects.create(owner=user)
    _, reply = services.message_send(user=user, conversation=conversation, content="twice?")
    generate_reply.apply_async(args=[reply.pk], queue="text")  # a redelivery of the same job

    def runs() -> int:
        return sum(1 for line in list(worker.log) if "assistant.generate_reply" in line and "succeeded" in line)

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and runs() < 2:
        time.sleep(0.2)

    assert Message.objects.get(pk=reply.pk).status == "done"
    assert conversation.messages.count() == 2
    assert runs() == 2  # both deliveries finished; the second found the reply taken and did nothing


async def test_killed_worker_leaves_a_clear_failure_not_a_spinner(user, worker, ws_connect, settings):
    settings.CHAT_STALE_SECONDS = 2
    text_model = await database_sync_to_async(
        lambda: __import__("catalog.models").models.ModelEntry.objects.get(name="gemma-test")
    )()
    text_model.options = {"n_parallel": 2}
    text_model.default_sampling = {"temperature": 0.0, "max_new_tokens": 1000}
    await database_sync_to_async(text_model.save)()
    conversation = await _conversation(user)
    socket, _, _ = await ws_connect(user, conversation.pk)

    await socket.send_json_to({"type": "message.send", "content": "Write a very long report."})
    await _until(socket, "message.delta")
    for pid in worker.pool_children():
        os.kill(pid, signal.SIGKILL)
    await socket.disconnect()
    time.sleep(3)
    again, connected, _ = await ws_connect(user, conversation.pk)

    stored = await _messages(conversation)
    assert connected
    assert [m.role for m in stored] == ["user", "assistant"]  # no duplicate reply
    assert stored[1].status == Message.Status.FAILED
    assert "Send the message again" in stored[1].error
    assert stored[1].content  # the text streamed before the crash is kept
    await again.disconnect()
