"""REST endpoints for the job layer (a user's own jobs), and the OpenAPI description of the key scheme.

The conversations and messages API lives in :mod:`assistant.api`; this adds what had no endpoint yet: a
user's jobs (chat replies, titles and, after the merges, images and document ingestion) with their status,
queue position and cancel. Every read goes through :func:`job_list`, filtered by owner: another user's job
is a 404.
"""

from __future__ import annotations

from typing import Any, cast

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from exaone_web.jobs.models import Job
from exaone_web.jobs.services import job_cancel, job_waiting_info


def job_list(*, user: User) -> QuerySet[Job]:
    return Job.objects.filter(owner=user).order_by("-created_at", "-id")


class JobOutput(serializers.ModelSerializer):
    class Meta:
        model = Job
        fields = ["id", "kind", "queue", "status", "progress", "error", "created_at", "started_at", "finished_at"]


class JobDetailOutput(JobOutput):
    waiting = serializers.SerializerMethodField()

    class Meta(JobOutput.Meta):
        fields = [*JobOutput.Meta.fields, "waiting"]

    def get_waiting(self, job: Job) -> dict[str, Any]:
        return job_waiting_info(job=job)


class JobListApi(APIView):
    class QuerySerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=Job.Status.choices, required=False)

    @extend_schema(parameters=[QuerySerializer], responses=JobOutput(many=True))
    def get(self, request: Request) -> Response:
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        jobs = job_list(user=cast(User, request.user))
        if "status" in query.validated_data:
            jobs = jobs.filter(status=query.validated_data["status"])
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(jobs, request, view=self)
        return paginator.get_paginated_response(JobOutput(page, many=True).data)


class JobDetailApi(APIView):
    @extend_schema(responses=JobDetailOutput)
    def get(self, request: Request, job_id: int) -> Response:
        job = get_object_or_404(job_list(user=cast(User, request.user)), pk=job_id)
        return Response(JobDetailOutput(job).data)


class JobCancelApi(APIView):
    @extend_schema(request=None, responses=JobDetailOutput)
    def post(self, request: Request, job_id: int) -> Response:
        """Cancel a job: one still waiting stops at once, a running one at its next token or step."""
        job = get_object_or_404(job_list(user=cast(User, request.user)), pk=job_id)
        if not job.finished:
            job_cancel(job=job)
            job.refresh_from_db()
        return Response(JobDetailOutput(job).data)


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "apikeys.authentication.ApiKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "An API key from Settings → API keys."}
