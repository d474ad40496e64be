"""The Celery app for service mode. Embedded mode runs the same job code on threads.

Workers take wake-ups (``jobs.run_next``) from their queues and claim the fairest queued job from the
database; `manage.py jobworker` starts one with the right pool and concurrency (docs/deployment.md).
"""

import logging
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exaone_web.settings.base")

app = Celery("exaone_web")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["exaone_web.jobs"])


@app.on_after_finalize.connect
def _connect_worker_reports(sender, **kwargs):
    from celery.signals import task_postrun, worker_process_init, worker_ready, worker_shutting_down

    def _queues() -> list[str]:
        from celery import current_app

        consumer = getattr(current_app, "amqp", None)
        if consumer is None:
            return []
        try:
            return sorted(q.name for q in consumer.queues.consume_from.values())
        except Exception:
            return []

    def _report(**_kwargs):
        from .workers import report

        try:
            report(queues=_queues())
        except Exception:  # the cache being down must not fail a job
            logging.getLogger(__name__).warning("Could not publish the worker report", exc_info=True)

    def _shutting_down(**_kwargs):
        from .jobs.runner import running

        running.shutting_down()

    worker_ready.connect(_report, weak=False)
    worker_process_init.connect(_report, weak=False)
    task_postrun.connect(_report, weak=False)
    worker_shutting_down.connect(_shutting_down, weak=False)
