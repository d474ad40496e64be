"""transformers: :class:`TransformersEngine` (continuous batching) against ``model.generate``.

The engine runs the same requests one at a time and with 4 and 16 callers at once. The raw reference is
``generate`` on the same model folder with the same prompt token ids: one request (time to first token and
decode speed), and a static left-padded batch of all requests (what batching can reach without the engine).

With ``baseline`` set to a git revision, the engine of that revision (its ``inference`` package, exported with
``git archive``) is measured at the same concurrency levels, alternating with the current one, each in a fresh
child process with the same model folder and prompts: the before / after table of a change.

The raw reference runs in a child process. On a CPU, torch runs its parallel operators through OpenMP, which
gives every OS thread that runs them its own team of worker threads; once two threads have done so (the
engine's batcher thread and a caller running ``generate``), the teams together need more threads than the
machine has cores, OpenMP stops spinning while it waits, and every small operator pays for a wake-up. In
one process the order of the measurements would then decide the results. The benchmark measures that effect
on purpose at the end (the batcher again after the main thread ran one matrix product) and reports it.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .common import StreamClock, median, ratio, run_concurrently

PROMPTS = (
    "안녕하세요? 오늘 서울 날씨는 어때요?",
    "What is the capital of South Korea?",
    "def sort_numbers(values):  # 정렬해 주세요",
    "Explain how language models generate text one token at a time.",
    "한국어와 영어를 모두 이해하는 전문가 도우미입니다.",
    "Write a short poem about the sea.",
    "SELECT name FROM users WHERE age > 20;",
    "결론적으로, 두 가지 방법 모두 장점과 단점이 있습니다.",
)


@dataclass(frozen=True)
class HFSettings:
    max_tokens: int = 128
    n_requests: int = 16
    concurrency: tuple[int, ...] = (1, 4, 16)
    repeats: int = 3
    #: Repeats of the single-request measurements (raw generate and engine).
    single_repeats: int = 5


@dataclass(frozen=True)
class Single:
    """One request: time to first token, decode speed and tokens generated."""

    ttft_ms: float
    decode_tokens_per_s: float
    completion_tokens: int


@dataclass
class HFLevel:
    concurrency: int
    n_requests: int
    tokens_per_s: list[float] = field(default_factory=list)
    ttft_ms: list[float] = field(default_factory=list)
    tokens: int = 0

    @property
    def median_tokens_per_s(self) -> float:
        return median(self.tokens_per_s)

    @property
    def median_ttft_ms(self) -> float:
        return median(self.ttft_ms)


@dataclass
class Comparison:
    """The engine of a baseline revision and the current one, each measured in fresh child processes."""

    baseline: str
    current: str
    before: list[HFLevel]
    after: list[HFLevel]

    def level(self, which: str, concurrency: int) -> HFLevel:
        levels = self.before if which == "before" else self.after
        return next(r for r in levels if r.concurrency == concurrency)


@dataclass
class HFResult:
    settings: HFSettings
    torch_threads: int
    load_s: float
    raw_single: list[Single]
    engine_single: list[Single]
    levels: list[HFLevel]
    #: ``generate`` on all ``n_requests`` prompts as one left-padded batch: tokens/s per repeat.
    raw_batch_tokens_per_s: list[float]
    raw_batch_tokens: int
    #: ``generate`` on the prompts in left-padded batches of k (k = each concurrency level): median tokens/s.
    raw_batches_tokens_per_s: dict[int, float]
    #: The engine's batcher alone at the top concurrency (submit, drain token ids; no detokenising, no
    #: caller threads): tokens/s per repeat. The gap to the engine is the streaming side's cost.
    batcher_tokens_per_s: list[float]
    #: The batcher alone again, after the main thread ran one parallel torch operator (two OpenMP teams).
    batcher_after_other_thread_tokens_per_s: list[float]
    peak_batch_size: int
    seconds: float = 0.0
    comparison: Comparison | None = None

    def level(self, concurrency: int) -> HFLevel:
        return next(r for r in self.levels if r.concurrency == concurrency)

    def batched_vs_serial(self) -> float:
        return ratio(self.level(max(self.settings.concurrency)).median_tokens_per_s, self.level(1).median_tokens_per_s)


def _timer_streamer() -> Any:
    """A ``generate`` streamer that notes when the first new token arrives (the first ``put`` is the prompt)."""
    from transformers.generation.streamers import BaseStreamer

    class FirstToken(BaseStreamer):
        def __init__(self) -> None:
            self.puts = 0
            self.first: float | None = None

        def put(self, value: Any) -> None:
            self.puts += 1
            if self.puts == 2:
                self.first = time.perf_counter()

        def end(self) -> None:
            return None

    return FirstToken()


def _new_tokens(rows: Any, eos_ids: set[int]) -> int:
    """Generated tokens per row up to and including the first end token (as the engine counts them)."""
    total = 0
    for row in rows.tolist():
        stop = next((i for i, token in enumerate(row) if token in eos_ids), None)
        total += len(row) if stop is None else stop + 1
    return total


def raw_single(model: Any, prompt_ids: Sequence[int], max_tokens: int) -> Single:
    import torch

    input_ids = torch.tensor([list(prompt_ids)], dtype=torch.long)
    streamer = _timer_streamer()
    started = time.perf_counter()
    with torch.inference_mode():
        output = model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            max_new_tokens=max_tokens,
            do_sample=False,
            streamer=streamer,
        )
    ended = time.perf_counter()
    tokens = int(output.shape[1] - input_ids.shape[1])
    first = streamer.first or ended
    decode = (tokens - 1) / (ended - first) if tokens > 1 and ended > first else 0.0
    return Single((first - started) * 1000.0, decode, tokens)


def raw_batch(model: Any, tokenizer: Any, prompts: Sequence[Sequence[int]], max_tokens: int) -> tuple[float, int]:
    """``generate`` on all prompts as one left-padded batch; return tokens/s and tokens."""
    import torch

    width = max(len(p) for p in prompts)
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([[pad] * (width - len(p)) + list(p) for p in prompts], dtype=torch.long)
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], dtype=torch.long)
    started = time.perf_counter()
    with torch.inference_mode():
        output = model.generate(input_ids=input_ids, attention_mask=mask, max_new_tokens=max_tokens, do_sample=False)
    wall = time.perf_counter() - started
    eos = model.generation_config.eos_token_id
    eos_ids = set(eos) if isinstance(eos, list) else {eos}
    tokens = _new_tokens(output[:, width:], eos_ids)
    return tokens / wall, tokens


def batcher_only(engine: Any, prompts: Sequence[Sequence[int]], max_tokens: int) -> tuple[float, int]:
    """Submit all prompts to the engine's batcher and drain their token events from this one thread."""
    from inference.text.batcher import EndEvent, ErrorEvent
    from inference.types import SamplingParams

    sampling = SamplingParams(temperature=0.0, max_new_tokens=max_tokens, seed=0)
    started = time.perf_counter()
    generations = [engine.batcher.submit(p, sampling, max_new_tokens=max_tokens) for p in prompts]
    tokens = 0
    for generation in generations:
        for event in generation:
            if isinstance(event, ErrorEvent):
                raise RuntimeError(f"the batcher failed: {event.error}")
            tokens += event.eos_tokens if isinstance(event, EndEvent) else 1
    return tokens / (time.perf_counter() - started), tokens


