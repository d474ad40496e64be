"""Count an engine's streams against how many requests it decodes together (its capacity)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

#: How often a caller waiting for a slot checks whether it was cancelled (seconds).
_POLL_S = 0.05


class Slots:
    """Streams in flight for an engine that decodes up to ``capacity`` requests together.

    With ``wait=False`` the engine's own server queues what is beyond its capacity (llama.cpp), and the count only
    reports it; with ``wait=True`` a stream waits here for a free slot (an OpenAI-compatible server, which would
    otherwise get every request at once).
    """

    def __init__(self, capacity: int, *, wait: bool) -> None:
        self.capacity = max(1, int(capacity))
        self._wait = wait
        self._cond = threading.Condition()
        self._running = 0
        self._waiting = 0
        self._peak = 0

    @contextmanager
    def hold(self, cancelled: Callable[[], bool] = lambda: False) -> Iterator[bool]:
        """Count one stream while the block runs; yield False if it was cancelled while waiting for a slot."""
        admitted = False
        with self._cond:
            self._waiting += 1
        try:
            while not admitted:
                with self._cond:
                    if not self._wait or self._running < self.capacity:
                        self._running += 1
                        self._peak = max(self._peak, min(self._running, self.capacity))
                        admitted = True
                        break
                    self._cond.wait(_POLL_S)
                if cancelled():  # checked outside the lock: a cancel flag may live in a remote cache
                    break
        finally:
            with self._cond:
                self._waiting -= 1
        try:
            yield admitted
        finally:
            if admitted:
                with self._cond:
                    self._running -= 1
                    self._cond.notify()

    def stats(self) -> dict[str, Any]:
        """``capacity``, ``active`` (decoding now), ``queued`` (waiting for a slot) and ``peak_batch``."""
        with self._cond:
            beyond = max(0, self._running - self.capacity)
            return {
                "capacity": self.capacity,
                "active": min(self._running, self.capacity),
                "queued": self._waiting + beyond,
                "peak_batch": self._peak,
            }
