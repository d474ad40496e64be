"""Celery tasks of the job layer: wake-ups and the periodic sweep. The work itself is in each job kind."""

from celery import shared_task

from . import backends, sweep


@shared_task(name="jobs.run_next", ignore_result=True)
def run_next(queue: str, job_id: int | None = None) -> None:
    """Claim the fairest queued job of ``queue`` (``job_id`` is only the job whose submit sent this)."""
    backends.claim_and_run(queue)


@shared_task(name="jobs.sweep", ignore_result=True)
def sweep_jobs() -> None:
    sweep.sweep()
