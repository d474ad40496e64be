"""Running jobs: cancel, failure, heartbeat; and the sweep that ends jobs whose worker died (real database)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from exaone_web.jobs import backends, runner, sweep
from exaone_web.jobs.models import Job
from exaone_web.jobs.services import job_cancel, job_submit

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def held(monkeypatch):
    """Submitted jobs wait until the test runs a worker itself."""
    from exaone_web.jobs import services

    monkeypatch.setattr(services, "dispatch", lambda job: None)


def test_a_job_that_raises_ends_failed_with_a_message_for_the_user_and_the_worker_goes_on(user, probe_kind, held):
    def explode(job, context):
        raise RuntimeError("internal detail /srv/secret")

    probe_kind["behaviour"] = explode
    job = job_submit(kind="test.probe", owner=user)

    ran = backends.claim_and_run("default")

    job.refresh_from_db()
    assert ran and job.status == "failed"
    assert "secret" not in job.error and "Try again" in job.error
    assert probe_kind["failed"] == [(job.pk, job.error)]
    assert backends.claim_and_run("default") is False  # the worker is still there, with nothing to do


def test_job_failed_carries_the_handlers_own_words(user, probe_kind, held):
    def refuse(job, context):
        raise runner.JobFailed("Pick a smaller image.")

    probe_kind["behaviour"] = refuse
    job = job_submit(kind="test.probe", owner=user)

    backends.claim_and_run("default")

    job.refresh_from_db()
    assert job.status == "failed" and job.error == "Pick a smaller image."


def test_cancel_reaches_a_running_job_through_the_cache(user, probe_kind, held):
    started = threading.Event()
    steps = []

    def work(job, context):
        started.set()
        for step in range(500):
            if context.cancelled():
                return
            steps.append(step)
            time.sleep(0.01)

    probe_kind["behaviour"] = work
    job = job_submit(kind="test.probe", owner=user)
    thread = threading.Thread(target=backends.claim_and_run, args=("default",))
    thread.start()
    assert started.wait(10)

    assert job_cancel(job=job) is False  # running: it stops at its next step
    thread.join(10)

    job.refresh_from_db()
    assert job.status == "cancelled" and len(steps) < 500


def test_cancel_written_to_the_database_is_seen_by_the_heartbeat_when_the_cache_forgets(user, probe_kind, held):
    seen = threading.Event()
    job = job_submit(kind="test.probe", owner=user)
    Job.objects.filter(pk=job.pk).update(status="running")
    job.refresh_from_db()
    context = runner.JobContext(job=job, cancelled=runner.CancelToken(job.pk))
    runner.running.add(context)
    try:
        Job.objects.filter(pk=job.pk).update(cancel_requested=True)  # another process asked; cache flag lost
        cache.clear()
        runner.running.beat()
        if context.cancelled():
            seen.set()
    finally:
        runner.running.remove(job.pk)

    assert seen.is_set()


def test_the_heartbeat_keeps_a_running_job_fresh_and_stores_its_progress(user, probe_kind, held):
    job = job_submit(kind="test.probe", owner=user)
    old = timezone.now() - timedelta(minutes=5)
    Job.objects.filter(pk=job.pk).update(status="running", heartbeat_at=old)
    job.refresh_from_db()
    context = runner.JobContext(job=job, cancelled=runner.CancelToken(job.pk))
    context.report(step=3, total=20)
    runner.running.add(context)
    try:
        runner.running.beat()
    finally:
        runner.running.remove(job.pk)

    job.refresh_from_db()
    assert job.heartbeat_at > old and job.progress == {"step": 3, "total": 20}


def test_the_sweep_fails_a_running_job_whose_heartbeat_stopped_once(user, probe_kind, held, settings):
    settings.JOBS_STALE_SECONDS = 15
    job = job_submit(kind="test.probe", owner=user)
    Job.objects.filter(pk=job.pk).update(status="running", heartbeat_at=timezone.now() - timedelta(seconds=20))

    first = sweep.sweep()
    second = sweep.sweep()

    job.refresh_from_db()
    assert first["stale"] == 1 and second["stale"] == 0
    assert job.status == "failed" and "Retry" in job.error
    assert probe_kind["failed"] == [(job.pk, job.error)]


def test_the_sweep_leaves_beating_and_finished_jobs_alone(user, probe_kind, held):
    fresh = job_submit(kind="test.probe", owner=user)
    done = job_submit(kind="test.probe", owner=user)
    Job.objects.filter(pk=fresh.pk).update(status="running", heartbeat_at=timezone.now())
    Job.objects.filter(pk=done.pk).update(status="succeeded", heartbeat_at=timezone.now() - timedelta(hours=1))

    sweep.sweep()

    assert Job.objects.get(pk=fresh.pk).status == "running"
    assert Job.objects.get(pk=done.pk).status == "succeeded"
    assert probe_kind["failed"] == []


def test_a_job_queued_before_the_server_started_is_failed_as_orphaned(user, probe_kind, held):
    job = job_submit(kind="test.probe", owner=user)
    Job.objects.filter(pk=job.pk).update(created_at=sweep.PROCESS_STARTED - timedelta(minutes=1))

    counts = sweep.sweep()

    job.refresh_from_db()
    assert counts["orphaned"] == 1 and job.status == "failed" and "restarted" in job.error


def test_a_job_over_the_time_limit_is_stopped_and_failed(user, probe_kind, held, settings):
    settings.JOBS_TIME_LIMIT = 60
    job = job_submit(kind="test.probe", owner=user)
    Job.objects.filter(pk=job.pk).update(
        status="running", heartbeat_at=timezone.now(), started_at=timezone.now() - timedelta(minutes=5)
    )

    counts = sweep.sweep()

    job.refresh_from_db()
    assert counts["overtime"] == 1 and job.status == "failed" and job.cancel_requested
    assert cache.get(runner.cancel_key(job.pk)) is not None


def test_old_finished_jobs_are_pruned(user, probe_kind, held, settings):
    settings.JOBS_KEEP_DAYS = 7
    old = job_submit(kind="test.probe", owner=user)
    recent = job_submit(kind="test.probe", owner=user)
    Job.objects.filter(pk=old.pk).update(status="succeeded", finished_at=timezone.now() - timedelta(days=8))
    Job.objects.filter(pk=recent.pk).update(status="succeeded", finished_at=timezone.now())

    sweep.sweep()

    assert list(Job.objects.values_list("pk", flat=True)) == [recent.pk]


def test_a_worker_shutting_down_fails_its_running_jobs_cleanly_after_the_grace(user, probe_kind, held, settings):
    settings.JOBS_SHUTDOWN_GRACE_SECONDS = 0

    def work(job, context):
        runner.running.shutting_down()
        for _ in range(1000):
            if context.cancelled():
                return
            time.sleep(0.01)

    probe_kind["behaviour"] = work
    job = job_submit(kind="test.probe", owner=user)

    backends.claim_and_run("default")

    job.refresh_from_db()
    assert job.status == "failed" and "restarted" in job.error
    assert probe_kind["failed"] == [(job.pk, job.error)]


def test_an_answer_that_finds_every_thread_busy_stops_a_running_title(user, probe_kind, held, settings):
    from exaone_web.jobs import kinds

    settings.JOBS_CONCURRENCY = {**settings.JOBS_CONCURRENCY, "default": 2}
    chore_started, chore_stopped = threading.Event(), threading.Event()

    def chore(job, context):
        chore_started.set()
        for _ in range(1000):
            if context.cancelled():
                chore_stopped.set()
                return
            time.sleep(0.01)

    kinds._kinds["test.chore"] = kinds.JobKind(
        name="test.chore", queue="default", run=chore, failed=lambda j, m: None, housekeeping=True
    )
    try:
        title = job_submit(kind="test.chore", owner=user)
        thread = threading.Thread(target=backends.claim_and_run, args=("default",))
        thread.start()
        assert chore_started.wait(10)
        job_submit(kind="test.probe", owner=user)

        backends.claim_and_run("default")  # the answer takes the second thread
        thread.join(10)
    finally:
        kinds._kinds.pop("test.chore")

    title.refresh_from_db()
    assert chore_stopped.is_set() and title.status == "cancelled"
