"""The JSON shape of conversations and messages, shared by the REST API and the websocket events."""

import contextlib
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from .models import Conversation, Message
from .redaction import user_facing_error


def rendered_html(content: str, *, language: str = "") -> str:
    """An answer's Markdown as sanitised HTML, rendered once when the reply ends and stored with it.

    Labels are in the reply's language; the page relabels copy buttons in its own.
    """
    from .rendering import render_markdown

    with translation.override(language) if language else contextlib.nullcontext():
        return render_markdown(
            content,
            copy_label=_("Copy"),
            image_label=_("image"),
            external_label=_("This link leads outside this app, to the site shown."),
            internal_hosts=tuple(settings.CHAT_LINK_INTERNAL_HOSTS),
        )


@lru_cache(maxsize=256)
def _legacy_rendered(content: str, language: str, page_language: str) -> str:
    """Answers saved before HTML was stored with them (in the reply's language, else the page's)."""
    return rendered_html(content, language=language)


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
        "content_html": (
            message.content_html
            or _legacy_rendered(message.content, message.language, translation.get_language() or "")
        )
        if rendered
        else None,
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
        "attachments": [attachment_payload(a) for a in message.attachments.all()] if message.pk else [],
        "feedback": _feedback(message) if message.role == Message.Role.ASSISTANT else None,
        #: Passages a grounded answer was given, numbered as its citations [1], [2] (assistant/grounding.py).
        "evidence": message.evidence,
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
        # Ids first: lists select the related rows, and a missing one must not cost a query.
        "model": conversation.model.name if conversation.model_id and conversation.model else None,
        "profile": conversation.profile.slug if conversation.profile_id and conversation.profile else None,
        "pinned": conversation.pinned,
        "enable_thinking": conversation.enable_thinking,
        "current_leaf_id": conversation.current_leaf_id,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
    }


#: Rows of an attached table that pages show; the full table stays in the database for the model.
PREVIEW_ROWS = 20


def attachment_payload(attachment: Any) -> dict[str, Any]:
    table = dict(attachment.table)
    table["rows"] = table.get("rows", [])[:PREVIEW_ROWS]
    return {"id": attachment.pk, "name": attachment.name, "kind": attachment.kind, "table": table}
