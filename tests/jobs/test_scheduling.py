"""Fair queueing between owners, claiming once, bounds and positions (real database, no broker)."""

from __future__ import annotations

import threading

import pytest

from exaone_web.jobs import scheduling
from exaone_web.jobs.models import Job
from exaone_web.jobs.services import QueueFull, job_submit, job_waiting_info

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_workers(monkeypatch):
    """Jobs stay queued: the tests decide who claims what."""
    from exaone_web.jobs import services

    monkeypatch.setattr(services, "dispatch", lambda job: None)


def _submit(owner, n=1, **fields):
    return [job_submit(kind="test.probe", owner=owner, **fields) for _ in range(n)]


def test_a_user_with_one_job_goes_second_behind_a_user_with_five(user, other_user, probe_kind):
    _submit(user, 5)
    (single,) = _submit(other_user)

    first = scheduling.claim_next("default", worker="w")
    Job.objects.filter(pk=first.pk).update(status="succeeded")
    second = scheduling.claim_next("default", worker="w")

    assert first.owner == user
    assert second.pk == single.pk


def test_owners_take_turns_while_both_have_jobs(user, other_user, make_user, probe_kind):
    third = make_user("carol")
    _submit(user, 3)
    _submit(other_user, 3)
    _submit(third, 1)

    order = [scheduling.claim_next("default", worker="w").owner.username for _ in range(7)]

    assert order == ["alice", "bob", "carol", "alice", "bob", "alice", "bob"]


def test_positions_follow_the_fair_order(user, other_user, probe_kind):
    a1, a2, a3 = _submit(user, 3)
    (b1,) = _submit(other_user)

    positions = scheduling.positions("default")

    assert [positions[j.pk] for j in (a1, b1, a2, a3)] == [0, 1, 2, 3]
    assert job_waiting_info(job=b1)["position"] == 1


def test_housekeeping_waits_while_regular_jobs_wait(user, other_user, probe_kind):
    from exaone_web.jobs import kinds

    kinds._kinds["test.chore"] = kinds.JobKind(
        name="test.chore", queue="default", run=lambda j, c: None, failed=lambda j, m: None, housekeeping=True
    )
    try:
        chore = job_submit(kind="test.chore", owner=other_user)
        (regular,) = _submit(user)

        first = scheduling.claim_next("default", worker="w")
        second = scheduling.claim_next("default", worker="w")
    finally:
        kinds._kinds.pop("test.chore")

    assert (first.pk, second.pk) == (regular.pk, chore.pk)


def test_a_job_is_claimed_once_when_workers_race(user, probe_kind):
    (job,) = _submit(user)
    won = []
    barrier = threading.Barrier(6)

    def claim():
        from django.db import connection

        barrier.wait()
        claimed = scheduling.claim_next("default", worker=threading.current_thread().name)
        if claimed is not None:
            won.append(claimed.pk)
        connection.close()

    threads = [threading.Thread(target=claim) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert won == [job.pk]
    job.refresh_from_db()
    assert job.status == "running" and job.attempts == 1


def test_one_user_cannot_fill_the_queue(user, other_user, probe_kind, settings):
    settings.JOBS_MAX_QUEUED_PER_USER = 3
    _submit(user, 3)

    with pytest.raises(QueueFull) as caught:
        _submit(user)
    _submit(other_user)  # another user still gets in

    assert "3 jobs waiting" in caught.value.message
    assert Job.objects.filter(owner=user).count() == 3


def test_a_full_queue_refuses_everyone(user, other_user, probe_kind, settings):
    settings.JOBS_MAX_PENDING = 2
    _submit(user, 2)

    with pytest.raises(QueueFull):
        _submit(other_user)


def test_a_cancelled_queued_job_is_never_claimed(user, probe_kind):
    from exaone_web.jobs.services import job_cancel

    (job,) = _submit(user)

    assert job_cancel(job=job) is True
    assert scheduling.claim_next("default", worker="w") is None
    job.refresh_from_db()
    assert job.status == "cancelled" and job.finished_at is not None


def test_the_wait_estimate_uses_recent_run_times(user, other_user, probe_kind):
    from datetime import timedelta

    from django.utils import timezone

    done = _submit(user, 2)
    now = timezone.now()
    for job in done:
        Job.objects.filter(pk=job.pk).update(
            status="succeeded", started_at=now - timedelta(seconds=10), finished_at=now
        )
    waiting = _submit(other_user, 2)

    info = job_waiting_info(job=waiting[1])

    assert info["position"] == 1
    assert info["estimate_s"] == pytest.approx(20, rel=0.01)
