"""Send events to websocket groups from any thread of any process, in order, without waiting.

Worker threads are not event loops, and channel layers are: the in-memory layer of the embedded mode keeps
asyncio queues that belong to the ASGI server's loop, and channels-redis keeps a connection pool per loop.
So every send goes into one outbox per process, drained in order by a task on one long-lived loop: the
server's loop inside the web process, or a private loop thread that a worker process starts once
(``async_to_sync`` would build a new loop, thread and Redis connection for every event).

The producer (a generation, a diffusion step) never waits for the socket layer. When the layer is down
(Redis restarting), events are dropped for a moment instead of piling up: the stream's snapshot and the
database rows keep the truth, and pages that reconnect read them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any

from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 5.0
#: After a failed send, drop events for this long instead of waiting on a dead layer for each one.
BACKOFF_S = 2.0
#: Events waiting in the outbox; beyond this the oldest are dropped (their text is in the snapshot).
OUTBOX_LIMIT = 10_000


class _Outbox:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]]] | None = None
        self.down_until = 0.0
        self.dropped = 0
        loop.call_soon_threadsafe(self._start)

    def _start(self) -> None:
        self.queue = asyncio.Queue()
        self.loop.create_task(self._drain())

    def put(self, group: str, event: dict[str, Any]) -> None:
        self.loop.call_soon_threadsafe(self._put, group, event)

    def _put(self, group: str, event: dict[str, Any]) -> None:
        assert self.queue is not None
        if self.queue.qsize() >= OUTBOX_LIMIT:
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait((group, event))

    async def _drain(self) -> None:
        assert self.queue is not None
        while True:
            group, event = await self.queue.get()
            layer = get_channel_layer()
            if layer is None or time.monotonic() < self.down_until:
                self.dropped += 1
                continue
            try:
                await asyncio.wait_for(layer.group_send(group, event), SEND_TIMEOUT_S)
            except Exception as exc:  # a dead socket layer must not stop a job: the database keeps the truth
                self.down_until = time.monotonic() + BACKOFF_S
                self.dropped += 1
                log.warning(
                    "Could not publish %s to %s (%s); dropping events for %ss", event.get("type"), group, exc, BACKOFF_S
                )


_lock = threading.Lock()
_outboxes: dict[int, _Outbox] = {}
_server_loop: asyncio.AbstractEventLoop | None = None
_private_loop: asyncio.AbstractEventLoop | None = None


def remember_server_loop() -> None:
    """Record the event loop of the ASGI server (called from consumers)."""
    global _server_loop
    _server_loop = asyncio.get_running_loop()


def _loop() -> asyncio.AbstractEventLoop | None:
    global _private_loop
    if _server_loop is not None and _server_loop.is_running():
        return _server_loop
    if type(get_channel_layer()).__name__ == "InMemoryChannelLayer":
        return None  # no server in this process: nobody can be listening to an in-memory layer here
    with _lock:
        if _private_loop is None or _private_loop.is_closed():
            _private_loop = asyncio.new_event_loop()
            threading.Thread(target=_private_loop.run_forever, name="realtime-loop", daemon=True).start()
        return _private_loop


def group_send(group: str, event: dict[str, Any]) -> None:
    """Queue ``event`` for ``group``; returns at once, events of one process keep their order."""
    loop = _loop()
    if loop is None:
        return
    with _lock:
        outbox = _outboxes.get(id(loop))
        if outbox is None or outbox.loop is not loop:
            outbox = _outboxes[id(loop)] = _Outbox(loop)
    outbox.put(group, event)


def dropped() -> int:
    """Events dropped since start (layer down or outbox full), for /healthz and tests."""
    return sum(outbox.dropped for outbox in list(_outboxes.values()))
