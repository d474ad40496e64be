"""llama.cpp: the raw ``xllamacpp.Server`` against :class:`LlamaCppEngine`, on one loaded server.

Both paths send the very same payload (built by the engine) to the very same ``xllamacpp.Server`` object,
so model loading, server parameters and sampling are identical; only the engine's wrapping (a worker thread
per request, a queue hand-off per chunk, typed events) differs. Every request gets a unique numbered prefix
so llama.cpp's prompt cache never lets one path reuse the other's prefill.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .common import StreamClock, median, ratio, run_concurrently

PATHS = ("raw", "engine")

#: Fixed prompts that make the model write on (no stop strings, so every answer runs to max_tokens).
PROMPTS = (
    "Count from 1 to 200, separated by commas.",
    "Write a long story about a robot who learns to cook Korean food.",
    "List as many fruits as you can, one per line.",
    "서울의 역사에 대해 자세히 설명해 주세요.",
    "Explain how a transformer language model works, step by step, in detail.",
    "Write the multiplication table from 1 x 1 to 9 x 9.",
    "Describe the water cycle to a ten-year-old in many sentences.",
    "한국어와 영어로 자기소개를 길게 써 주세요.",
    "Write Python code that implements a linked list with many methods.",
    "Give a detailed recipe for kimchi fried rice.",
    "List the planets of the solar system and describe each one.",
    "Write a poem about the sea with at least twenty lines.",
    "Explain the rules of chess in detail.",
    "인공지능의 장점과 단점을 자세히 설명해 주세요.",
    "Write a letter to a friend about a trip to Busan.",
    "Describe how to bake bread, from flour to loaf.",
)


@dataclass(frozen=True)
class LlamaSettings:
    """What to run; the defaults are the full benchmark."""

    max_tokens: int = 64
    #: Requests per concurrency level; a level of 1 runs them one at a time (the serial baseline).
    n_requests: int = 16
    concurrency: tuple[int, ...] = (1, 4, 16)
    repeats: int = 5
    #: Stop adding repeats once this many seconds have passed and at least ``min_repeats`` are done.
    budget_s: float = 330.0
    min_repeats: int = 3
    n_parallel: int = 16
    n_threads: int = 2
    #: Context window of each slot (the server holds ``context_length * n_parallel``).
    context_length: int = 512
    poll: int = 50


@dataclass(frozen=True)
class Outcome:
    """One finished request as its caller saw it."""

    completion_tokens: int
    ttft_ms: float
    decode_tokens_per_s: float
    total_s: float
    finish_reason: str
    #: llama.cpp's own decode speed for the request (raw path only; the engine does not expose it).
    server_decode_tokens_per_s: float | None = None


@dataclass
class LevelResult:
    """``n_requests`` requests through ``concurrency`` caller threads, on one path, over several repeats."""

    path: str
    concurrency: int
    n_requests: int
    #: Aggregate completion tokens per second of wall time, one value per repeat.
    tokens_per_s: list[float] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def median_tokens_per_s(self) -> float:
        return median(self.tokens_per_s)

    @property
    def median_ttft_ms(self) -> float:
        return median(o.ttft_ms for o in self.outcomes)

    @property
    def median_decode_tokens_per_s(self) -> float:
        return median(o.decode_tokens_per_s for o in self.outcomes)

    @property
    def full_length(self) -> bool:
        """True when every request ran to ``max_tokens`` (equal work per request)."""
        return all(o.finish_reason == "length" for o in self.outcomes)


@dataclass(frozen=True)
class WrapperCost:
    """What each path costs in Python alone: recorded chunks replayed instantly instead of a live model."""

    chunks: int
    raw_ms: float
    engine_ms: float

    @property
    def engine_extra_us_per_chunk(self) -> float:
        return ratio((self.engine_ms - self.raw_ms) * 1000.0, self.chunks)


@dataclass
class LlamaResult:
    settings: LlamaSettings
    model: str
    load_s: float
    levels: list[LevelResult]
    wrapper_cost: WrapperCost | None = None
    seconds: float = 0.0

    @property
    def repeats_done(self) -> int:
        return min(len(level.tokens_per_s) for level in self.levels)

    def level(self, path: str, concurrency: int) -> LevelResult:
        return next(r for r in self.levels if r.path == path and r.concurrency == concurrency)

    def batched_vs_serial(self, path: str) -> float:
        """Aggregate tokens/s at the highest concurrency over the same requests run one at a time."""
        top = max(self.settings.concurrency)
        return ratio(self.level(path, top).median_tokens_per_s, self.level(path, 1).median_tokens_per_s)

    def engine_vs_raw(self, concurrency: int) -> float:
        return ratio(
            self.level("engine", concurrency).median_tokens_per_s,
            self.level("raw", concurrency).median_tokens_per_s,
        )


def _request(prompt: str, max_tokens: int) -> Any:
    from inference.types import ChatMessage, SamplingParams, TextRequest

    return TextRequest(
        messages=(ChatMessage("user", prompt),),
        sampling=SamplingParams(temperature=0.0, max_new_tokens=max_tokens, seed=0),
    )


def call_raw(engine: Any, request: Any) -> Outcome:
    """Stream ``request`` straight through the engine's ``xllamacpp.Server`` (no engine code on the way)."""
    payload = engine._payload(request)
    usage: dict[str, Any] = {}
    timings: dict[str, Any] = {}
    finish = ["stop"]
    errors: list[Any] = []

    def on_chunk(chunk: dict[str, Any]) -> bool:
        if "error" in chunk:
            errors.append(chunk["error"])
        if chunk.get("usage"):
            usage.update(chunk["usage"])
            timings.update(chunk.get("timings") or {})
        for choice in chunk.get("choices", ()):
            delta = choice.get("delta") or {}
            if delta.get("content") or delta.get("reasoning_content"):
                clock.piece()
            if choice.get("finish_reason"):
                finish[0] = choice["finish_reason"]
        return False

    clock = StreamClock()
    engine._server.handle_chat_completions(payload, on_chunk)
    clock.finish()
    if errors:
        raise RuntimeError(f"llama.cpp refused the request: {errors[0]}")
    tokens = int(usage.get("completion_tokens", 0))
    return Outcome(
        completion_tokens=tokens,
        ttft_ms=clock.ttft_ms,
        decode_tokens_per_s=clock.decode_tokens_per_s(tokens),
        total_s=clock.total_s,
        finish_reason=finish[0],
        server_decode_tokens_per_s=timings.get("predicted_per_second"),
    )


