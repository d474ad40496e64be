"""``/v1/chat/completions`` on the chat's own services: a conversation, its messages, the ``chat.reply`` job.

A request becomes a conversation in the user's history (deleted afterwards with ``store: false``): its earlier
turns are saved as messages, then :func:`assistant.services.message_send` saves the question and queues the
reply exactly as the chat page does, so quotas, permissions, the per-user cap and fair scheduling are one code
path. The view subscribes to the conversation's group *before* queuing, relays the reply's events
(:func:`reply_events`) and reads the final row from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from assistant import profiles, services
from assistant.models import Conversation, Message
from assistant.publisher import reply_snapshot
from catalog.models import ModelEntry
from catalog.selectors import model_get

from . import limits
from .compat import ApiError, ChatRequest
from .models import ApiKey
from .services import usage_record

PROFILE_PREFIX = "profile:"
#: How often a waiting request looks at the database in case an event was lost (Redis restarting).
RECHECK_S = 5.0


def chat_error(exc: services.ChatError) -> ApiError:
    """The chat service's refusal in OpenAI's terms."""
    if exc.code == "quota":
        return ApiError(429, exc.message, code="insufficient_quota", retry_after=limits.seconds_to_midnight())
    if exc.code == "busy":
        return ApiError(429, exc.message, code="rate_limit_exceeded", retry_after=2)
    if exc.code in ("unknown_model", "profile_forbidden"):
        return ApiError(404, exc.message, param="model", code="model_not_found")
    if exc.code == "no_model":
        return ApiError(503, exc.message, code="no_model")
    if exc.code == "too_long":
        return ApiError(400, exc.message, param="messages", code="context_length_exceeded")
    return ApiError(400, exc.message, param="messages", code=exc.code)


def conversation_open(*, key: ApiKey, request: ChatRequest) -> Conversation:
    """A new conversation for the request, holding its earlier turns; the question is sent by :func:`reply_queue`."""
    user: User = key.owner
    limits.tokens_allow(key=key)
    model_name, profile_slug = "", ""
    if request.model.startswith(PROFILE_PREFIX):
        profile_slug = request.model.removeprefix(PROFILE_PREFIX)
        if profiles.profile_get(user=user, slug=profile_slug) is None:
            raise unknown_model(request.model)
    elif model_get(kind=ModelEntry.Kind.TEXT, name=request.model) is None:
        raise unknown_model(request.model)
    else:
        model_name = request.model
    for _role, text in request.history:
        if len(text) > settings.CHAT_MAX_MESSAGE_CHARS:
            raise ApiError(
                400,
                _("A message has %(count)d characters; the limit is %(limit)d.")
                % {"count": len(text), "limit": settings.CHAT_MAX_MESSAGE_CHARS},
                param="messages",
                code="context_length_exceeded",
            )
    with transaction.atomic():
        try:
            conversation = services.conversation_create(
                user=user, model_name=model_name, profile_slug=profile_slug, enable_thinking=request.thinking
            )
        except services.ChatError as exc:
            raise chat_error(exc) from exc
        parent = None
        for role, text in request.history:
            parent = Message.objects.create(conversation=conversation, parent=parent, role=role, content=text)
        if parent is not None:
            conversation.current_leaf = parent
            conversation.save(update_fields=["current_leaf"])
    return conversation


def unknown_model(name: str) -> ApiError:
    return ApiError(
        404,
        _("The model '%(name)s' does not exist or you may not use it. List yours with GET /v1/models.")
        % {"name": name[:100]},
        param="model",
        code="model_not_found",
    )


def reply_queue(*, key: ApiKey, conversation: Conversation, request: ChatRequest) -> Message:
    """Send the question through the chat service (quotas, caps, the job); undo the conversation if refused."""
    params: dict[str, Any] = {}
    if request.sampling:
        params["sampling"] = request.sampling
    if request.system:
        params["system"] = request.system
    try:
        _question, reply = services.message_send(
            user=key.owner, conversation=conversation, content=request.question, job_params=params or None
        )
    except services.ChatError as exc:
        conversation.delete()
        raise chat_error(exc) from exc
    return reply


def token_budget(conversation: Conversation) -> int:
    """The reply's token limit when the request sets none: the profile's, else the model's, capped."""
    try:
        model = services.reply_model(conversation)
    except services.ChatError:
        return 0
    sampling = {**model.default_sampling}
    if conversation.profile is not None:
        sampling.update(conversation.profile.default_sampling or {})
    return min(settings.CHAT_MAX_NEW_TOKENS, int(sampling.get("max_new_tokens", settings.CHAT_MAX_NEW_TOKENS)))


