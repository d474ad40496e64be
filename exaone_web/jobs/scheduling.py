"""Which queued job runs next: round-robin between owners, claimed by exactly one worker.

The broker (or the in-process pool) only wakes a worker up; the worker then claims the fairest queued job of
its queue from the database. Fair means: the owner with the fewest jobs running in the queue goes first, and
among equals the one served longest ago, so a user with ten queued jobs does not hold back a user with one
(InvokeAI's session queue does the same per user). Regular jobs always go before housekeeping ones (titles).

A claim is a conditional UPDATE (``status = queued`` in the WHERE clause), so two workers racing for the
same row cannot both win, on PostgreSQL and on SQLite alike, without holding locks across the decision.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db.models import Avg, Count, F, Max
from django.utils import timezone

from .models import Job

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Waiting:
    id: int
    owner_id: int
    housekeeping: bool


def fair_order(queue: str) -> list[Waiting]:
    """The queued jobs of ``queue`` in the order workers will take them (at most JOBS_SCAN_LIMIT)."""
    rows = list(
        Job.objects.filter(queue=queue, status=Job.Status.QUEUED)
        .order_by("created_at", "id")
        .values_list("id", "owner_id", "housekeeping")[: settings.JOBS_SCAN_LIMIT]
    )
    if not rows:
        return []
    owners = {owner for _, owner, _ in rows}
    running = dict(
        Job.objects.filter(queue=queue, status=Job.Status.RUNNING, owner_id__in=owners)
        .values("owner_id")
        .annotate(n=Count("id"))
        .values_list("owner_id", "n")
    )
    served = dict(
        Job.objects.filter(queue=queue, owner_id__in=owners, started_at__isnull=False)
        .values("owner_id")
        .annotate(last=Max("started_at"))
        .values_list("owner_id", "last")
    )
    order: list[Waiting] = []
    for housekeeping in (False, True):
        per_owner: dict[int, list[Waiting]] = {}
        for job_id, owner, is_housekeeping in rows:
            if is_housekeeping == housekeeping:
                per_owner.setdefault(owner, []).append(Waiting(job_id, owner, housekeeping))
        order.extend(_round_robin(per_owner, running, served))
    return order


def _round_robin(
    per_owner: dict[int, list[Waiting]], running: dict[int, int], served: dict[int, datetime]
) -> list[Waiting]:
    # Heap of (jobs running, last served, first waiting id, owner); serving an owner sends it to the back.
    heap = [(running.get(owner, 0), served.get(owner, _NEVER), jobs[0].id, owner) for owner, jobs in per_owner.items()]
    heapq.heapify(heap)
    clock = timezone.now()
    taken = dict.fromkeys(per_owner, 0)
    order = []
    while heap:
        busy, _, _, owner = heapq.heappop(heap)
        jobs = per_owner[owner]
        order.append(jobs[taken[owner]])
        taken[owner] += 1
        if taken[owner] < len(jobs):
            clock += timedelta(microseconds=1)
            heapq.heappush(heap, (busy + 1, clock, jobs[taken[owner]].id, owner))
    return order


def claim_next(queue: str, *, worker: str, regular_only: bool = False) -> Job | None:
    """Take the fairest queued job of ``queue`` for this worker; None if there is nothing to take."""
    for waiting in fair_order(queue):
        if regular_only and waiting.housekeeping:
            break
        now = timezone.now()
        won = Job.objects.filter(pk=waiting.id, status=Job.Status.QUEUED).update(
            status=Job.Status.RUNNING, started_at=now, heartbeat_at=now, worker=worker[:200], attempts=F("attempts") + 1
        )
        if won:
            return Job.objects.get(pk=waiting.id)
    return None


def regular_waiting(queue: str) -> bool:
    return Job.objects.filter(queue=queue, status=Job.Status.QUEUED, housekeeping=False).exists()


def positions(queue: str) -> dict[int, int]:
    """Job id -> how many jobs will be taken before it (0: it is next)."""
    return {waiting.id: index for index, waiting in enumerate(fair_order(queue))}


def estimate_wait_s(job: Job, position: int) -> float | None:
    """A rough wait before ``job`` starts: recent run times of its kind, spread over the jobs running now."""
    recent = (
        Job.objects.filter(kind=job.kind, status=Job.Status.SUCCEEDED, started_at__isnull=False)
        .order_by("-finished_at")
        .values_list("pk", flat=True)[:20]
    )
    average = (
        Job.objects.filter(pk__in=list(recent))
        .annotate(took=F("finished_at") - F("started_at"))
        .aggregate(avg=Avg("took"))["avg"]
    )
    if average is None:
        return None
    seconds = average.total_seconds() if isinstance(average, timedelta) else float(average) / 1e6
    parallel = max(1, Job.objects.filter(queue=job.queue, status=Job.Status.RUNNING).count())
    return seconds * math.ceil((position + 1) / parallel)
