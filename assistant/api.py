"""REST API for conversations: one view per action; validate, call a service, return the payload."""

from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.models import ModelEntry
from catalog.selectors import model_list

from . import selectors, services
from .payloads import conversation_payload, message_payload


def _chat_error(exc: services.ChatError) -> Response:
    return Response({"code": exc.code, "detail": exc.message}, status=status.HTTP_400_BAD_REQUEST)


class ConversationListApi(APIView):
    class InputSerializer(serializers.Serializer):
        title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        model = serializers.SlugField(max_length=100, required=False, allow_blank=True, default="")

    def get(self, request: Request) -> Response:
        conversations = selectors.conversation_list(user=request.user).select_related("model")[:200]
        return Response({"results": [conversation_payload(c) for c in conversations]})

    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            conversation = services.conversation_create(
                user=request.user, title=data.validated_data["title"], model_name=data.validated_data["model"]
            )
        except services.ChatError as exc:
            return _chat_error(exc)
        return Response(conversation_payload(conversation), status=status.HTTP_201_CREATED)


class ConversationDetailApi(APIView):
    class InputSerializer(serializers.Serializer):
        title = serializers.CharField(max_length=200)

    def get(self, request: Request, conversation_id: int) -> Response:
        conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
        return Response(conversation_payload(conversation))

    def patch(self, request: Request, conversation_id: int) -> Response:
        conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = services.conversation_rename(conversation=conversation, title=data.validated_data["title"])
        return Response(conversation_payload(conversation))

    def delete(self, request: Request, conversation_id: int) -> Response:
        conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
        services.conversation_delete(conversation=conversation)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessageListApi(APIView):
    def get(self, request: Request, conversation_id: int) -> Response:
        conversation = selectors.conversation_get(user=request.user, conversation_id=conversation_id)
        messages = selectors.message_list(conversation=conversation)
        return Response({"results": [message_payload(m) for m in messages]})


class ModelListApi(APIView):
    def get(self, request: Request) -> Response:
        kind = request.query_params.get("kind", ModelEntry.Kind.TEXT)
        if kind not in ModelEntry.Kind.values:
            return Response({"detail": "kind must be text, image or vision."}, status=400)
        entries = model_list(kind=kind)
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
                    for m in entries
                ]
            }
        )
