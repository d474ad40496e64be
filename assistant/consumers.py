"""The chat websocket: authenticate, parse, route. docs/protocol.md describes every event."""

from __future__ import annotations

import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.http import Http404
from django.utils.translation import gettext as _

from exaone_web import realtime

from . import selectors, services
from .payloads import message_payload
from .publisher import snapshot_get

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_LARGE = 1009


@database_sync_to_async
def _conversation(user, conversation_id):
    try:
        return selectors.conversation_get(user=user, conversation_id=conversation_id)
    except Http404:
        return None


@database_sync_to_async
def _active_snapshots(conversation) -> list[dict[str, Any]]:
    services.message_reap_stale(conversation=conversation)
    events = []
    for message in selectors.message_active_list(conversation=conversation):
        snap = snapshot_get(message.pk) or {"seq": 0, "content": "", "reasoning": ""}
        payload = message_payload(message)
        payload.update(content=snap["content"], reasoning=snap["reasoning"])
        events.append({"type": "message.snapshot", "seq": snap["seq"], "message": payload})
    return events


@database_sync_to_async
def _send(user, conversation, content, edit_of, attachments):
    services.message_send(
        user=user, conversation=conversation, content=content, edit_of=edit_of, attachment_ids=attachments
    )


@database_sync_to_async
def _regenerate(user, conversation, message_id):
    services.reply_regenerate(user=user, conversation=conversation, message_id=message_id)


@database_sync_to_async
def _continue(user, conversation, message_id):
    services.reply_continue(user=user, conversation=conversation, message_id=message_id)


@database_sync_to_async
def _refresh(conversation):
    conversation.refresh_from_db()


@database_sync_to_async
def _stop(conversation, message_id):
    services.generation_stop(conversation=conversation, message_id=message_id)


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


class ChatConsumer(AsyncWebsocketConsumer):
    conversation = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user = user
        self.conversation = await _conversation(user, self.scope["url_route"]["kwargs"]["conversation_id"])
        if self.conversation is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        realtime.remember_server_loop()
        # Join before reading the snapshots, so no delta can fall between the two.
        await self.channel_layer.group_add(self.conversation.group_name, self.channel_name)
        await self.accept()
        for event in await _active_snapshots(self.conversation):
            await self._send_json(event)

    async def disconnect(self, code: int) -> None:
        # Generation goes on without the socket; only the subscription ends.
        if self.conversation is not None:
            await self.channel_layer.group_discard(self.conversation.group_name, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if bytes_data is not None:
            await self._error("bad_frame", _("Send JSON text frames, not binary ones."))
            return
        if len(text_data.encode("utf-8", "surrogatepass")) > settings.WS_MAX_FRAME_BYTES:
            await self._error(
                "too_large",
                _("The frame is larger than %(limit)d bytes. Shorten the message.")
                % {"limit": settings.WS_MAX_FRAME_BYTES},
            )
            await self.close(code=CLOSE_TOO_LARGE)
            return
        try:
            frame = json.loads(text_data)
        except ValueError:
            await self._error("bad_json", _("The frame is not valid JSON."))
            return
        if not isinstance(frame, dict):
            await self._error("bad_json", _("The frame must be a JSON object."))
            return
        kind = frame.get("type")
        try:
            # The conversation's settings (profile, thinking, active branch) may have changed over REST.
            await _refresh(self.conversation)
            if kind == "message.send":
                edit_of = frame.get("edit_of")
                attachments = frame.get("attachments") or []
                if (edit_of is not None and not _is_id(edit_of)) or not (
                    isinstance(attachments, list) and all(_is_id(a) for a in attachments)
                ):
                    await self._error("invalid", _("edit_of and attachments must be message and attachment ids."))
                    return
                await _send(self.user, self.conversation, frame.get("content"), edit_of, attachments)
            elif kind in ("generation.stop", "message.regenerate", "message.continue"):
                message_id = frame.get("message_id")
                if not _is_id(message_id):
                    await self._error("invalid", _("%(type)s needs a numeric message_id.") % {"type": kind})
                    return
                if kind == "generation.stop":
                    await _stop(self.conversation, message_id)
                elif kind == "message.regenerate":
                    await _regenerate(self.user, self.conversation, message_id)
                else:
                    await _continue(self.user, self.conversation, message_id)
            elif kind == "ping":
                await self._send_json({"type": "pong"})
            else:
                await self._error("unknown_type", _("Unknown event type. See docs/protocol.md."))
        except services.ChatError as exc:
            await self._error(exc.code, exc.message)

    async def chat_event(self, event: dict[str, Any]) -> None:
        await self._send_json(event["payload"])

    async def _error(self, code: str, message: str) -> None:
        await self._send_json({"type": "error", "code": code, "message": message})

    async def _send_json(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload, ensure_ascii=False))
