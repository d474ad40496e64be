"""Service mode end to end: PostgreSQL, the Redis channel layer and cache, a broker, real worker processes.

Run by `make test-services` (once with a Redis broker, once with RabbitMQ). Workers are `manage.py jobworker`
processes and, where a browser would meet it, the web is a real daphne server reached over real sockets.
Faults are real too: SIGKILL, SIGTERM, a redis-server stopped mid-stream, broker messages lost and doubled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from support import LiveClient, free_port, service_env, sign_in, start_web, start_worker, until

from assistant import services
from assistant.models import Conversation, Message
from assistant.publisher import reply_snapshot
from catalog.services import model_register
from exaone_web.jobs.models import Job

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


def _long_answers(model, tokens: int = 400) -> None:
    model.options = {"n_parallel": 4}  # no stop strings: the base model writes until the budget is spent
    model.default_sampling = {"temperature": 0.0, "max_new_tokens": tokens, "seed": 7}
    model.save()


def _wait(predicate, timeout: float = 90, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _reply(conversation: Conversation) -> Message:
    return conversation.messages.filter(role="assistant").order_by("-id").first()


# --------------------------------------------------------------------------------------------- streaming


async def test_worker_streams_a_korean_reply_through_redis_into_postgres(user, worker, ws_connect):
    conversation = await database_sync_to_async(Conversation.objects.create)(owner=user)
    socket, connected, _ = await ws_connect(user, conversation.pk)
    assert connected

    await socket.send_json_to({"type": "message.send", "content": "화학 공정에서 촉매의 역할은?"})
    done, before = await until(socket, "message.done", timeout=90)

    deltas = [e for e in before if e["type"] == "message.delta"]
    assert deltas and [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
    assert done["message"]["status"] == "done", worker.tail()
    assert "".join(d["text"] for d in deltas) == done["message"]["content"]
    stored = await database_sync_to_async(lambda: list(conversation.messages.order_by("id")))()
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[1].content == done["message"]["content"] and stored[1].completion_tokens > 0
    assert stored[1].content_html  # rendered once, when the reply ended
    assert worker.saw("jobs.run_next", "succeeded")  # the worker process did the work
    await socket.disconnect()


def test_healthz_shows_broker_and_the_workers_models(client, user, admin_user, worker):
    conversation = Conversation.objects.create(owner=user)
    services.message_send(user=user, conversation=conversation, content="hello")
    _wait(lambda: conversation.messages.filter(status="done").exists(), what="the reply")
    client.force_login(admin_user)  # the details are for staff

    def loaded() -> tuple[dict, list[str]]:
        body = client.get("/healthz").json()
        return body, [m["name"] for w in body["engines"]["workers"] for m in w["models"]]

    _wait(lambda: "Gemma 3 270M (test)" in loaded()[1], what="the worker report")
    body, names = loaded()

    assert body["status"] == "ok" and body["jobs"] == "celery"
    assert body["database"]["vendor"] == "postgresql"
    assert body["channel_layer"]["backend"] == "RedisChannelLayer" and body["broker"]["ok"]
    assert "Gemma 3 270M (test)" in names


async def test_the_same_wake_up_delivered_twice_while_a_reply_streams_generates_once(user, worker, ws_connect):
    from exaone_web.jobs.tasks import run_next

    # Named already, so no title job sends a third wake-up while the deliveries are counted.
    conversation = await database_sync_to_async(Conversation.objects.create)(owner=user, title="Heat exchangers")
    socket, _, _ = await ws_connect(user, conversation.pk)
    await socket.send_json_to({"type": "message.send", "content": "Explain a heat exchanger."})
    created, _ = await until(socket, "message.created")
    created, _ = await until(socket, "message.created")
    await until(socket, "message.delta")

    reply = await database_sync_to_async(Message.objects.get)(pk=created["message"]["id"])
    await database_sync_to_async(run_next.apply_async)(args=["text", reply.job_id], queue="text")  # redelivery
    done, rest = await until(socket, "message.done", timeout=90)
    await asyncio.to_thread(worker.saw, "jobs.run_next", "succeeded", timeout=30)
    await asyncio.sleep(1)

    job = await database_sync_to_async(Job.objects.get)(pk=reply.job_id)
    assert job.attempts == 1 and job.status == "succeeded"
    runs = [line for line in worker.log if "jobs.run_next" in line]
    # Both deliveries ran; the second found nothing to claim.
    assert worker.count("jobs.run_next", "succeeded") == 2, "\n".join(runs)
    assert not [e for e in rest if e["type"] == "message.started"]  # one generation only
    stored = await database_sync_to_async(lambda: list(conversation.messages.order_by("id")))()
    assert len(stored) == 2 and stored[1].content == done["message"]["content"]
    await socket.disconnect()


# --------------------------------------------------------------------------------------------- long-lived sockets


@pytest.mark.any_broker
def test_an_idle_socket_is_still_open_after_a_minute(browser, worker, user, text_model):
    conversation = Conversation.objects.create(owner=user)

    async def scenario() -> tuple[list[dict], dict, dict]:
        async with browser.socket(conversation.pk) as socket:
            quiet = []
            with contextlib.suppress(TimeoutError):
                quiet.append(await socket.receive(timeout=62))
            await socket.send({"type": "ping"})
            pong = await socket.receive(timeout=10)
            await socket.send({"type": "message.send", "content": "Still there?"})
            done, _ = await socket.until("message.done", timeout=90)
            return quiet, pong, done

    quiet, pong, done = asyncio.run(scenario())

    assert quiet == []  # no close, no error in 62 s of silence
    assert pong == {"type": "pong"}
    assert done["message"]["status"] == "done"


class PausingProxy:
    """Forwards to a real model server; after ``after`` streamed chunks it holds the stream still for ``pause`` s."""

    def __init__(self, upstream: str, *, after: int, pause: float) -> None:
        import httpx

        self.forwarded: list[str] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with httpx.Client(timeout=300, trust_env=False) as http:
                    headers = {"Content-Type": "application/json"}
                    with http.stream("POST", upstream + self.path, content=body, headers=headers) as upstream_reply:
                        self.send_response(upstream_reply.status_code)
                        self.send_header("Content-Type", upstream_reply.headers.get("content-type", "text/plain"))
                        self.send_header("Connection", "close")
                        self.end_headers()
                        chunks = 0
                        for line in upstream_reply.iter_lines():
                            if line.startswith("data: {"):
                                chunks += 1
                                if chunks == after:
                                    time.sleep(pause)
                                for choice in json.loads(line[6:]).get("choices", ()):
                                    proxy.forwarded.append((choice.get("delta") or {}).get("content") or "")
                            self.wfile.write((line + "\n").encode())
                            self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def model_server(gemma_path):
    """llama.cpp's own OpenAI-compatible server with the packaged Gemma (a real upstream model server)."""
    xllamacpp = pytest.importorskip("xllamacpp")
    params = xllamacpp.CommonParams()
    params.model.path = str(gemma_path)
    params.n_ctx = 2048
    params.n_parallel = 1
    params.cpuparams.n_threads = 1
    params.cpuparams_batch.n_threads = 1
    params.verbosity = -1
    server = xllamacpp.Server(params)
    yield server.listening_address
    del server


