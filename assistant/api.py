"""REST API for chat: one view per action; validate, call a service, return the payload."""

from typing import cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.text import slugify
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from catalog.models import ModelEntry
from catalog.selectors import model_list

from . import exports, profiles, selectors, services
from .models import Attachment
from .payloads import conversation_payload, message_payload


def _user(request: HttpRequest) -> User:
    """The signed-in user (the view's permission or login check ran first)."""
    return cast(User, request.user)


def _chat_error(exc: services.ChatError) -> Response:
    return Response({"code": exc.code, "detail": exc.message}, status=status.HTTP_400_BAD_REQUEST)


class ConversationListApi(APIView):
    @extend_schema_serializer(component_name="ConversationCreate")
    class InputSerializer(serializers.Serializer):
        title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        model = serializers.SlugField(max_length=100, required=False, allow_blank=True, default="")
        profile = serializers.SlugField(max_length=80, required=False, allow_blank=True, default="")
        enable_thinking = serializers.BooleanField(required=False, default=False)

    class QuerySerializer(serializers.Serializer):
        q = serializers.CharField(max_length=200, required=False, allow_blank=True, default="", trim_whitespace=True)
        cursor = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        limit = serializers.IntegerField(min_value=1, max_value=200, required=False, default=50)

    @extend_schema(operation_id="conversations_list", parameters=[QuerySerializer], responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        conversations, cursor = selectors.conversation_page(
            conversations=selectors.conversation_search(user=_user(request), query=params["q"]),
            cursor=params["cursor"],
            limit=params["limit"],
        )
        return Response({"results": [conversation_payload(c) for c in conversations], "next": cursor})

    @extend_schema(request=InputSerializer, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            conversation = services.conversation_create(
                user=_user(request),
                title=data.validated_data["title"],
                model_name=data.validated_data["model"],
                profile_slug=data.validated_data["profile"],
                enable_thinking=data.validated_data["enable_thinking"],
            )
        except services.ChatError as exc:
            return _chat_error(exc)
        return Response(conversation_payload(conversation), status=status.HTTP_201_CREATED)


class ConversationDetailApi(APIView):
    @extend_schema_serializer(component_name="ConversationUpdate")
    class InputSerializer(serializers.Serializer):
        title = serializers.CharField(max_length=200, required=False)
        pinned = serializers.BooleanField(required=False)
        enable_thinking = serializers.BooleanField(required=False)
        model = serializers.SlugField(max_length=100, required=False, allow_blank=True)
        profile = serializers.SlugField(max_length=80, required=False, allow_blank=True)

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, conversation_id: int) -> Response:
        conversation = selectors.conversation_get(user=_user(request), conversation_id=conversation_id)
        return Response(conversation_payload(conversation))

    @extend_schema(request=InputSerializer, responses=OpenApiTypes.OBJECT)
    def patch(self, request: Request, conversation_id: int) -> Response:
        conversation = selectors.conversation_get(user=_user(request), conversation_id=conversation_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.validated_data
        try:
            conversation = services.conversation_update(
                user=_user(request),
                conversation=conversation,
                title=fields.get("title"),
                pinned=fields.get("pinned"),
                enable_thinking=fields.get("enable_thinking"),
                model_name=fields.get("model"),
                profile_slug=fields.get("profile"),
            )
        except services.ChatError as exc:
            return _chat_error(exc)
        return Response(conversation_payload(conversation))

    @extend_schema(responses={204: None})
    def delete(self, request: Request, conversation_id: int) -> Response:
        conversation = selectors.conversation_get(user=_user(request), conversation_id=conversation_id)
        services.conversation_delete(conversation=conversation)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageListApi(APIView):
    """The active branch, newest page first; ``?before=<id>`` pages to older messages."""

    class QuerySerializer(serializers.Serializer):
        before = serializers.IntegerField(min_value=1, required=False, default=None)
        limit = serializers.IntegerField(min_value=1, max_value=200, required=False, default=50)

    @extend_schema(parameters=[QuerySerializer], responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, conversation_id: int) -> Response:
        conversation = selectors.conversation_get(user=_user(request), conversation_id=conversation_id)
        query = self.QuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = selectors.branch_page(conversation=conversation, **query.validated_data)
        results = []
        for message in page.messages:
            payload = message_payload(message)
            payload["siblings"] = page.siblings[message.pk]
            results.append(payload)
        return Response(
            {
                "current_leaf_id": conversation.current_leaf_id,
                "results": results,
                "has_more": page.has_more,
                "next_before": page.next_before,
            }
        )


class MessageTreeApi(APIView):
    """The shape of the whole tree (ids, parents, roles, statuses), for pages that show every branch."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, conversation_id: int) -> Response:
        conversation = selectors.conversation_get(user=_user(request), conversation_id=conversation_id)
        return Response({"results": selectors.message_tree(conversation=conversation)})


class BranchSelectApi(APIView):
    @extend_schema_serializer(component_name="BranchSelect")
    class InputSerializer(serializers.Serializer):
        message_id = serializers.IntegerField(min_value=1)

    @extend_schema(request=InputSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, conversation_id: int) -> Response:
        conversation = selectors.conversation_get(user=_user(request), conversation_id=conversation_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            leaf = services.branch_select(conversation=conversation, message_id=data.validated_data["message_id"])
        except services.ChatError as exc:
            return _chat_error(exc)
        return Response({"current_leaf_id": leaf.pk})


class FeedbackApi(APIView):
    @extend_schema_serializer(component_name="Feedback")
    class InputSerializer(serializers.Serializer):
        rating = serializers.ChoiceField(choices=[1, -1])
        comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")

    @extend_schema(request=InputSerializer, responses=OpenApiTypes.OBJECT)
    def put(self, request: Request, conversation_id: int, message_id: int) -> Response:
        conversation = selectors.conversation_get(user=_user(request), conversation_id=conversation_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            feedback = services.feedback_save(
                user=_user(request), conversation=conversation, message_id=message_id, **data.validated_data
            )
        except services.ChatError as exc:
            return _chat_error(exc)
        return Response({"rating": feedback.rating, "comment": feedback.comment})


class ExportApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["md", "json"])],
        responses={(200, "text/markdown"): OpenApiTypes.STR, (200, "application/json"): OpenApiTypes.OBJECT},
    )
    def get(self, request: Request, conversation_id: int) -> HttpResponse:
        conversation = selectors.conversation_get(user=_user(request), conversation_id=conversation_id)
        fmt = request.query_params.get("format", "md")
        name = slugify(conversation.title, allow_unicode=False) or f"conversation-{conversation.pk}"
        if fmt == "json":
            body, content_type, suffix = exports.conversation_json(conversation), "application/json", "json"
        elif fmt == "md":
            body, content_type, suffix = exports.conversation_markdown(conversation), "text/markdown", "md"
        else:
            return Response({"detail": _("format must be md or json.")}, status=400)
        from apikeys import audit

        audit.record(
            action="export", actor=_user(request), target=conversation, request=request, detail={"format": fmt}
        )
        response = HttpResponse(body, content_type=f"{content_type}; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name[:60]}.{suffix}"'
        return response


class AttachmentUploadApi(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": OpenApiTypes.OBJECT}, responses={201: OpenApiTypes.OBJECT})
    def post(self, request: Request, conversation_id: int) -> Response:
        from .tables import MESSAGES, TableError, parse_table, table_to_dict

        conversation = selectors.conversation_get(user=_user(request), conversation_id=conversation_id)
        upload = request.FILES.get("file")
        if upload is None:
            return Response({"code": "no_file", "detail": _("Choose a CSV or XLSX file.")}, status=400)
        if upload.size > settings.CHAT_TABLE_MAX_BYTES:
            return Response(
                {
                    "code": "too_large",
                    "detail": _("The file is larger than %(limit)d MB. Attach a smaller table.")
                    % {"limit": settings.CHAT_TABLE_MAX_BYTES // (1024 * 1024)},
                },
                status=413,
            )
        pending = Attachment.objects.filter(owner=_user(request), conversation=conversation, message__isnull=True)
        if pending.count() >= settings.CHAT_MAX_ATTACHMENTS:
            return Response(
                {
                    "code": "too_many_attachments",
                    "detail": _("Attach at most %(limit)d files to one message.")
                    % {"limit": settings.CHAT_MAX_ATTACHMENTS},
                },
                status=400,
            )
        try:
            table = parse_table(upload.name, upload.read(), max_bytes=settings.CHAT_TABLE_MAX_BYTES)
        except TableError as exc:
            return Response({"code": exc.code, "detail": _(MESSAGES[exc.code]).format(**exc.params)}, status=400)
        attachment = Attachment.objects.create(
            owner=_user(request),
            conversation=conversation,
            name=upload.name[-200:],
            kind=table.kind,
            table=table_to_dict(table),
        )
        return Response(
            {"id": attachment.pk, "name": attachment.name, "kind": attachment.kind, "table": attachment.table},
            status=status.HTTP_201_CREATED,
        )


class ModelListApi(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        kind = request.query_params.get("kind", ModelEntry.Kind.TEXT)
        if kind not in ModelEntry.Kind.values:
            return Response({"detail": "kind must be text, image or vision."}, status=400)
        return Response(
            {
                "results": [
                    {
                        "name": m.name,
                        "display_name": m.display_name,
                        "engine": m.engine,
                        "demo": m.demo,
                        "default": m.is_default,
                        "licence": m.licence,
                    }
                    for m in model_list(kind=kind)
                ]
            }
        )


class ProfileListApi(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        language = getattr(request, "LANGUAGE_CODE", "en")
        return Response(
            {
                "results": [
                    {
                        "slug": p.slug,
                        "name": p.display_name(language),
                        "domain": p.domain,
                        "reply_language": p.reply_language,
                        "version": p.version,
                    }
                    for p in profiles.profile_list(user=_user(request))
                ]
            }
        )


class TemplateListApi(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        return Response(
            {
                "results": [
                    {
                        "id": t.pk,
                        "title": t.title,
                        "body": t.body,
                        "domain": t.domain,
                        "variables": profiles.template_variables(t.body),
                    }
                    for t in profiles.template_list(user=_user(request))
                ]
            }
        )
