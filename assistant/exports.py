"""Conversations as Markdown (the active branch, for reading) and JSON (every message, for keeping)."""

from __future__ import annotations

import json

from django.db.models import prefetch_related_objects
from django.utils import timezone

from . import selectors
from .models import Conversation, Message
from .payloads import conversation_payload, message_payload
from .redaction import user_facing_error


def active_branch(conversation: Conversation) -> list[Message]:
    leaf = conversation.current_leaf or conversation.messages.order_by("-created_at", "-id").first()
    if leaf is None:
        return []
    chain = selectors.branch(leaf=leaf)
    prefetch_related_objects(chain, "attachments")
    return chain


def conversation_markdown(conversation: Conversation) -> str:
    lines = [f"# {conversation.title or 'Conversation'}", "", f"_Exported {timezone.now():%Y-%m-%d %H:%M} UTC_", ""]
    for message in active_branch(conversation):
        who = "User" if message.role == Message.Role.USER else f"Assistant ({message.model_name})"
        lines += [f"## {who}", ""]
        for attachment in message.attachments.all():
            lines += [f"_Attached table: {attachment.name}_", ""]
        if message.reasoning:
            quoted = "\n".join("> " + line for line in message.reasoning.splitlines())
            lines += ["<details><summary>Reasoning</summary>", "", quoted, "", "</details>", ""]
        lines += [message.content, ""]
        if message.status not in (Message.Status.DONE, ""):
            error = user_facing_error(message.error)
            lines += [f"_({message.status}{': ' + error if error else ''})_", ""]
    return "\n".join(lines).rstrip() + "\n"


def conversation_json(conversation: Conversation) -> str:
    data = {
        "conversation": conversation_payload(conversation),
        "messages": [
            {k: v for k, v in message_payload(m).items() if k != "content_html"}
            for m in selectors.message_list(conversation=conversation)
        ],
        "exported_at": timezone.now().isoformat(),
    }
    return json.dumps(data, ensure_ascii=False, indent=2)
