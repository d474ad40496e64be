"""Numbered, coalesced progress events for one job, with a snapshot a (re)connecting page replays.

A job produces many small updates (tokens every few milliseconds, diffusion steps). The stream sends the first
one at once, so the page shows the first token without waiting, and coalesces later ones into at most one
event per interval. Each event carries a sequence number; the state so far (appended text plus the latest
fields) is kept in the cache as a snapshot. A socket that joins mid-job reads the snapshot after joining the
group and applies only events with a higher number: nothing is lost or doubled.

Pending updates are flushed by a shared timer thread as well, so a pause in the job (a long prefill, a
stalled engine) never holds back text that has already arrived.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import cache

from exaone_web import realtime

log = logging.getLogger(__name__)

SNAPSHOT_TTL_S = 3600


def snapshot_get(key: str) -> dict[str, Any] | None:
    try:
        return cache.get(key)
    except Exception:  # the snapshot is an optimisation: pages fall back to the database
        log.warning("Could not read snapshot %s", key, exc_info=True)
        return None


class _Timer:
    """One thread that runs due flushes for every stream of the process."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def at(self, due: float, action: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._ids), action))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="stream-flush", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > time.monotonic():
                    self._cond.wait(None if not self._heap else self._heap[0][0] - time.monotonic())
                _, _, action = heapq.heappop(self._heap)
            try:
                action()
            except Exception:
                log.exception("A delayed stream flush failed")


_timer = _Timer()


class EventStream:
    """Coalesced events to one websocket group.

    ``append`` adds to text fields (tokens, reasoning), ``update`` replaces fields (step, preview). Each flush
    sends one event ``{"type": event_type, **ids, "seq": n, <appended pieces>, <changed fields>}`` and stores
    the snapshot ``{"seq", "text": {field: whole text}, "fields": {...}, "at"}`` under ``snapshot_key``.
    """

    def __init__(
        self,
        *,
        group: str,
        snapshot_key: str,
        event_type: str,
        ids: dict[str, Any],
        interval_s: float,
        text: dict[str, str] | None = None,
        wrap: Callable[[dict[str, Any]], dict[str, Any]] = lambda event: event,
    ) -> None:
        self.group = group
        self.snapshot_key = snapshot_key
        self.event_type = event_type
        self.ids = ids
        self.interval_s = interval_s
        self.seq = 0
        #: Whole text per appended field, as sent so far (a continued answer starts from its old text).
        self.text: dict[str, str] = dict(text or {})
        self.fields: dict[str, Any] = {}
        self._wrap = wrap
        self._pending_text: dict[str, list[str]] = {}
        self._pending_fields: dict[str, Any] = {}
        self._last_flush = float("-inf")
        self._timer_set = False
        self._lock = threading.RLock()

    # ----------------------------------------------------------------- producer side

    def append(self, **pieces: str) -> None:
        with self._lock:
            for name, piece in pieces.items():
                if piece:
                    self._pending_text.setdefault(name, []).append(piece)
            self._maybe_flush()

    def update(self, **fields: Any) -> None:
        with self._lock:
            self._pending_fields.update(fields)
            self._maybe_flush()

    def text_so_far(self, name: str) -> str:
        with self._lock:
            return self.text.get(name, "") + "".join(self._pending_text.get(name, ()))

    def send(self, kind: str, **fields: Any) -> None:
        """An event outside the numbered stream (started, done); pending updates go out first."""
        with self._lock:
            self.flush()
            self._send({"type": kind, **self.ids, **fields})

    def flush(self) -> None:
        with self._lock:
            if not self._pending_text and not self._pending_fields:
                return
            pieces = {name: "".join(parts) for name, parts in self._pending_text.items()}
            changed = dict(self._pending_fields)
            self._pending_text.clear()
            self._pending_fields.clear()
            self.seq += 1
            for name, piece in pieces.items():
                self.text[name] = self.text.get(name, "") + piece
            self.fields.update(changed)
            self.save_snapshot()
            self._last_flush = time.monotonic()
            self._send({"type": self.event_type, **self.ids, "seq": self.seq, **pieces, **changed})

    def save_snapshot(self) -> None:
        with self._lock:
            snapshot = {"seq": self.seq, "text": dict(self.text), "fields": dict(self.fields), "at": time.time()}
            try:
                cache.set(self.snapshot_key, snapshot, SNAPSHOT_TTL_S)
            except Exception:
                log.warning("Could not store snapshot %s", self.snapshot_key, exc_info=True)

    def drop_snapshot(self) -> None:
        try:
            cache.delete(self.snapshot_key)
        except Exception:
            log.warning("Could not delete snapshot %s", self.snapshot_key, exc_info=True)

    # ----------------------------------------------------------------- internals

    def _maybe_flush(self) -> None:
        wait = self._last_flush + self.interval_s - time.monotonic()
        if wait <= 0:
            self.flush()
        elif not self._timer_set:
            self._timer_set = True
            _timer.at(time.monotonic() + wait, self._timed_flush)

    def _timed_flush(self) -> None:
        with self._lock:
            self._timer_set = False
            self.flush()

    def _send(self, event: dict[str, Any]) -> None:
        realtime.group_send(self.group, self._wrap(event))
