"""Writes for chat: create conversations, send messages, stop and run generations."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from catalog.models import ModelEntry
from catalog.selectors import model_default, model_get
from exaone_web import jobs
from inference.errors import InferenceError
from inference.prompting import fit_messages
from inference.registry import ModelSpec, get_engine
from inference.types import ChatMessage, SamplingParams, TextDelta, TextDone, TextRequest

from . import selectors
from .models import Conversation, Message
from .payloads import message_payload
from .publisher import StreamPublisher, publish

log = logging.getLogger(__name__)

DEFAULT_SYSTEM_PROMPT = (
    "You are a careful expert assistant. Answer in the language of the user's last message "
    "(Korean or English). Say so when you are not sure."
)


class ChatError(Exception):
    """A request the user can fix; ``code`` is stable for clients, ``message`` is translated."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def cancel_key(message_id: int) -> str:
    return f"cancel:{message_id}"


def conversation_create(*, user: User, title: str = "", model_name: str = "") -> Conversation:
    model = None
    if model_name:
        model = model_get(kind=ModelEntry.Kind.TEXT, name=model_name)
        if model is None:
            raise ChatError("unknown_model", _("That model is not available. Pick another one."))
    conversation = Conversation(owner=user, title=title.strip()[:200], model=model)
    conversation.full_clean()
    conversation.save()
    return conversation


def conversation_rename(*, conversation: Conversation, title: str) -> Conversation:
    conversation.title = title.strip()[:200]
    conversation.full_clean()
    conversation.save(update_fields=["title", "updated_at"])
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    for message in selectors.message_active_list(conversation=conversation):
        cache.set(cancel_key(message.pk), 1, 3600)
    conversation.delete()


def _validate_content(content: str) -> str:
    if not isinstance(content, str):
        raise ChatError("invalid", _("The message must be text."))
    if len(content) > settings.CHAT_MAX_MESSAGE_CHARS:
        raise ChatError(
            "too_long",
            _("The message has %(count)d characters; the limit is %(limit)d. Shorten it or split it.")
            % {"count": len(content), "limit": settings.CHAT_MAX_MESSAGE_CHARS},
        )
    content = content.strip()
    if not content:
        raise ChatError("empty", _("Type a message first."))
    return content


def message_send(*, user: User, conversation: Conversation, content: str) -> tuple[Message, Message]:
    """Save the user's message and a queued reply, and start generating it once both are committed."""
    content = _validate_content(content)
    if selectors.message_active_count(user=user) >= settings.CHAT_MAX_CONCURRENT_PER_USER:
        raise ChatError("busy", _("You already have replies being written. Wait for one to finish or stop it."))
    model = conversation.model or model_default(kind=ModelEntry.Kind.TEXT)
    if model is None:
        raise ChatError(
            "no_model",
            _("No text model is set up. Ask an administrator to add one (make setup adds demo models)."),
        )
    with transaction.atomic():
        parent = conversation.messages.order_by("-created_at", "-id").first()
        user_message = Message.objects.create(
            conversation=conversation, parent=parent, role=Message.Role.USER, content=content
        )
        reply = Message.objects.create(
            conversation=conversation,
            parent=user_message,
            role=Message.Role.ASSISTANT,
            status=Message.Status.QUEUED,
            model_name=model.display_name,
        )
        if not conversation.title:
            conversation.title = content.splitlines()[0][:80]
        conversation.save(update_fields=["title", "updated_at"])
        transaction.on_commit(lambda: _announce_and_dispatch(conversation, user_message, reply))
    return user_message, reply


def _announce_and_dispatch(conversation: Conversation, user_message: Message, reply: Message) -> None:
    for message in (user_message, reply):
        publish(conversation.group_name, {"type": "message.created", "message": message_payload(message)})
    from .tasks import generate_reply

    try:
        jobs.dispatch(generate_reply, reply.pk, queue="text")
    except jobs.QueueFull:
        _finish(reply, status=Message.Status.FAILED, error=_("The server is busy. Try again in a minute."))
    except Exception:  # broker down: say so instead of leaving a spinner
        log.exception("Could not dispatch message %s", reply.pk)
        _finish(reply, status=Message.Status.FAILED, error=_("The job queue is unreachable. Try again later."))


def generation_stop(*, conversation: Conversation, message_id: int) -> None:
    """Ask the worker to stop after the current token; a reply still queued stops at once."""
    message = conversation.messages.filter(pk=message_id, role=Message.Role.ASSISTANT).first()
    if message is None:
        raise ChatError("not_found", _("That message does not exist."))
    cache.set(cancel_key(message.pk), 1, 3600)
    stopped_early = Message.objects.filter(pk=message.pk, status=Message.Status.QUEUED).update(
        status=Message.Status.STOPPED, finished_at=timezone.now()
    )
    if stopped_early:
        message.refresh_from_db()
        _publish_done(message)


def _finish(message: Message, *, status: str, error: str = "") -> None:
    message.status = status
    message.error = error
    message.finished_at = timezone.now()
    message.save(update_fields=["status", "error", "finished_at"])
    _publish_done(message)


