"""REST API for the studio: one view per resource; parse, call a service, return the payload."""

from __future__ import annotations

from datetime import date
from typing import Any, cast

from django.http import HttpRequest
from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from exaone_web.jobs.services import job_waiting_info
from exaone_web.page_api import PageApi

from . import selectors, services
from .payloads import board_payload, generation_payload, image_payload


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _error(exc: services.StudioError) -> Response:
    return Response({"code": exc.code, "detail": exc.message}, status=status.HTTP_400_BAD_REQUEST)


def _body(request: Request) -> dict[str, Any]:
    data = request.data
    if not isinstance(data, dict):
        raise services.StudioError("invalid", _("Send a JSON object."))
    return data


class GenerationListApi(PageApi):
    def get(self, request: Request) -> Response:
        generations = selectors.generation_list(user=_user(request)).prefetch_related("images")[:20]
        return Response({"results": [generation_payload(g) for g in generations]})

    def post(self, request: Request) -> Response:
        try:
            generation = services.generation_submit(user=_user(request), data=_body(request))
        except services.StudioError as exc:
            return _error(exc)
        return Response(generation_payload(generation), status=status.HTTP_201_CREATED)


class GenerationDetailApi(PageApi):
    def get(self, request: Request, generation_id: int) -> Response:
        generation = selectors.generation_get(user=_user(request), generation_id=generation_id)
        payload = generation_payload(generation)
        if generation.job is not None:
            info = job_waiting_info(job=generation.job)
            payload.update(queue_position=info["position"], wait_s=info["estimate_s"])
        return Response(payload)


class GenerationCancelApi(PageApi):
    def post(self, request: Request, generation_id: int) -> Response:
        generation = selectors.generation_get(user=_user(request), generation_id=generation_id)
        return Response(generation_payload(services.generation_cancel(generation=generation)))


class RewriteApi(PageApi):
    def post(self, request: Request) -> Response:
        try:
            data = _body(request)
            result = services.rewrite_submit(user=_user(request), brief=data.get("brief"), model_name=data.get("model"))
        except services.StudioError as exc:
            return _error(exc)
        return Response(result, status=status.HTTP_202_ACCEPTED if result["job"] else status.HTTP_200_OK)


class RewriteDetailApi(PageApi):
    def get(self, request: Request, job_id: int) -> Response:
        return Response(services.rewrite_result(user=_user(request), job_id=job_id))


class RecallUploadApi(PageApi):
    parser_classes = [MultiPartParser]

    def post(self, request: Request) -> Response:
        upload = request.FILES.get("file")
        if upload is None:
            return Response({"code": "no_file", "detail": _("Choose a PNG the studio made.")}, status=400)
        try:
            values = services.recall_from_upload(data=upload.read(services.MAX_RECALL_BYTES + 1))
        except services.StudioError as exc:
            return _error(exc)
        return Response(values)


class ImageListApi(PageApi):
    def get(self, request: Request) -> Response:
        user = _user(request)
        params = request.query_params
        board = None
        if params.get("board"):
            board = selectors.board_viewable_get(user=user, board_id=params["board"])
        try:
            date_from = date.fromisoformat(params["from"]) if params.get("from") else None
            date_to = date.fromisoformat(params["to"]) if params.get("to") else None
        except ValueError:
            return Response({"code": "invalid", "detail": _("Dates must look like 2026-03-31.")}, status=400)
        images = selectors.image_search(
            user=user,
            board=board,
            model=params.get("model", "")[:100],
            text=params.get("q", "")[:200],
            date_from=date_from,
            date_to=date_to,
            starred=params.get("starred") in ("1", "true"),
        )[:200]
        return Response({"results": [image_payload(i, own=i.owner_id == user.pk) for i in images]})


class ImageDetailApi(PageApi):
    def get(self, request: Request, image_id: int) -> Response:
        image = selectors.image_viewable_get(user=_user(request), image_id=image_id)
        return Response(image_payload(image, own=image.owner_id == _user(request).pk))

    def patch(self, request: Request, image_id: int) -> Response:
        image = selectors.image_get(user=_user(request), image_id=image_id)
        starred = request.data.get("starred") if isinstance(request.data, dict) else None
        if not isinstance(starred, bool):
            return Response({"code": "invalid", "detail": _("starred must be true or false.")}, status=400)
        return Response(image_payload(services.image_update(image=image, starred=starred)))

    def delete(self, request: Request, image_id: int) -> Response:
        services.image_delete(image=selectors.image_get(user=_user(request), image_id=image_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class BoardListApi(PageApi):
    def get(self, request: Request) -> Response:
        user = _user(request)
        own = [board_payload(b) for b in selectors.board_list(user=user)]
        shared = [board_payload(b, own=False) for b in selectors.shared_board_list(user=user)]
        return Response({"results": own + shared})

    def post(self, request: Request) -> Response:
        try:
            board = services.board_create(user=_user(request), name=_body(request).get("name"))
        except services.StudioError as exc:
            return _error(exc)
        return Response(board_payload(board), status=status.HTTP_201_CREATED)


class BoardDetailApi(PageApi):
    def patch(self, request: Request, board_id: int) -> Response:
        user = _user(request)
        board = selectors.board_get(user=user, board_id=board_id)
        try:
            data = _body(request)
            board = services.board_update(user=user, board=board, name=data.get("name"), group_ids=data.get("groups"))
        except services.StudioError as exc:
            return _error(exc)
        return Response(board_payload(board))

    def delete(self, request: Request, board_id: int) -> Response:
        selectors.board_get(user=_user(request), board_id=board_id).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class BoardImageApi(PageApi):
    """PUT adds an image to a board, DELETE takes it off (the image itself stays)."""

    def _change(self, request: Request, board_id: int, image_id: int, *, add: bool) -> Response:
        user = _user(request)
        board = selectors.board_get(user=user, board_id=board_id)
        image = selectors.image_get(user=user, image_id=image_id)
        try:
            board = services.board_images_change(board=board, image=image, add=add)
        except services.StudioError as exc:
            return _error(exc)
        return Response(board_payload(board))

    def put(self, request: Request, board_id: int, image_id: int) -> Response:
        return self._change(request, board_id, image_id, add=True)

    def delete(self, request: Request, board_id: int, image_id: int) -> Response:
        return self._change(request, board_id, image_id, add=False)
