"""Reads for refine: jobs and images, always filtered by their owner (another user's id: 404)."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User
from exaone_web.jobs.models import Job

from ..selectors import _get
from .services import KINDS


def refine_job_list(*, user: User) -> QuerySet[Job]:
    return Job.objects.filter(owner=user, kind__in=KINDS)


def refine_job_get(*, user: User, job_id: object, kind: str | None = None) -> Job:
    jobs = refine_job_list(user=user)
    if kind is not None:
        jobs = jobs.filter(kind=kind)
    return _get(jobs, job_id, "job")
