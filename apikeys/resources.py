"""Read-only REST endpoints for knowledge collections and documents, studio images and boards (issue 13, item 4).

Every read goes through the owning app's selectors, which filter by the viewer exactly as the pages do:
collections owned, shared with one of the viewer's groups or attached to a profile they may use; documents of
those; the viewer's own images and the unflagged images of boards shared with their groups; boards owned or
shared. Anything else is a 404. An image carries a signed, expiring link that works with a key alone (no
session), the same link ``/v1/images/generations`` returns.
"""

from __future__ import annotations

from typing import cast

from django.db.models import Q
from django.http import HttpRequest
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from knowledge import selectors as knowledge
from knowledge.models import Collection, Document
from studio import selectors as studio
from studio import signed
from studio.models import Board, StudioImage


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _page(view: APIView, request: Request, queryset, serializer: type[serializers.Serializer]) -> Response:
    paginator = LimitOffsetPagination()
    page: list | None = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer(page, many=True, context={"request": request}).data)


class CollectionOutput(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)

    class Meta:
        model = Collection
        fields = ["id", "name", "description", "owner", "created_at", "updated_at"]


class DocumentOutput(serializers.ModelSerializer):
    class Meta:
        model = Document
        fields = ["id", "collection", "filename", "mime", "size", "status", "page_count", "chunk_count", "error"]
        fields += ["created_at", "updated_at"]


class ImageOutput(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="A signed link to the PNG that expires (no session needed).")
    own = serializers.SerializerMethodField()

    class Meta:
        model = StudioImage
        fields = ["id", "url", "seed", "starred", "flagged", "metadata", "created_at", "own"]

    def get_url(self, image: StudioImage) -> str:
        return self.context["request"].build_absolute_uri(signed.image_url(image))

    def get_own(self, image: StudioImage) -> bool:
        return image.owner_id == self.context["request"].user.pk


class BoardOutput(serializers.ModelSerializer):
    own = serializers.SerializerMethodField()

    class Meta:
        model = Board
        fields = ["id", "name", "created_at", "own"]

    def get_own(self, board: Board) -> bool:
        return board.owner_id == self.context["request"].user.pk


class BoardDetailOutput(BoardOutput):
    images = serializers.SerializerMethodField()

    class Meta(BoardOutput.Meta):
        fields = [*BoardOutput.Meta.fields, "images"]

    @extend_schema_field(ImageOutput(many=True))
    def get_images(self, board: Board) -> list[dict]:
        request = self.context["request"]
        images = studio.image_search(user=request.user, board=board)[:200]
        return list(ImageOutput(images, many=True, context=self.context).data)


class CollectionListApi(APIView):
    @extend_schema(responses=CollectionOutput(many=True))
    def get(self, request: Request) -> Response:
        """Collections the user owns or that are shared with one of their groups."""
        return _page(self, request, knowledge.collection_list(user=_user(request)), CollectionOutput)


class CollectionDetailApi(APIView):
    @extend_schema(responses=CollectionOutput)
    def get(self, request: Request, collection_id: int) -> Response:
        collection = knowledge.collection_get(user=_user(request), collection_id=collection_id)
        return Response(CollectionOutput(collection).data)


class CollectionDocumentListApi(APIView):
    @extend_schema(responses=DocumentOutput(many=True))
    def get(self, request: Request, collection_id: int) -> Response:
        collection = knowledge.collection_get(user=_user(request), collection_id=collection_id)
        return _page(self, request, knowledge.document_list(collection=collection), DocumentOutput)


class DocumentDetailApi(APIView):
    @extend_schema(responses=DocumentOutput)
    def get(self, request: Request, document_id: int) -> Response:
        return Response(DocumentOutput(knowledge.document_get(user=_user(request), document_id=document_id)).data)


class ImageListApi(APIView):
    @extend_schema(responses=ImageOutput(many=True))
    def get(self, request: Request) -> Response:
        """The user's own images, newest first (shared ones are listed through their boards)."""
        images = studio.image_list(user=_user(request)).order_by("-created_at", "-id")
        return _page(self, request, images, ImageOutput)


class ImageDetailApi(APIView):
    @extend_schema(responses=ImageOutput)
    def get(self, request: Request, image_id: int) -> Response:
        image = studio.image_viewable_get(user=_user(request), image_id=image_id)
        return Response(ImageOutput(image, context={"request": request}).data)


class BoardListApi(APIView):
    @extend_schema(responses=BoardOutput(many=True))
    def get(self, request: Request) -> Response:
        """The user's boards and the boards shared with one of their groups."""
        user = _user(request)
        shared = studio.shared_board_list(user=user).values("pk")
        boards = Board.objects.filter(Q(owner=user) | Q(pk__in=shared)).order_by("name", "id")
        return _page(self, request, boards, BoardOutput)


class BoardDetailApi(APIView):
    @extend_schema(responses=BoardDetailOutput)
    def get(self, request: Request, board_id: int) -> Response:
        board = studio.board_viewable_get(user=_user(request), board_id=board_id)
        return Response(BoardDetailOutput(board, context={"request": request}).data)
