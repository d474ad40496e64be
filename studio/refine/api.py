"""REST API for refine: submit a refine / describe / export job, poll it, cancel it; upload; preview."""

from __future__ import annotations

import base64
from typing import Any, cast

from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from exaone_web.jobs.models import Job
from exaone_web.jobs.services import job_waiting_info
from exaone_web.page_api import PageApi

from .. import selectors as studio_selectors
from ..models import StudioImage
from ..payloads import image_payload
from ..printing.errors import PrintError
from ..printing.export import preview_only
from ..services import StudioError
from . import selectors, services


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _error(exc: StudioError) -> Response:
    return Response({"code": exc.code, "detail": exc.message}, status=status.HTTP_400_BAD_REQUEST)


def _body(request: Request) -> dict[str, Any]:
    data = request.data
    if not isinstance(data, dict):
        raise StudioError("invalid", _("Send a JSON object."))
    return data


def job_payload(job: Job) -> dict[str, Any]:
    """The job's state and, once done, its result (images as gallery payloads, export download links)."""
    progress = dict(job.progress or {})
    payload: dict[str, Any] = {
        "id": job.pk,
        "kind": job.kind,
        "status": job.status,
        "error": job.error,
        "progress": {k: v for k, v in progress.items() if k not in ("files", "images")},
        "url": reverse("studio:refine-api-job", args=[job.pk]),
    }
    if job.status == Job.Status.QUEUED:
        info = job_waiting_info(job=job)
        payload.update(queue_position=info["position"], wait_s=info["estimate_s"])
    ids = progress.get("images") or []
    if ids:
        images = StudioImage.objects.filter(owner_id=job.owner_id, pk__in=ids)
        payload["images"] = [image_payload(i) for i in images]
    if progress.get("files"):
        payload["downloads"] = {
            kind: reverse("studio:refine-export-file", args=[job.pk, kind]) for kind in progress["files"]
        }
    return payload


class _ImageJobApi(PageApi):
    """POST to an image of the user's: check, queue, answer 202 with the job."""

    def submit(self, user: User, image: StudioImage, data: dict[str, Any]) -> Job:
        raise NotImplementedError

    def post(self, request: Request, image_id: int) -> Response:
        user = _user(request)
        image = studio_selectors.image_get(user=user, image_id=image_id)
        try:
            job = self.submit(user, image, _body(request))
        except StudioError as exc:
            return _error(exc)
        return Response(job_payload(job), status=status.HTTP_202_ACCEPTED)


class RefineApi(_ImageJobApi):
    def submit(self, user: User, image: StudioImage, data: dict[str, Any]) -> Job:
        return services.refine_submit(user=user, image=image, data=data)


class DescribeApi(_ImageJobApi):
    def submit(self, user: User, image: StudioImage, data: dict[str, Any]) -> Job:
        return services.describe_submit(user=user, image=image, data=data)


class ExportApi(_ImageJobApi):
    def submit(self, user: User, image: StudioImage, data: dict[str, Any]) -> Job:
        return services.export_submit(user=user, image=image, data=data)


class PrintPreviewApi(PageApi):
    """The flat preview for the export form, laid out at low resolution right here (well under a second)."""

    def post(self, request: Request, image_id: int) -> Response:
        image = studio_selectors.image_get(user=_user(request), image_id=image_id)
        try:
            options = services.export_options(_body(request))
            result = preview_only(services.source_open(image), options)
        except StudioError as exc:
            return _error(exc)
        except PrintError as exc:
            return _error(StudioError("invalid", str(exc)))
        size = result.plan.size
        return Response(
            {
                "preview": "data:image/png;base64," + base64.b64encode(result.preview).decode("ascii"),
                "warnings": result.warnings,
                "page_mm": [round(size.bleed_width_mm, 1), round(size.bleed_height_mm, 1)],
                "trim_mm": [round(size.width_mm, 1), round(size.height_mm, 1)],
                "pixels": list(size.bleed_px),
                "effective_dpi": round(result.source.effective_dpi),
            }
        )


class UploadApi(PageApi):
    parser_classes = [MultiPartParser]

    def post(self, request: Request) -> Response:
        upload = request.FILES.get("file")
        try:
            if upload is None:
                raise StudioError("empty", _("Choose an image file to upload."))
            # One byte over the limit is enough to refuse it; the rest is never read.
            image = services.upload_store(user=_user(request), data=upload.read(services.MAX_INPUT_BYTES + 1))
        except StudioError as exc:
            return _error(exc)
        return Response(image_payload(image), status=status.HTTP_201_CREATED)


class JobApi(PageApi):
    def get(self, request: Request, job_id: int) -> Response:
        return Response(job_payload(selectors.refine_job_get(user=_user(request), job_id=job_id)))


class JobCancelApi(PageApi):
    def post(self, request: Request, job_id: int) -> Response:
        job = selectors.refine_job_get(user=_user(request), job_id=job_id)
        return Response(job_payload(services.job_cancel_refine(job=job)))
