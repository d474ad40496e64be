"""The watchdog: end jobs whose worker died, and jobs nobody will ever run, without waiting for a browser.

Runs every JOBS_SWEEP_SECONDS in a thread of each web process (both modes) and as a Celery beat task in
service mode. Every change is a conditional UPDATE, so sweepers running side by side cannot fail a job twice,
and a job that finished meanwhile is never touched.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import close_old_connections, connection
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from . import backends, runner
from .models import Job

log = logging.getLogger(__name__)

#: Jobs queued before this process started cannot be in its in-process queue (embedded mode).
PROCESS_STARTED = timezone.now()


def sweep() -> dict[str, int]:
    """One pass; returns how many jobs each rule touched."""
    now = timezone.now()
    running = Job.objects.filter(status=Job.Status.RUNNING)
    counts = {
        "stale": _fail(
            running.filter(heartbeat_at__lt=now - timedelta(seconds=settings.JOBS_STALE_SECONDS)),
            Job.Status.RUNNING,
            _("The worker stopped while working on this. Retry it."),
        ),
        "overtime": _fail(
            running.filter(started_at__lt=now - timedelta(seconds=settings.JOBS_TIME_LIMIT)),
            Job.Status.RUNNING,
            _("This took longer than the time limit of %(minutes)d minutes and was stopped. Retry it or ask for less.")
            % {"minutes": settings.JOBS_TIME_LIMIT // 60},
            cancel=True,
        ),
    }
    queued = Job.objects.filter(status=Job.Status.QUEUED)
    if settings.JOBS_BACKEND == "celery":
        counts["redispatched"] = _redispatch_lost(queued, now)
        counts["unclaimed"] = _fail(
            queued.filter(created_at__lt=now - timedelta(seconds=settings.JOBS_QUEUED_TIMEOUT)),
            Job.Status.QUEUED,
            _("No worker took this job in time. Retry it later; if this keeps happening, tell an administrator."),
        )
    else:
        counts["orphaned"] = _fail(
            queued.filter(created_at__lt=PROCESS_STARTED),
            Job.Status.QUEUED,
            _("The server restarted before this started. Retry it."),
        )
    keep = now - timedelta(days=settings.JOBS_KEEP_DAYS)
    counts["pruned"] = Job.objects.filter(finished_at__lt=keep).delete()[0]
    if any(counts.values()):
        log.info("Job sweep: %s", counts)
    return counts


def _fail(jobs: QuerySet[Job], from_status: str, message: str, *, cancel: bool = False) -> int:
    failed = 0
    for job in jobs[:500]:
        if cancel:
            try:
                cache.set(runner.cancel_key(job.pk), 1, 3600)
            except Exception:  # the worker's heartbeat also sees the failed status and stops
                log.debug("Could not set the cancel flag of job %s", job.pk, exc_info=True)
        updated = Job.objects.filter(pk=job.pk, status=from_status).update(
            status=Job.Status.FAILED, error=message, finished_at=timezone.now(), cancel_requested=cancel
        )
        if updated:
            failed += 1
            job.refresh_from_db()
            runner.notify_failed(job, message)
    return failed


def _redispatch_lost(queued: QuerySet[Job], now) -> int:
    """Wake workers again for jobs whose wake-up was lost (a broker restarted without persistence).

    Only when the broker holds no wake-up at all for the queue: a worker busy with earlier jobs still holds
    none, so waiting jobs keep their place; an extra wake-up finds nothing to claim and costs nothing.
    """
    cutoff = now - timedelta(seconds=settings.JOBS_REDISPATCH_SECONDS)
    redispatched = 0
    for queue in set(queued.values_list("queue", flat=True)):
        lost = list(
            queued.filter(queue=queue)
            .filter(Q(dispatched_at__isnull=True, created_at__lt=cutoff) | Q(dispatched_at__lt=cutoff))
            .values_list("pk", flat=True)
        )
        if not lost or backends.broker_depth(queue) != 0:
            continue
        for job_id in lost:
            try:
                backends.wake(queue, job_id=job_id)
            except Exception:
                log.warning("Broker still unreachable; job %s stays queued", job_id)
                break
            backends.mark_dispatched([job_id])
            redispatched += 1
    return redispatched


class Sweeper:
    """The sweep on a daemon thread; started by the ASGI application when JOBS_SWEEPER is on."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="job-sweeper", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            time.sleep(settings.JOBS_SWEEP_SECONDS)
            try:
                sweep()
            except Exception:  # the database restarting must not end the watchdog
                log.warning("Job sweep failed", exc_info=True)
                connection.close()
            finally:
                close_old_connections()


sweeper = Sweeper()