@pytest.mark.any_broker
def test_a_ten_second_pause_between_tokens_arrives_whole(browser, worker, user, model_server):
    proxy = PausingProxy(model_server, after=4, pause=10)
    model_register(
        name="remote-paused",
        display_name="Remote (paused)",
        kind="text",
        engine="openai",
        path=proxy.url + "/v1",
        context_length=2048,
        options={"allowed_hosts": ["127.0.0.1"], "timeout": 60, "model": "gemma"},
        default_sampling={"temperature": 0.0, "max_new_tokens": 24, "seed": 1},
        is_default=True,
    )
    conversation = Conversation.objects.create(owner=user)

    async def scenario() -> tuple[dict, list[dict]]:
        async with browser.socket(conversation.pk) as socket:
            await socket.send({"type": "message.send", "content": "Name three alloys."})
            return await socket.until("message.done", timeout=120)

    try:
        done, before = asyncio.run(scenario())
    finally:
        proxy.close()

    deltas = [e for e in before if e["type"] == "message.delta"]
    assert done["message"]["status"] == "done", done["message"]["error"]
    assert "".join(d["text"] for d in deltas) == done["message"]["content"] == "".join(proxy.forwarded)
    assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
    assert _reply(conversation).content == done["message"]["content"]


# --------------------------------------------------------------------------------------------- dead workers


