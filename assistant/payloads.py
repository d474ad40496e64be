"""The JSON shape of conversations and messages, shared by the REST API and the websocket events."""

from functools import lru_cache
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from .models import Conversation, Message
from .redaction import user_facing_error


@lru_cache(maxsize=1024)
def _rendered(content: str, copy_label: str, external_label: str, internal_hosts: tuple[str, ...]) -> str:
    """Finished answers never change, so each is rendered once per process, not on every list or event."""
    from .rendering import render_markdown

    return render_markdown(content, copy_label=copy_label, external_label=external_label, internal_hosts=internal_hosts)


def _content_html(content: str) -> str:
    return _rendered(
        content,
        _("Copy"),
        _("This link leads outside this app, to the site shown."),
        tuple(settings.CHAT_LINK_INTERNAL_HOSTS),
    )


def _feedback(message: Message) -> dict[str, Any] | None:
    try:
        feedback = message.feedback
    except Message.feedback.RelatedObjectDoesNotExist:
        return None
    return {"rating": feedback.rating, "comment": feedback.comment}


def message_payload(message: Message) -> dict[str, Any]:
    # Model answers are Markdown; what users typed is shown exactly as typed.
    rendered = message.role == Message.Role.ASSISTANT and message.status not in (
        Message.Status.QUEUED,
        Message.Status.STREAMING,
    )
    version = message.profile_version
    return {
        "id": message.pk,
        "conversation_id": message.conversation_id,
        "parent_id": message.parent_id,
        "role": message.role,
        "content": message.content,
        # Rendered and sanitised on the server once an answer is final; streaming text is shown as plain text.
        "content_html": _content_html(message.content) if rendered else None,
        "reasoning": message.reasoning,
        "status": message.status,
        "error": user_facing_error(message.error),
        "model": message.model_name,
        "language": message.language,
        "profile": (
            {
                "name_en": version.snapshot.get("name_en"),
                "name_ko": version.snapshot.get("name_ko"),
                "version": version.version,
            }
            if version
            else None
        ),
        "attachments": [
            {"id": a.pk, "name": a.name, "kind": a.kind, "table": a.table} for a in message.attachments.all()
        ]
        if message.pk
        else [],
        "feedback": _feedback(message) if message.role == Message.Role.ASSISTANT else None,
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
        "profile": conversation.profile.slug if conversation.profile_id else None,
        "pinned": conversation.pinned,
        "enable_thinking": conversation.enable_thinking,
        "current_leaf_id": conversation.current_leaf_id,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
    }