def _publish_done(message: Message) -> None:
    """Announce a reply that ended without streaming (stopped while queued, or never dispatched)."""
    publish(
        message.conversation.group_name,
        {
            "type": "message.done",
            "message_id": message.pk,
            "conversation_id": message.conversation_id,
            "seq": 1,
            "message": message_payload(message),
        },
    )


def _claim(message_id: int) -> Message | None:
    """Move a queued reply to streaming; None if it is gone or already taken (so a job runs once)."""
    with transaction.atomic():
        # No joins here: PostgreSQL cannot lock the nullable side of an outer join.
        message = Message.objects.select_for_update().filter(pk=message_id, role=Message.Role.ASSISTANT).first()
        if message is None or message.status != Message.Status.QUEUED:
            return None
        message.status = Message.Status.STREAMING
        message.save(update_fields=["status"])
    return message


def _history(message: Message) -> list[ChatMessage]:
    turns = [ChatMessage("system", DEFAULT_SYSTEM_PROMPT)]
    for item in selectors.branch(leaf=message.parent):
        if item.role == Message.Role.USER or item.content:
            turns.append(ChatMessage(item.role, item.content))
    return turns


def reply_generate(*, message_id: int) -> None:
    """Generate one reply (runs in a worker): stream it to the group and save it."""
    message = _claim(message_id)
    if message is None:
        return
    conversation = message.conversation
    publisher = StreamPublisher(group=conversation.group_name, message_id=message.pk, conversation_id=conversation.pk)
    entry = conversation.model or model_default(kind=ModelEntry.Kind.TEXT)
    publisher.started(model=entry.display_name if entry else "")
    with publisher.heartbeat():
        try:
            if entry is None:
                raise ChatError("no_model", _("No text model is set up. Ask an administrator to add one."))
            done = _generate(message, entry, publisher)
            message.content = done.text
            message.reasoning = done.reasoning
            message.status = Message.Status.STOPPED if done.finish_reason == "cancelled" else Message.Status.DONE
            message.model_name = done.model or entry.display_name
            message.prompt_tokens = done.usage.prompt_tokens
            message.completion_tokens = done.usage.completion_tokens
            message.ttft_ms = done.timings.ttft_ms
            message.total_ms = done.timings.total_ms
            message.tokens_per_s = done.timings.tokens_per_s(done.usage.completion_tokens)
            if message.status == Message.Status.DONE and not (done.text.strip() or done.reasoning.strip()):
                message.error = _("The model returned no text. Send the message again or choose another model.")
        except (ChatError, InferenceError) as exc:
            message.content = publisher.text_so_far
            message.status = Message.Status.FAILED
            message.error = getattr(exc, "message", None) or str(exc)
        except Exception:
            log.exception("Generation failed for message %s", message_id)
            message.content = publisher.text_so_far
            message.status = Message.Status.FAILED
            message.error = _(
                "The model failed while writing this reply. Try again; if it keeps failing, tell an administrator."
            )
    message.finished_at = timezone.now()
    message.save()
    cache.delete(cancel_key(message_id))
    publisher.finished(message=message_payload(message))


def _generate(message: Message, entry: ModelEntry, publisher: StreamPublisher) -> TextDone:
    spec = ModelSpec.from_dict(entry.to_spec())
    engine = get_engine(spec)
    sampling = SamplingParams.from_dict(
        {
            **spec.default_sampling,
            "max_new_tokens": min(
                settings.CHAT_MAX_NEW_TOKENS,
                spec.default_sampling.get("max_new_tokens", settings.CHAT_MAX_NEW_TOKENS),
            ),
        }
    )
    messages, _prompt_tokens = fit_messages(
        _history(message),
        count_tokens=engine.count_tokens,
        context_length=engine.context_length,
        max_new_tokens=sampling.max_new_tokens,
    )
    key = cancel_key(message.pk)
    request = TextRequest(messages=tuple(messages), sampling=sampling, cancel=lambda: cache.get(key) is not None)
    done = None
    for event in engine.stream(request):
        if isinstance(event, TextDelta):
            publisher.add(text=event.text, reasoning=event.reasoning)
        else:
            done = event
    if done is None:
        raise InferenceError("The engine ended without a final result.")
    return done


def message_reap_stale(*, conversation: Conversation) -> int:
    """Fail replies whose worker died mid-stream, so no spinner spins forever.

    A streaming reply publishes a snapshot at least every flush interval; one whose snapshot has not moved
    for CHAT_STALE_SECONDS lost its worker (killed, out of memory, machine gone). Queued replies are left
    alone: their job is still in the broker and will run.
    """
    from .publisher import snapshot_get

    now = timezone.now().timestamp()
    reaped = 0
    streaming = selectors.message_active_list(conversation=conversation).filter(status=Message.Status.STREAMING)
    for message in streaming:
        snap = snapshot_get(message.pk)
        if snap is not None and now - snap["at"] < settings.CHAT_STALE_SECONDS:
            continue
        reaped += Message.objects.filter(pk=message.pk, status=Message.Status.STREAMING).update(
            status=Message.Status.FAILED,
            content=snap["content"] if snap else message.content,
            error=_("The worker stopped while writing this reply. Send the message again."),
            finished_at=timezone.now(),
        )
    return reaped