def test_a_killed_worker_fails_the_reply_on_the_open_socket_and_the_user_can_send_again(browser, env, user, text_model):
    _long_answers(text_model, tokens=1000)
    conversation = Conversation.objects.create(owner=user)
    first_worker = start_worker(env)

    async def scenario() -> tuple[dict, float, dict, dict]:
        async with browser.socket(conversation.pk) as socket:
            await socket.send({"type": "message.send", "content": "Write a very long report."})
            await socket.until("message.delta")
            first_worker.kill()
            killed_at = time.monotonic()
            failed, _ = await socket.until("message.done", timeout=45)
            waited = time.monotonic() - killed_at
            await database_sync_to_async(_long_answers)(text_model, 24)
            await socket.send({"type": "message.send", "content": "Try again, shorter."})
            accepted, _ = await socket.until("message.created")
            second_worker = await asyncio.to_thread(start_worker, env)
            try:
                again, _ = await socket.until("message.done", timeout=120)
            finally:
                await asyncio.to_thread(second_worker.stop)
            return failed, waited, accepted, again

    failed, waited, accepted, again = asyncio.run(scenario())

    assert failed["message"]["status"] == "failed"
    assert "Retry" in failed["message"]["error"]
    assert failed["message"]["content"]  # the text streamed before the crash is kept
    assert waited < 30
    assert accepted["message"]["role"] == "user"
    assert again["message"]["status"] == "done"
    replies = list(conversation.messages.filter(role="assistant").order_by("id"))
    assert [r.status for r in replies] == ["failed", "done"]  # no duplicate replies


@pytest.mark.any_broker
def test_a_worker_stopped_with_sigterm_ends_its_reply_cleanly(env, user, text_model):
    _long_answers(text_model, tokens=2000)
    worker = start_worker({**env, "JOBS_SHUTDOWN_GRACE_SECONDS": "2"})
    conversation = Conversation.objects.create(owner=user)
    services.message_send(user=user, conversation=conversation, content="Write a very long report.")
    _wait(lambda: (reply_snapshot(_reply(conversation).pk) or {}).get("content"), what="the first tokens")

    code = worker.stop(timeout=60)

    reply = _reply(conversation)
    assert code == 0, worker.tail()
    assert reply.status in ("failed", "done")
    if reply.status == "failed":
        assert "restarted" in reply.error and reply.content
    assert reply.job.status in ("failed", "succeeded")


def test_a_reply_whose_wake_up_was_lost_runs_once_the_sweep_wakes_a_worker(live, env, user, text_model):
    import redis

    conversation = Conversation.objects.create(owner=user)
    services.message_send(user=user, conversation=conversation, content="Are you there?")
    reply = _reply(conversation)
    if settings.CELERY_BROKER_URL.startswith("redis"):
        redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()  # the broker restarted without persistence
    else:
        from exaone_web.celery import app

        with app.connection_for_write() as conn:
            conn.channel().queue_purge("text")
    Job.objects.filter(pk=reply.job_id).update(dispatched_at=None)
    worker = start_worker({**env, "JOBS_REDISPATCH_SECONDS": "1"})
    try:
        _wait(lambda: _reply(conversation).status == "done", timeout=120, what="the redispatched reply")
    finally:
        worker.stop()

    reply.refresh_from_db()
    assert reply.status == "done" and reply.job.attempts == 1