def call_engine(engine: Any, request: Any) -> Outcome:
    """Stream ``request`` through ``LlamaCppEngine.stream`` as the web side does."""
    from inference.types import TextDelta, TextDone

    clock = StreamClock()
    done: TextDone | None = None
    for event in engine.stream(request):
        if isinstance(event, TextDelta):
            if event.text or event.reasoning:
                clock.piece()
        else:
            done = event
    clock.finish()
    assert done is not None, "the engine stream ended without TextDone"
    tokens = done.usage.completion_tokens
    return Outcome(
        completion_tokens=tokens,
        ttft_ms=clock.ttft_ms,
        decode_tokens_per_s=clock.decode_tokens_per_s(tokens),
        total_s=clock.total_s,
        finish_reason=done.finish_reason,
    )


CALLS: dict[str, Callable[[Any, Any], Outcome]] = {"raw": call_raw, "engine": call_engine}


class _Replay:
    """Stands in for ``xllamacpp.Server``: hands recorded chunks to the callback as fast as it takes them."""

    def __init__(self, chunks: Sequence[dict[str, Any]]) -> None:
        self.chunks = list(chunks)

    def handle_chat_completions(self, payload: dict[str, Any], callback: Callable[[dict[str, Any]], bool]) -> None:
        for chunk in self.chunks:
            if callback(chunk):
                return


def wrapper_cost(engine: Any, request: Any, repeats: int = 200) -> WrapperCost:
    """Record one real request's chunks, then time both paths on instant replays of them (medians)."""
    chunks: list[dict[str, Any]] = []
    engine._server.handle_chat_completions(engine._payload(request), lambda c: chunks.append(c) and False)
    server, engine._server = engine._server, _Replay(chunks)
    times: dict[str, list[float]] = {path: [] for path in PATHS}
    try:
        for _ in range(repeats):
            for path in PATHS:
                started = time.perf_counter()
                CALLS[path](engine, request)
                times[path].append(time.perf_counter() - started)
    finally:
        engine._server = server
    return WrapperCost(len(chunks), median(times["raw"]) * 1000.0, median(times["engine"]) * 1000.0)


def run_level(engine: Any, path: str, requests: Sequence[Any], concurrency: int) -> tuple[float, list[Outcome]]:
    """Run ``requests`` on ``path`` with at most ``concurrency`` in flight; return wall seconds and outcomes."""
    call = CALLS[path]
    return run_concurrently(lambda r: call(engine, r), requests, concurrency)


def load_engine(model_path: Path, settings: LlamaSettings) -> Any:
    """A :class:`LlamaCppEngine` with the benchmark's server parameters."""
    from inference.text.llamacpp import LlamaCppEngine

    return LlamaCppEngine(
        name="bench-gemma",
        path=model_path,
        context_length=settings.context_length,
        n_parallel=settings.n_parallel,
        n_threads=settings.n_threads,
        poll=settings.poll,
    )


def run_llamacpp(model_path: Path, settings: LlamaSettings = LlamaSettings()) -> LlamaResult:
    """Measure both paths at every concurrency level on one loaded model; return the raw numbers."""
    if max(settings.concurrency) > settings.n_requests:
        raise ValueError("n_requests must be at least the highest concurrency level")
    started = time.perf_counter()
    engine = load_engine(model_path, settings)
    load_s = time.perf_counter() - started
    numbers = itertools.count()

    def batch(n: int, max_tokens: int) -> list[Any]:
        return [_request(f"Request {next(numbers):05d}. {PROMPTS[i % len(PROMPTS)]}", max_tokens) for i in range(n)]

    levels = {(p, c): LevelResult(p, c, settings.n_requests) for c in settings.concurrency for p in PATHS}
    top = max(settings.concurrency)
    try:
        # Warm-up: both paths once, then a full batch so llama.cpp sizes its buffers for it.
        for path in PATHS:
            run_level(engine, path, batch(1, 8), 1)
        run_level(engine, "raw", batch(top, 8), top)
        for repeat in range(settings.repeats):
            if repeat >= settings.min_repeats and time.perf_counter() - started > settings.budget_s:
                break
            order = PATHS if repeat % 2 == 0 else PATHS[::-1]  # alternate so drift hits both alike
            for concurrency in settings.concurrency:
                for path in order:
                    requests = batch(settings.n_requests, settings.max_tokens)
                    wall, outcomes = run_level(engine, path, requests, concurrency)
                    level = levels[(path, concurrency)]
                    level.wall_s.append(wall)
                    level.tokens_per_s.append(sum(o.completion_tokens for o in outcomes) / wall)
                    level.outcomes.extend(outcomes)
        cost = wrapper_cost(engine, batch(1, settings.max_tokens)[0])
    finally:
        engine.close()
    return LlamaResult(
        settings=settings,
        model=model_path.name,
        load_s=load_s,
        levels=list(levels.values()),
        wrapper_cost=cost,
        seconds=time.perf_counter() - started,
    )
