"""Stream a reply to the browser: coalesce deltas, number them, keep a replay snapshot.

Tokens arrive every few milliseconds; sending each one would flood the socket and the page. The
publisher sends at most one ``message.delta`` per flush interval with every piece gathered since, each
with a sequence number. The text so far is kept in the cache as a snapshot, so a socket that (re)connects
mid-stream gets the snapshot and then only deltas with a higher sequence number: nothing lost or doubled.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.core.cache import cache

from exaone_web import realtime

SNAPSHOT_TTL = 3600


def snapshot_key(message_id: int) -> str:
    return f"stream:{message_id}"


def snapshot_get(message_id: int) -> dict[str, Any] | None:
    return cache.get(snapshot_key(message_id))


def publish(group: str, payload: dict[str, Any]) -> None:
    realtime.group_send(group, {"type": "chat.event", "payload": payload})


class StreamPublisher:
    def __init__(self, *, group: str, message_id: int, conversation_id: int, content: str = "") -> None:
        self.group = group
        self.message_id = message_id
        self.conversation_id = conversation_id
        self.interval = settings.CHAT_STREAM_FLUSH_MS / 1000
        self.seq = 0
        #: Text already in the message (a continued answer starts from it).
        self.content = content
        self.reasoning = ""
        self._pending_text: list[str] = []
        self._pending_reasoning: list[str] = []
        self._last_flush = 0.0
        # Snapshot writes from the heartbeat and from flushes must not overtake each other.
        self._lock = threading.Lock()

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {
            "type": kind,
            "conversation_id": self.conversation_id,
            "message_id": self.message_id,
            **fields,
        }

    @property
    def text_so_far(self) -> str:
        return self.content + "".join(self._pending_text)

    def started(self, *, model: str) -> None:
        with self._lock:
            self._save_snapshot()
        publish(self.group, self._event("message.started", model=model))

    def add(self, *, text: str = "", reasoning: str = "") -> None:
        if text:
            self._pending_text.append(text)
        if reasoning:
            self._pending_reasoning.append(reasoning)
        if time.monotonic() - self._last_flush >= self.interval:
            self.flush()

    def flush(self) -> None:
        if not self._pending_text and not self._pending_reasoning:
            return
        text, reasoning = "".join(self._pending_text), "".join(self._pending_reasoning)
        self._pending_text.clear()
        self._pending_reasoning.clear()
        with self._lock:
            self.seq += 1
            self.content += text
            self.reasoning += reasoning
            self._save_snapshot()
        publish(self.group, self._event("message.delta", seq=self.seq, text=text, reasoning=reasoning))
        self._last_flush = time.monotonic()

    def finished(self, *, message: dict[str, Any]) -> None:
        self.flush()
        publish(self.group, self._event("message.done", seq=self.seq + 1, message=message))
        cache.delete(snapshot_key(self.message_id))

    @contextmanager
    def heartbeat(self) -> Iterator[None]:
        """Refresh the snapshot while the job lives (model loading included), proving the worker is alive."""
        stop = threading.Event()
        period = max(1.0, settings.CHAT_STALE_SECONDS / 4)

        def beat() -> None:
            while not stop.wait(period):
                with self._lock:
                    self._save_snapshot()

        thread = threading.Thread(target=beat, name=f"heartbeat-{self.message_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _save_snapshot(self) -> None:
        cache.set(
            snapshot_key(self.message_id),
            {"seq": self.seq, "content": self.content, "reasoning": self.reasoning, "at": time.time()},
            SNAPSHOT_TTL,
        )
