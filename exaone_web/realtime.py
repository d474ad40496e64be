"""Send events to websocket groups from any thread or process.

In service mode the Redis channel layer takes ``group_send`` from any event loop. The in-memory layer of
the embedded mode keeps asyncio queues that belong to the server's event loop, so events from worker
threads are handed to that loop instead of being sent from a loop of their own.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)
_server_loop: asyncio.AbstractEventLoop | None = None


def remember_server_loop() -> None:
    """Record the event loop of the ASGI server (called from consumers)."""
    global _server_loop
    _server_loop = asyncio.get_running_loop()


def group_send(group: str, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    loop = _server_loop
    in_memory = type(layer).__name__ == "InMemoryChannelLayer"
    try:
        if in_memory and loop is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(layer.group_send(group, event), loop).result(timeout=5)
        elif not in_memory:
            async_to_sync(layer.group_send)(group, event)
        # In memory with no server loop: nobody can be listening in this process.
    except Exception:  # a dead socket layer must not stop a generation: the database keeps the text
        log.warning("Could not publish %s to %s", event.get("type"), group, exc_info=True)