def reply_stop(*, conversation: Conversation, reply_id: int, store: bool) -> None:
    """The client went away: stop the reply (and drop the conversation if it was not to be kept)."""
    if not store:
        services.conversation_delete(conversation=conversation)
        return
    with contextlib.suppress(services.ChatError):  # deleted meanwhile from the page
        services.generation_stop(conversation=conversation, message_id=reply_id)


def reply_finish(*, key: ApiKey, conversation: Conversation, reply_id: int, store: bool) -> Message:
    """The finished reply; records the key's usage and, with ``store: false``, removes the conversation."""
    reply = Message.objects.get(pk=reply_id)
    tokens = (reply.prompt_tokens or 0) + (reply.completion_tokens or 0)
    usage_record(key=key, user=key.owner, endpoint="chat.completions", tokens=tokens, stored=store)
    if not store:
        services.conversation_delete(conversation=conversation)
    return reply


@dataclass
class Piece:
    """What the relay hands the view: new text and reasoning, or the end."""

    text: str = ""
    reasoning: str = ""
    done: bool = False


class Subscription:
    """The conversation's websocket group, joined by an HTTP request instead of a socket."""

    def __init__(self, conversation: Conversation) -> None:
        self.group = conversation.group_name
        self.layer = get_channel_layer()
        self.channel = ""

    async def __aenter__(self) -> Subscription:
        from exaone_web import realtime

        realtime.remember_server_loop()  # in-process workers publish through this loop
        assert self.layer is not None
        self.channel = await self.layer.new_channel("api.")
        await self.layer.group_add(self.group, self.channel)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.layer is not None
        with contextlib.suppress(Exception):  # the layer is down: the membership expires on its own
            await asyncio.shield(self.layer.group_discard(self.group, self.channel))

    async def receive(self, timeout: float) -> dict[str, Any] | None:
        assert self.layer is not None
        try:
            return await asyncio.wait_for(self.layer.receive(self.channel), timeout)
        except TimeoutError:
            return None


def _reply_id(payload: dict[str, Any]) -> int | None:
    if "message_id" in payload:
        return payload["message_id"]
    return (payload.get("message") or {}).get("id")


@sync_to_async
def _finished_status(reply_id: int) -> bool:
    return not Message.objects.filter(
        pk=reply_id, status__in=[Message.Status.QUEUED, Message.Status.STREAMING]
    ).exists()


async def reply_events(subscription: Subscription, reply_id: int) -> AsyncIterator[Piece]:
    """The reply's new text as it arrives, without gaps: a missed event is made up from the stream's snapshot.

    Ends with ``Piece(done=True)`` once the reply is finished (the caller reads the final row and sends any
    text the events did not carry), or raises :class:`ApiError` (504) after API_STREAM_IDLE_TIMEOUT_S
    without any news.
    """
    seq = 0
    so_far = ""
    idle_since = time.monotonic()
    while True:
        event = await subscription.receive(RECHECK_S)
        if event is None:
            if await _finished_status(reply_id):
                yield Piece(done=True)
                return
            if time.monotonic() - idle_since > settings.API_STREAM_IDLE_TIMEOUT_S:
                raise ApiError(504, _("The model sent nothing for too long. Try again later."), code="timeout")
            continue
        payload = event.get("payload", {})
        if _reply_id(payload) != reply_id:
            continue
        idle_since = time.monotonic()
        kind = payload.get("type")
        if kind == "message.delta" and payload["seq"] > seq:
            text = payload.get("text", "")
            if payload["seq"] != seq + 1:  # an event was lost: the snapshot has the whole text
                snap = await sync_to_async(reply_snapshot)(reply_id) or {}
                whole = snap.get("content", "")
                text = whole[len(so_far) :] if whole.startswith(so_far) else text
            seq = payload["seq"]
            so_far += text
            yield Piece(text=text, reasoning=payload.get("reasoning", ""))
        elif kind == "message.done":
            yield Piece(done=True)
            return