def engine_call(engine: Any, request: Any) -> tuple[StreamClock, int]:
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
    return clock, done.usage.completion_tokens


def run_engine_level(
    engine: Any, requests: Sequence[Any], concurrency: int
) -> tuple[float, list[tuple[StreamClock, int]]]:
    """Run ``requests`` through the engine with at most ``concurrency`` in flight; return wall seconds and results."""
    return run_concurrently(lambda r: engine_call(engine, r), requests, concurrency)


def _request(prompt: str, max_tokens: int) -> Any:
    from inference.types import ChatMessage, SamplingParams, TextRequest

    return TextRequest(
        messages=(ChatMessage("user", prompt),),
        sampling=SamplingParams(temperature=0.0, max_new_tokens=max_tokens, seed=0),
    )


def load_engine(model_dir: Path, max_batch_size: int) -> Any:
    from inference.text.hf import TransformersEngine

    try:
        from inference.types import ModelSpec
    except ImportError:  # revisions before ModelSpec moved to inference.types
        from inference.registry import ModelSpec  # type: ignore[attr-defined,no-redef]

    spec = ModelSpec(
        name="bench-tiny-exaone",
        kind="text",
        engine="transformers",
        path=str(model_dir),
        context_length=2048,
        options={"device": "cpu", "max_batch_size": max_batch_size},
    )
    return TransformersEngine.from_spec(spec)


