"""Wake workers up: Celery messages in service mode, worker threads in the embedded mode.

Neither carries the work itself. A wake-up makes one worker claim the fairest queued job of its queue
(:func:`scheduling.claim_next`), so the broker's order never decides who goes first, a lost or doubled
wake-up never loses or doubles a job, and the database row stays the truth.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from . import runner, scheduling
from .models import Job

log = logging.getLogger(__name__)


_capacity: dict[str, tuple[float, int]] = {}


def concurrency(queue: str) -> int:
    """Jobs of ``queue`` one worker process runs at once: the engine's parallel slots for ``text``."""
    configured = int(settings.JOBS_CONCURRENCY.get(queue, 1))
    if configured > 0:
        return configured
    cached = _capacity.get(queue)
    if cached is not None and time.monotonic() - cached[0] < 60:
        return cached[1]
    from catalog.selectors import queue_capacity

    # One thread more than the engine has slots, so a title never holds a thread an answer needs.
    value = queue_capacity(queue=queue) + (1 if queue == "text" else 0)
    _capacity[queue] = (time.monotonic(), value)
    return value


def claim_and_run(queue: str) -> bool:
    """Claim the fairest job of ``queue`` and run it here; False if there was nothing to take."""
    job = scheduling.claim_next(queue, worker=runner.worker_name())
    if job is None:
        return False
    _preempt_housekeeping(job)
    runner.run(job)
    return True


def _preempt_housekeeping(job: Job) -> None:
    """A regular job that finds every thread busy stops a running title (titles are a nicety)."""
    if job.housekeeping:
        return
    contexts = [c for c in runner.running.snapshot() if c.job.queue == job.queue and c.job.pk != job.pk]
    if len(contexts) + 1 >= concurrency(job.queue):
        for context in contexts:
            if context.job.housekeeping:
                context.cancelled.set()


class InProcess:
    """Worker threads inside the web process (embedded mode), ``concurrency(queue)`` per queue."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._wakeups: dict[str, int] = {}
        self._busy: dict[str, int] = {}
        self._threads: dict[str, list[threading.Thread]] = {}

    def wake(self, queue: str) -> None:
        with self._cond:
            self._wakeups[queue] = self._wakeups.get(queue, 0) + 1
            threads = self._threads.setdefault(queue, [])
            threads[:] = [t for t in threads if t.is_alive()]
            if len(threads) < concurrency(queue):
                thread = threading.Thread(target=self._work, args=(queue,), name=f"jobs-{queue}", daemon=True)
                threads.append(thread)
                thread.start()
            self._cond.notify_all()

    def _work(self, queue: str) -> None:
        while True:
            with self._cond:
                while not self._wakeups.get(queue):
                    self._cond.wait()
                self._wakeups[queue] -= 1
                self._busy[queue] = self._busy.get(queue, 0) + 1
            close_old_connections()
            try:
                claim_and_run(queue)
            except Exception:  # the job records its own failure; the thread must live on
                log.exception("A job of queue %s failed outside its handler", queue)
            finally:
                close_old_connections()
                with self._cond:
                    self._busy[queue] -= 1
                    self._cond.notify_all()

    def idle(self) -> bool:
        return not any(self._wakeups.values()) and not any(self._busy.values())

    def wait_idle(self, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(self.idle, timeout=timeout)


inprocess = InProcess()


def wake(queue: str, *, job_id: int | None = None) -> None:
    """Ask one worker of ``queue`` to claim a job (raises if the broker is unreachable)."""
    if settings.JOBS_BACKEND == "celery":
        from .tasks import run_next

        run_next.apply_async(args=[queue, job_id], queue=queue)
    else:
        inprocess.wake(queue)


def broker_depth(queue: str) -> int | None:
    """Wake-ups waiting in the broker for ``queue``; None when unknown (embedded mode, broker down)."""
    if settings.JOBS_BACKEND != "celery":
        return None
    from exaone_web.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            if conn.transport.driver_type == "redis":
                return int(conn.default_channel.client.llen(queue))
            declared: Any = conn.default_channel.queue_declare(queue=queue, passive=True)
            return int(declared.message_count)
    except Exception:
        log.warning("Could not read the depth of queue %s", queue, exc_info=True)
        return None


def mark_dispatched(job_ids: list[int]) -> None:
    Job.objects.filter(pk__in=job_ids).update(dispatched_at=timezone.now())
