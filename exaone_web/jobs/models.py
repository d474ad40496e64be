"""The job row: the truth about every long task (chat replies, images, captions, document ingestion)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Job(models.Model):
    """One unit of background work, claimed once by one worker.

    ``kind`` names the handler (see :mod:`exaone_web.jobs.kinds`); ``subject_id`` is the id of the object the
    handler works on (a reply, an image job, a document). The row, not the broker message, decides what runs:
    a worker takes a wake-up from the broker and then claims the fairest queued job of its queue.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    kind = models.CharField(_("kind"), max_length=60)
    queue = models.CharField(_("queue"), max_length=20)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="jobs", verbose_name=_("owner")
    )
    subject_id = models.BigIntegerField(_("subject"), null=True, blank=True)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    #: Housekeeping work (titles) runs only when no regular job of its queue is waiting.
    housekeeping = models.BooleanField(_("housekeeping"), default=False)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.QUEUED)
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    worker = models.CharField(_("worker"), max_length=200, blank=True)
    #: The last progress the worker reported (step, total, ...), kept for pages that load mid-job.
    progress = models.JSONField(_("progress"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    dispatched_at = models.DateTimeField(_("dispatched"), null=True, blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["queue", "status", "created_at"], name="job_queue_status"),
            models.Index(fields=["queue", "owner", "started_at"], name="job_queue_owner_started"),
            models.Index(fields=["status", "heartbeat_at"], name="job_status_heartbeat"),
            models.Index(fields=["kind", "subject_id"], name="job_kind_subject"),
        ]
        verbose_name = _("job")
        verbose_name_plural = _("jobs")

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED, self.Status.CANCELLED)
