"""The JSON shape of conversations and messages, shared by the REST API and the websocket events."""

from typing import Any

from .models import Conversation, Message


def message_payload(message: Message) -> dict[str, Any]:
    return {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "parent_id": message.parent_id,
        "role": message.role,
        "content": message.content,
        "reasoning": message.reasoning,
        "status": message.status,
        "error": message.error,
        "model": message.model_name,
        "usage": {"prompt_tokens": message.prompt_tokens, "completion_tokens": message.completion_tokens},
        "timings": {
            "ttft_ms": message.ttft_ms,
            "total_ms": message.total_ms,
            "tokens_per_s": message.tokens_per_s,
        },
        "created_at": message.created_at.isoformat() if message.created_at else None,
    }


def conversation_payload(conversation: Conversation) -> dict[str, Any]:
    return {
        "id": conversation.pk,
        "title": conversation.title,
        "model": conversation.model.name if conversation.model_id else None,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
    }
