"""The chat websocket: authenticate, parse, route. docs/protocol.md describes every event."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.http import Http404
from django.utils.translation import gettext as _

from exaone_web.jobs.services import job_waiting_info
from exaone_web.sockets import CLOSE_NOT_FOUND, LiveSocket, is_id

from . import selectors, services
from .payloads import message_payload
from .publisher import reply_snapshot


@database_sync_to_async
def _conversation(user, conversation_id):
    try:
        return selectors.conversation_get(user=user, conversation_id=conversation_id)
    except Http404:
        return None


@database_sync_to_async
def _active_snapshots(conversation) -> list[dict[str, Any]]:
    """A ``message.snapshot`` for each reply still queued or being written (the database if no snapshot)."""
    events = []
    active = selectors.message_active_list(conversation=conversation).select_related("job")
    for message in active.prefetch_related("attachments"):
        snap = reply_snapshot(message.pk) or {"seq": 0, "content": message.content, "reasoning": message.reasoning}
        payload = message_payload(message)
        payload.update(content=snap["content"], reasoning=snap["reasoning"])
        if message.status == message.Status.QUEUED and message.job is not None:
            payload["queue_position"] = job_waiting_info(job=message.job)["position"]
        events.append({"type": "message.snapshot", "seq": snap["seq"], "message": payload})
    return events


@database_sync_to_async
def _route(user, conversation_id: int, kind: str, frame: dict[str, Any]) -> None:
    # Re-read the conversation: its settings (profile, thinking, active branch) may have changed over REST.
    conversation = selectors.conversation_get(user=user, conversation_id=conversation_id)
    if kind == "message.send":
        services.message_send(
            user=user,
            conversation=conversation,
            content=frame.get("content"),
            edit_of=frame.get("edit_of"),
            attachment_ids=frame.get("attachments") or [],
        )
    elif kind == "generation.stop":
        services.generation_stop(conversation=conversation, message_id=frame["message_id"])
    elif kind == "message.regenerate":
        services.reply_regenerate(user=user, conversation=conversation, message_id=frame["message_id"])
    else:
        services.reply_continue(user=user, conversation=conversation, message_id=frame["message_id"])


class ChatConsumer(LiveSocket):
    conversation = None

    async def authorise(self) -> bool:
        self.conversation = await _conversation(self.user, self.scope["url_route"]["kwargs"]["conversation_id"])
        if self.conversation is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return False
        # Joined before the snapshots are read, so no delta can fall between the two.
        await self.join(self.conversation.group_name)
        return True

    async def joined(self) -> None:
        for event in await _active_snapshots(self.conversation):
            await self.send_json(event)

    async def resubscribed(self) -> None:
        """Back after a channel layer outage: events may have been missed, so the page reloads its messages."""
        await self.send_json({"type": "resync"})
        await self.joined()

    async def handle(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "message.send":
            edit_of = frame.get("edit_of")
            attachments = frame.get("attachments") or []
            if (edit_of is not None and not is_id(edit_of)) or not (
                isinstance(attachments, list) and all(is_id(a) for a in attachments)
            ):
                await self.error("invalid", _("edit_of and attachments must be message and attachment ids."))
                return
        elif kind in ("generation.stop", "message.regenerate", "message.continue"):
            if not is_id(frame.get("message_id")):
                await self.error("invalid", _("%(type)s needs a numeric message_id.") % {"type": kind})
                return
        else:
            await super().handle(frame)
            return
        assert self.conversation is not None  # authorise() set it before the socket opened
        try:
            await _route(self.user, self.conversation.pk, kind, frame)
        except services.ChatError as exc:
            await self.error(exc.code, exc.message)
        except Http404:
            await self.close(code=CLOSE_NOT_FOUND)

    async def chat_event(self, event: dict[str, Any]) -> None:
        await self.send_json(event["payload"])
