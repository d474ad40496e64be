"""Every event of a chat reply goes out through here: to the conversation's websocket group, numbered.

The reply's text streams through an :class:`exaone_web.jobs.events.EventStream`: the first piece goes out at
once, later ones are coalesced every CHAT_STREAM_FLUSH_MS into ``message.delta`` events with a sequence
number, and the text so far is kept as a snapshot that a (re)connecting socket replays (docs/protocol.md).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from exaone_web import realtime
from exaone_web.jobs.events import EventStream, snapshot_get

from .models import Conversation, Message


def snapshot_key(message_id: int) -> str:
    return f"stream:{message_id}"


def reply_snapshot(message_id: int) -> dict[str, Any] | None:
    """``{"seq", "content", "reasoning"}`` of a reply being written, if its worker published one."""
    snap = snapshot_get(snapshot_key(message_id))
    if snap is None:
        return None
    text = snap.get("text", {})
    return {"seq": snap["seq"], "content": text.get("text", ""), "reasoning": text.get("reasoning", "")}


def publish(conversation: Conversation, payload: dict[str, Any]) -> None:
    realtime.group_send(conversation.group_name, {"type": "chat.event", "payload": payload})


def _chat_event(event: dict[str, Any]) -> dict[str, Any]:
    if event["type"] == "message.delta":
        event = {"text": "", "reasoning": "", **event}
    return {"type": "chat.event", "payload": event}


class ReplyStream:
    """The events of one reply while a worker writes it."""

    def __init__(self, message: Message) -> None:
        self.stream = EventStream(
            group=message.conversation.group_name,
            snapshot_key=snapshot_key(message.pk),
            event_type="message.delta",
            ids={"conversation_id": message.conversation_id, "message_id": message.pk},
            interval_s=settings.CHAT_STREAM_FLUSH_MS / 1000,
            text={"text": message.content, "reasoning": ""},
            wrap=_chat_event,
        )

    @property
    def content(self) -> str:
        return self.stream.text_so_far("text")

    def started(self, *, model: str) -> None:
        self.stream.save_snapshot()
        self.stream.send("message.started", model=model)

    def add(self, *, text: str = "", reasoning: str = "") -> None:
        self.stream.append(text=text, reasoning=reasoning)

    def finished(self, *, message: dict[str, Any]) -> None:
        self.stream.flush()
        self.stream.send("message.done", seq=self.stream.seq + 1, message=message)
        self.stream.drop_snapshot()