@dataclass(frozen=True)
class RawReference:
    raw_single: list[Single]
    batch_tokens_per_s: list[float]
    batch_tokens: int
    batches_tokens_per_s: dict[int, float]


def raw_reference(model_dir: str, prompt_ids: list[list[int]], settings: HFSettings) -> RawReference:
    """``generate`` for single requests and one padded batch; meant to run in a fresh process."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    raw_single(model, prompt_ids[0], 8)  # warm-up
    raw_batch(model, tokenizer, prompt_ids, 8)
    singles = [
        raw_single(model, prompt_ids[i % len(prompt_ids)], settings.max_tokens) for i in range(settings.single_repeats)
    ]
    batches = [raw_batch(model, tokenizer, prompt_ids, settings.max_tokens) for _ in range(settings.repeats)]
    by_level: dict[int, float] = {}
    for k in settings.concurrency:
        runs = []
        for _ in range(settings.repeats):
            started, tokens = time.perf_counter(), 0
            for first in range(0, len(prompt_ids), k):
                tokens += raw_batch(model, tokenizer, prompt_ids[first : first + k], settings.max_tokens)[1]
            runs.append(tokens / (time.perf_counter() - started))
        by_level[k] = median(runs)
    return RawReference(singles, [tps for tps, _ in batches], batches[-1][1], by_level)


def engine_levels(source: str | None, model_dir: str, settings: HFSettings) -> list[HFLevel]:
    """One measurement of the engine at every concurrency level; meant to run in a fresh process.

    ``source`` is a folder holding another revision's ``inference`` package, imported instead of this one.
    """
    import sys

    if source is not None:
        sys.path.insert(0, source)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    engine = load_engine(Path(model_dir), max(settings.concurrency))
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(settings.n_requests)]
    levels = [HFLevel(c, settings.n_requests) for c in settings.concurrency]
    try:
        run_engine_level(engine, [_request(p, 8) for p in prompts], max(settings.concurrency))  # warm-up
        for level in levels:
            requests = [_request(p, settings.max_tokens) for p in prompts]
            wall, outcomes = run_engine_level(engine, requests, level.concurrency)
            level.tokens = sum(tokens for _, tokens in outcomes)
            level.tokens_per_s.append(level.tokens / wall)
            level.ttft_ms.extend(clock.ttft_ms for clock, _ in outcomes)
    finally:
        engine.close()
    return levels


def compare(model_dir: Path, baseline: str, settings: HFSettings) -> Comparison:
    """The engine at ``baseline`` (a git revision) against the working tree, alternating, in fresh processes."""
    import subprocess
    import tarfile
    import tempfile

    repo = Path(__file__).resolve().parent.parent
    current = subprocess.run(
        ["git", "-C", str(repo), "describe", "--always", "--dirty"], capture_output=True, text=True, check=True
    ).stdout.strip()
    before = [HFLevel(c, settings.n_requests) for c in settings.concurrency]
    after = [HFLevel(c, settings.n_requests) for c in settings.concurrency]
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as source:
        archive = Path(source) / "inference.tar"
        subprocess.run(
            ["git", "-C", str(repo), "archive", "--format=tar", "-o", str(archive), baseline, "inference"], check=True
        )
        with tarfile.open(archive) as tar:
            tar.extractall(source, filter="data")
        context = multiprocessing.get_context("spawn")
        for _ in range(settings.repeats):
            for which, into in ((source, before), (None, after)):
                with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                    measured = pool.submit(engine_levels, which, str(model_dir), settings).result()
                for level, one in zip(into, measured, strict=True):
                    level.tokens = one.tokens
                    level.tokens_per_s += one.tokens_per_s
                    level.ttft_ms += one.ttft_ms
    return Comparison(baseline=baseline, current=current, before=before, after=after)


def run_hf(model_dir: Path, settings: HFSettings = HFSettings(), *, baseline: str | None = None) -> HFResult:
    """Measure the engine on the tiny model in ``model_dir``, then ``generate`` in a child process."""
    import torch

    from inference.types import ChatMessage

    started = time.perf_counter()
    engine = load_engine(model_dir, max(settings.concurrency))
    load_s = time.perf_counter() - started
    prompts = [PROMPTS[i % len(PROMPTS)] for i in range(settings.n_requests)]
    prompt_ids = [engine.render([ChatMessage("user", p)])[1] for p in prompts]
    top_ids = prompt_ids[: max(settings.concurrency)]
    levels = [HFLevel(c, settings.n_requests) for c in settings.concurrency]
    engine_singles: list[Single] = []
    batcher_tps: list[float] = []
    contended_tps: list[float] = []
    try:
        # Warm-up: one request, then a full batch.
        engine_call(engine, _request(prompts[0], 8))
        run_engine_level(engine, [_request(p, 8) for p in prompts], max(settings.concurrency))
        for repeat in range(settings.single_repeats):
            clock, tokens = engine_call(engine, _request(prompts[repeat % len(prompts)], settings.max_tokens))
            engine_singles.append(Single(clock.ttft_ms, clock.decode_tokens_per_s(tokens), tokens))
        for _ in range(settings.repeats):
            for level in levels:
                requests = [_request(p, settings.max_tokens) for p in prompts]
                wall, outcomes = run_engine_level(engine, requests, level.concurrency)
                level.tokens = sum(tokens for _, tokens in outcomes)
                level.tokens_per_s.append(level.tokens / wall)
                level.ttft_ms.extend(clock.ttft_ms for clock, _ in outcomes)
            batcher_tps.append(batcher_only(engine, top_ids, settings.max_tokens)[0])
        # Last, on purpose: another thread runs a parallel torch operator, as a second engine would.
        matrix = torch.randn(256, 256)
        with torch.inference_mode():
            matrix @ matrix
        for _ in range(settings.repeats):
            contended_tps.append(batcher_only(engine, top_ids, settings.max_tokens)[0])
        peak = engine.batcher.peak_batch_size
    finally:
        engine.close()
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        raw = pool.submit(raw_reference, str(model_dir), prompt_ids, settings).result()
    return HFResult(
        settings=settings,
        torch_threads=torch.get_num_threads(),
        load_s=load_s,
        raw_single=raw.raw_single,
        engine_single=engine_singles,
        levels=levels,
        raw_batch_tokens_per_s=raw.batch_tokens_per_s,
        raw_batch_tokens=raw.batch_tokens,
        raw_batches_tokens_per_s=raw.batches_tokens_per_s,
        batcher_tokens_per_s=batcher_tps,
        batcher_after_other_thread_tokens_per_s=contended_tps,
        peak_batch_size=peak,
        seconds=time.perf_counter() - started,
        comparison=compare(model_dir, baseline, settings) if baseline else None,
    )
