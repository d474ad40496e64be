"""Project package: settings, ASGI routing, Celery app, job dispatch and health checks."""

from .celery import app as celery_app

__all__ = ("celery_app",)
