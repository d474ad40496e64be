"""What each worker process has loaded, published to the cache for /healthz."""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from django.core.cache import cache

from inference.registry import device_report, load_errors, loaded_models

WORKERS_KEY = "workers:index"
TTL = 120


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


_queues: list[str] = []


def report(*, queues: list[str] | None = None) -> None:
    """Record this process's models, their engines' batch statistics and device memory.

    Called at start-up, after each job, and by the job heartbeat while jobs run (so /healthz shows how full
    the engine's batch is right now).
    """
    global _queues
    if queues is not None:
        _queues = queues
    queues = _queues
    ident = worker_id()
    cache.set(
        f"workers:{ident}",
        {
            "id": ident,
            "queues": queues,
            "models": loaded_models(),
            "errors": load_errors(),
            "device": device_report(),
            "seen": time.time(),
        },
        TTL,
    )
    index = set(cache.get(WORKERS_KEY) or ())
    index.add(ident)
    cache.set(WORKERS_KEY, sorted(index), None)


def seen() -> list[dict[str, Any]]:
    found = []
    for ident in cache.get(WORKERS_KEY) or ():
        entry = cache.get(f"workers:{ident}")
        if entry is not None:
            found.append(entry)
    return found
