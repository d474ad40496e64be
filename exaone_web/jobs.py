"""Dispatch background jobs: Celery in service mode, worker threads in the embedded mode.

The same task functions run in both modes. Callers use :func:`dispatch` after their transaction commits.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.db import close_old_connections

log = logging.getLogger(__name__)

QUEUES = ("text", "image", "vision", "default")


class QueueFull(Exception):
    """Too many jobs are waiting: try again later."""


class _InProcess:
    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._executors: dict[str, ThreadPoolExecutor] = {}
        self._pending: dict[str, int] = {}

    def submit(self, queue: str, task: Any, args: tuple) -> None:
        with self._lock:
            if self._pending.get(queue, 0) >= settings.JOBS_MAX_PENDING:
                raise QueueFull(queue)
            self._pending[queue] = self._pending.get(queue, 0) + 1
            if queue not in self._executors:
                threads = settings.JOBS_INPROCESS_THREADS.get(queue, 1)
                self._executors[queue] = ThreadPoolExecutor(threads, thread_name_prefix=f"jobs-{queue}")
            executor = self._executors[queue]
        executor.submit(self._run, queue, task, args)

    def _run(self, queue: str, task: Any, args: tuple) -> None:
        close_old_connections()
        try:
            task.run(*args)
        except Exception:  # the task records its own failure; the thread must live on
            log.exception("Job %s%r failed", task.name, args)
        finally:
            with self._lock:
                self._pending[queue] -= 1
                self._lock.notify_all()
            close_old_connections()

    def depth(self, queue: str) -> int:
        return self._pending.get(queue, 0)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no job is queued or running; False if that took longer than ``timeout`` seconds."""
        with self._lock:
            return self._lock.wait_for(lambda: not any(self._pending.values()), timeout=timeout)


_inprocess = _InProcess()


def wait_idle(timeout: float = 60) -> bool:
    """Wait for the in-process jobs to finish (tests, and a clean shutdown of the embedded server)."""
    return _inprocess.wait_idle(timeout)


def queue_depth(queue: str) -> int:
    if settings.JOBS_BACKEND != "celery":
        return _inprocess.depth(queue)
    from .celery import app

    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        return int(client.llen(queue))


def dispatch(task: Any, *args: Any, queue: str) -> None:
    """Run ``task(*args)`` on ``queue``; raises :class:`QueueFull` when the queue is at its bound."""
    if queue not in QUEUES:
        raise ValueError(f"Unknown queue {queue!r}")
    if settings.JOBS_BACKEND == "celery":
        if queue_depth(queue) >= settings.JOBS_MAX_PENDING:
            raise QueueFull(queue)
        task.apply_async(args=args, queue=queue)
    else:
        _inprocess.submit(queue, task, args)
