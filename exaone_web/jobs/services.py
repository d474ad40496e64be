"""Writes for jobs: submit, cancel, and what a page shows about a job while it waits."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User

from . import backends, kinds, runner, scheduling
from .models import Job

log = logging.getLogger(__name__)


class QueueFull(Exception):
    """Too many jobs are waiting; ``message`` says what to do (translated)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def job_submit(*, kind: str, owner: User, subject_id: int | None = None, params: dict[str, Any] | None = None) -> Job:
    """Queue a job and wake a worker once the caller's transaction commits.

    Raises :class:`QueueFull` when the queue or the owner's share of it is at its bound. A broker that is
    down leaves the job queued: the sweep wakes a worker for it once the broker is back.
    """
    spec = kinds.get(kind)
    waiting = Job.objects.filter(queue=spec.queue, status=Job.Status.QUEUED)
    if waiting.count() >= settings.JOBS_MAX_PENDING:
        raise QueueFull(_("The server is busy. Try again in a minute."))
    if waiting.filter(owner=owner).count() >= settings.JOBS_MAX_QUEUED_PER_USER:
        raise QueueFull(
            _("You already have %(count)d jobs waiting. Wait for one to start or cancel one.")
            % {"count": settings.JOBS_MAX_QUEUED_PER_USER}
        )
    job = Job.objects.create(
        kind=kind,
        queue=spec.queue,
        owner=owner,
        subject_id=subject_id,
        params=params or {},
        housekeeping=spec.housekeeping,
    )
    transaction.on_commit(lambda: dispatch(job))
    return job


def dispatch(job: Job) -> None:
    try:
        backends.wake(job.queue, job_id=job.pk)
    except Exception:
        log.warning("Could not wake a worker for job %s; the sweep will retry", job.pk, exc_info=True)
        return
    backends.mark_dispatched([job.pk])


def job_cancel(*, job: Job) -> bool:
    """Cancel ``job``: True if it had not started (it is cancelled now), else it stops at its next step."""
    Job.objects.filter(pk=job.pk).update(cancel_requested=True)
    if Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED).update(
        status=Job.Status.CANCELLED, finished_at=timezone.now()
    ):
        return True
    try:
        cache.set(runner.cancel_key(job.pk), 1, 3600)
    except Exception:  # the worker's heartbeat reads the database flag
        log.warning("Could not set the cancel flag of job %s in the cache", job.pk, exc_info=True)
    local = runner.running.get(job.pk)
    if local is not None:
        local.cancelled.set()
    return False


def job_waiting_info(*, job: Job) -> dict[str, Any]:
    """Queue position (0: next) and a rough wait in seconds, for a job that has not started."""
    if job.status != Job.Status.QUEUED:
        return {"position": None, "estimate_s": None}
    position = scheduling.positions(job.queue).get(job.pk)
    if position is None:
        return {"position": None, "estimate_s": None}
    return {"position": position, "estimate_s": scheduling.estimate_wait_s(job, position)}
