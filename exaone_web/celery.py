"""The Celery app for service mode. Embedded mode runs the same task functions on threads."""

import logging
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exaone_web.settings.base")

app = Celery("exaone_web")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_routes = {
    "assistant.*": {"queue": "text"},
    "studio.generate_*": {"queue": "image"},
    "studio.describe_*": {"queue": "vision"},
}
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _connect_worker_reports(sender, **kwargs):
    from celery.signals import task_postrun, worker_process_init, worker_ready

    def _queues() -> list[str]:
        from celery import current_app

        consumer = getattr(current_app, "amqp", None)
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

    worker_ready.connect(_report, weak=False)
    worker_process_init.connect(_report, weak=False)
    task_postrun.connect(_report, weak=False)