def test_the_celery_beat_sweep_fails_a_job_whose_heartbeat_stopped(env, user, text_model):
    conversation = Conversation.objects.create(owner=user)
    services.message_send(user=user, conversation=conversation, content="hello")
    reply = _reply(conversation)
    # A worker claimed it and died before its first heartbeat: no process is beating for it.
    Job.objects.filter(pk=reply.job_id).update(
        status="running", heartbeat_at=reply.created_at, started_at=reply.created_at, worker="gone:1"
    )
    Message.objects.filter(pk=reply.pk).update(status="streaming")
    time.sleep(1)
    beat = start_worker({**env, "JOBS_STALE_SECONDS": "1", "JOBS_SWEEP_SECONDS": "1"}, queues="default", beat=True)
    try:
        _wait(lambda: _reply(conversation).status == "failed", timeout=60, what="the beat sweep")
    finally:
        beat.stop()

    reply.refresh_from_db()
    assert reply.job.status == "failed" and "Retry" in reply.error
    assert beat.saw("jobs.sweep", "succeeded", timeout=5)


# --------------------------------------------------------------------------------------------- Redis outage


@pytest.mark.any_broker
@pytest.mark.timeout(600)
def test_redis_restarted_mid_stream_loses_nothing_and_pages_work_while_it_is_down(
    own_redis, database_name, client, user, text_model
):
    from django.contrib.auth.hashers import PBKDF2PasswordHasher

    _long_answers(text_model, tokens=300)
    # The live server hashes passwords as production does (the test settings use a fast hasher).
    hasher = PBKDF2PasswordHasher()
    user.password = hasher.encode("s3cret-pass-phrase", hasher.salt())
    user.save()
    env = service_env(database_name, REDIS_URL=own_redis.url, JOBS_SWEEP_SECONDS="1")
    port = free_port()
    web = start_web(env, port)
    worker = start_worker(env)
    client.force_login(user)
    browser = LiveClient(f"http://127.0.0.1:{port}", client.cookies["sessionid"].value)
    conversation = Conversation.objects.create(owner=user)
    seen: dict[str, object] = {}

    async def scenario() -> None:
        async with browser.socket(conversation.pk) as socket:
            await socket.send({"type": "message.send", "content": "Write a long report on 5G core networks."})
            await socket.until("message.delta")
            own_redis.stop()
            own_redis.wait_down()
            # While Redis is down: pages, REST and sign-in keep answering.
            seen["chat_page"] = (await asyncio.to_thread(browser.http.get, "/chat/")).status_code
            seen["rest"] = (await asyncio.to_thread(browser.http.get, "/api/conversations/")).status_code
            seen["sign_in"] = await asyncio.to_thread(_sign_in, browser.base_url)
            await asyncio.sleep(2)
            own_redis.start()
            event, _ = await socket.until("resync", timeout=60)
            seen["resync"] = event
            done = await _done_or_finished(socket, conversation)
            seen["done"] = done
            await socket.send({"type": "ping"})
            seen["pong"] = (await socket.until("pong", timeout=10))[0]

    try:
        asyncio.run(scenario())
    finally:
        worker.stop()
        web.stop()

    reply = _reply(conversation)
    assert seen["chat_page"] == 200 and seen["rest"] == 200 and seen["sign_in"] == 302
    assert seen["pong"] == {"type": "pong"}  # the same socket survived the outage
    assert reply.status == "done", reply.error
    assert reply.completion_tokens > 50 and len(reply.content) > 100
    assert conversation.messages.count() == 2
    assert seen["done"]["content"] == reply.content


def _sign_in(base_url: str) -> int:
    import httpx

    with httpx.Client(base_url=base_url, timeout=20, trust_env=False) as http:
        return sign_in(http, "alice", "s3cret-pass-phrase").status_code


async def _done_or_finished(socket, conversation) -> dict:
    """The final reply: from ``message.done`` on the socket, or from the database if it ended while Redis was down."""
    while True:
        try:
            event = await socket.receive(timeout=5)
        except TimeoutError:
            reply = await database_sync_to_async(_reply)(conversation)
            if reply.status not in ("queued", "streaming"):
                return {"content": reply.content, "status": reply.status}
            continue
        if event["type"] == "message.done":
            return event["message"]


