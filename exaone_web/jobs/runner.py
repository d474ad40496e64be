"""Run a claimed job in this process: heartbeat, cancel flag, outcome.

Every running job of the process is beaten by one heartbeat thread (one UPDATE for all of them every
JOBS_HEARTBEAT_SECONDS); that thread also picks up cancel requests written to the database, so Stop works
even while the cache is down. The fast path for cancel is a cache flag, read at most every few milliseconds,
and a process-local event when the request comes from this very process (the embedded mode).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from inference.errors import InferenceError

from . import kinds
from .models import Job

log = logging.getLogger(__name__)

#: How often a running job looks at the cache for a cancel flag (seconds).
CANCEL_POLL_S = 0.02


class JobFailed(Exception):
    """End the job as failed; ``message`` is shown to the user as is (translate it)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def cancel_key(job_id: int) -> str:
    return f"job-cancel:{job_id}"


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.current_thread().name}"


class CancelToken:
    """Cheap to call before every token or step: ``if context.cancelled(): ...``."""

    def __init__(self, job_id: int) -> None:
        self._event = threading.Event()
        self._key = cancel_key(job_id)
        self._next_poll = 0.0

    def set(self) -> None:
        self._event.set()

    def __call__(self) -> bool:
        if self._event.is_set():
            return True
        now = time.monotonic()
        if now >= self._next_poll:
            self._next_poll = now + CANCEL_POLL_S
            try:
                if cache.get(self._key) is not None:
                    self._event.set()
            except Exception:  # the heartbeat reads the database flag as well
                log.debug("Cancel flag unreadable in the cache", exc_info=True)
        return self._event.is_set()


@dataclass
class JobContext:
    job: Job
    cancelled: CancelToken
    #: The last progress reported; the heartbeat stores it on the job row for pages that load mid-job.
    progress: dict[str, Any] = field(default_factory=dict)
    #: Set (with ``cancelled``) when the worker stops the job itself, e.g. on shutdown: why, in the user's words.
    interrupted: str = ""
    _progress_saved: dict[str, Any] = field(default_factory=dict)

    def report(self, **progress: Any) -> None:
        self.progress = progress


class _Running:
    """The jobs this process is running, and the thread that beats for them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[int, JobContext] = {}
        self._thread: threading.Thread | None = None

    def add(self, context: JobContext) -> None:
        with self._lock:
            self._jobs[context.job.pk] = context
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._beat_forever, name="job-heartbeat", daemon=True)
                self._thread.start()

    def remove(self, job_id: int) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)

    def get(self, job_id: int) -> JobContext | None:
        with self._lock:
            return self._jobs.get(job_id)

    def snapshot(self) -> list[JobContext]:
        with self._lock:
            return list(self._jobs.values())

    def shutting_down(self) -> None:
        """The worker got SIGTERM: running jobs get JOBS_SHUTDOWN_GRACE_SECONDS to finish, then end as failed."""

        def interrupt() -> None:
            time.sleep(settings.JOBS_SHUTDOWN_GRACE_SECONDS)
            for context in self.snapshot():
                context.interrupted = _("The worker was restarted before this finished. Retry it.")
                context.cancelled.set()

        threading.Thread(target=interrupt, name="job-shutdown", daemon=True).start()

    def _beat_forever(self) -> None:
        while True:
            time.sleep(settings.JOBS_HEARTBEAT_SECONDS)
            try:
                self.beat()
            except Exception:  # the database restarting must not kill the heartbeat
                log.warning("Job heartbeat failed", exc_info=True)
                connection.close()

    def beat(self) -> None:
        contexts = {c.job.pk: c for c in self.snapshot()}
        if not contexts:
            return
        now = timezone.now()
        Job.objects.filter(pk__in=list(contexts), status=Job.Status.RUNNING).update(heartbeat_at=now)
        rows = Job.objects.filter(pk__in=list(contexts)).values_list("pk", "status", "cancel_requested")
        for job_id, status, cancel_requested in rows:
            context = contexts[job_id]
            # Cancelled by a user, or failed by the sweep meanwhile: either way, stop working on it.
            if cancel_requested or status != Job.Status.RUNNING:
                context.cancelled.set()
            if context.progress and context.progress != context._progress_saved:
                context._progress_saved = dict(context.progress)
                Job.objects.filter(pk=job_id).update(progress=context._progress_saved)
        if settings.JOBS_BACKEND == "celery":
            from exaone_web.workers import report

            report()


running = _Running()


def user_message(exc: BaseException) -> str:
    """What the user reads when a job fails: our own words, never a traceback."""
    if isinstance(exc, JobFailed):
        return exc.message
    if isinstance(exc, InferenceError):
        return str(exc)
    return _("The job failed unexpectedly. Try again; if it keeps failing, tell an administrator.")


def run(job: Job) -> None:
    """Run a job this process has claimed (status ``running``) to its end."""
    kind = kinds.get(job.kind)
    context = JobContext(job=job, cancelled=CancelToken(job.pk))
    if job.cancel_requested:
        context.cancelled.set()
    running.add(context)
    status, error = Job.Status.SUCCEEDED, ""
    try:
        kind.run(job, context)
        if context.interrupted:
            status, error = Job.Status.FAILED, context.interrupted
        elif context.cancelled():
            status = Job.Status.CANCELLED
    except Exception as exc:
        if not isinstance(exc, (JobFailed, InferenceError)):
            log.exception("Job %s (%s) failed", job.pk, job.kind)
        status, error = Job.Status.FAILED, user_message(exc)
    finally:
        running.remove(job.pk)
    ended = Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
        status=status, error=error, finished_at=timezone.now(), progress=context.progress or job.progress
    )
    if status == Job.Status.FAILED and ended:
        notify_failed(job, error)


def notify_failed(job: Job, message: str) -> None:
    """Let the owning app mark its object failed and tell open pages; never raises."""
    try:
        kinds.get(job.kind).failed(job, message)
    except Exception:
        log.exception("The failure handler of job %s (%s) failed", job.pk, job.kind)