# --------------------------------------------------------------------------------------------- fairness


@pytest.mark.any_broker
def test_a_user_with_one_job_does_not_wait_behind_another_users_five(env, user, other_user, text_model, settings):
    settings.CHAT_MAX_CONCURRENT_PER_USER = 10
    text_model.default_sampling = {"temperature": 0.0, "max_new_tokens": 8, "seed": 7}
    text_model.save()
    for n in range(5):
        conversation = Conversation.objects.create(owner=user)
        services.message_send(user=user, conversation=conversation, content=f"Question {n} from alice")
    lone = Conversation.objects.create(owner=other_user)
    services.message_send(user=other_user, conversation=lone, content="bob's only question")

    worker = start_worker({**env, "JOBS_TEXT_CONCURRENCY": "1"})
    try:
        _wait(lambda: Job.objects.filter(kind="chat.reply", status="succeeded").count() == 6, what="six replies")
    finally:
        worker.stop()

    order = list(Job.objects.filter(kind="chat.reply").order_by("started_at").values_list("owner__username", flat=True))
    assert order.index("bob") == 1, order  # second, not sixth


# --------------------------------------------------------------------------------------------- races


@pytest.mark.any_broker
def test_ten_sends_at_once_from_several_connections_do_not_get_past_the_per_user_cap(
    user, text_model, settings, monkeypatch
):
    from exaone_web.jobs import services as job_services

    monkeypatch.setattr(job_services, "dispatch", lambda job: None)  # replies stay in flight
    settings.CHAT_MAX_CONCURRENT_PER_USER = 2
    conversations = [Conversation.objects.create(owner=user) for _ in range(10)]
    barrier = threading.Barrier(10)
    outcomes = []

    def send(conversation):
        from django.db import connection

        barrier.wait()
        try:
            services.message_send(user=user, conversation=conversation, content="at once")
            outcomes.append("sent")
        except services.ChatError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(c,)) for c in conversations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count("sent") == 2 and outcomes.count("busy") == 8
    assert Message.objects.filter(role="assistant", status="queued").count() == 2


# --------------------------------------------------------------------------------------------- batching


@pytest.mark.any_broker
def test_one_text_worker_process_decodes_sixteen_chats_together(
    env, make_user, text_model, client, admin_user, settings
):
    settings.CHAT_MAX_CONCURRENT_PER_USER = 4
    text_model.options = {"n_parallel": 16, "stop": ["<|im_end|>", "<|im_start|>"]}
    text_model.default_sampling = {"temperature": 0.0, "max_new_tokens": 32, "seed": 7}
    text_model.save()
    for n in range(8):
        expert = make_user(f"expert{n}")
        for question in range(2):
            conversation = Conversation.objects.create(owner=expert)
            services.message_send(user=expert, conversation=conversation, content=f"Question {question} of {n}")

    worker = start_worker(env)  # its thread pool follows the model's 16 slots
    try:
        _wait(lambda: Job.objects.filter(kind="chat.reply", status="succeeded").count() == 16, timeout=300, what="16")
        client.force_login(admin_user)
        stats = {}

        def reported() -> bool:
            workers = client.get("/healthz").json()["engines"]["workers"]
            found = [m["stats"] for w in workers for m in w["models"] if m.get("stats")]
            stats.update(found[0] if found else {})
            return stats.get("peak_batch") == 16

        _wait(reported, timeout=30, what="the worker's report")
    finally:
        worker.stop()

    jobs = list(Job.objects.filter(kind="chat.reply").values_list("worker", "started_at", "finished_at"))
    assert len({w.rsplit(":", 1)[0] for w, _, _ in jobs}) == 1  # one worker process (host:pid) did all 16
    overlap = max(sum(1 for _, s, f in jobs if s <= at < f) for _, at, _ in jobs)
    assert overlap == 16  # all sixteen were being generated at the same moment
    assert stats["capacity"] == 16 and stats["peak_batch"] == 16
    assert worker.saw("queue text: 17 thread(s)", timeout=1)  # 16 slots and one thread for titles
