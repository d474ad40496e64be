"""Writes for chat, on the request side: conversations, messages, branches, stop; replies are queued as jobs.

The worker side (claiming a reply, building its prompt, streaming it) is :mod:`assistant.generation`.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from catalog.models import ModelEntry
from catalog.selectors import model_default, model_get
from exaone_web.jobs.services import QueueFull, job_cancel, job_submit

from . import profiles, selectors
from .language import detect_language
from .models import Attachment, Conversation, Message, MessageFeedback
from .payloads import conversation_payload, message_payload
from .publisher import publish

log = logging.getLogger(__name__)


class ChatError(Exception):
    """A request the user can fix; ``code`` is stable for clients, ``message`` is translated."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def conversation_create(
    *, user: User, title: str = "", model_name: str = "", profile_slug: str = "", enable_thinking: bool = False
) -> Conversation:
    model = _text_model(model_name) if model_name else None
    profile = None
    if profile_slug:
        profile = profiles.profile_get(user=user, slug=profile_slug)
        if profile is None:
            raise ChatError("profile_forbidden", _("You may not use that expert profile. Pick another one."))
    conversation = Conversation(
        owner=user, title=title.strip()[:200], model=model, profile=profile, enable_thinking=enable_thinking
    )
    conversation.full_clean()
    conversation.save()
    return conversation


def _text_model(name: str) -> ModelEntry:
    model = model_get(kind=ModelEntry.Kind.TEXT, name=name)
    if model is None:
        raise ChatError("unknown_model", _("That model is not available. Pick another one."))
    return model


def conversation_update(
    *,
    user: User,
    conversation: Conversation,
    title: str | None = None,
    pinned: bool | None = None,
    enable_thinking: bool | None = None,
    model_name: str | None = None,
    profile_slug: str | None = None,
) -> Conversation:
    """Change what the user may change about a conversation; only the given fields move."""
    if title is not None:
        conversation.title = title.strip()[:200]
    if pinned is not None:
        conversation.pinned = pinned
    if enable_thinking is not None:
        conversation.enable_thinking = enable_thinking
    if model_name is not None:
        conversation.model = _text_model(model_name) if model_name else None
    if profile_slug is not None:
        profile = profiles.profile_get(user=user, slug=profile_slug) if profile_slug else None
        if profile_slug and profile is None:
            raise ChatError("profile_forbidden", _("You may not use that expert profile. Pick another one."))
        conversation.profile = profile
    conversation.full_clean()
    conversation.save()
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    for message in selectors.message_active_list(conversation=conversation).select_related("job"):
        if message.job is not None:
            job_cancel(job=message.job)
    conversation.delete()


def _validate_content(content: object) -> str:
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


def _check_can_generate(*, user: User, conversation: Conversation) -> None:
    """Call inside the transaction that queues the reply: the user's row lock makes the cap hold under races."""
    User.objects.select_for_update().filter(pk=user.pk).first()
    if selectors.message_active_list(conversation=conversation).exists():
        raise ChatError("busy", _("A reply is still being written here. Wait for it to finish or stop it."))
    if selectors.message_active_count(user=user) >= settings.CHAT_MAX_CONCURRENT_PER_USER:
        raise ChatError("busy", _("You already have replies being written. Wait for one to finish or stop it."))
    quota = user.daily_token_quota
    if quota and selectors.tokens_used_today(user=user) >= quota:
        raise ChatError(
            "quota",
            _(
                "You have used today's token quota (%(quota)d tokens). It renews at midnight UTC; "
                "ask an administrator if you need more."
            )
            % {"quota": quota},
        )
    if conversation.profile is not None and not profiles.profile_allowed(user=user, profile=conversation.profile):
        raise ChatError("profile_forbidden", _("You may not use that expert profile. Pick another one."))


def reply_model(conversation: Conversation) -> ModelEntry:
    """The model that answers in ``conversation``: its own, its profile's, or the default."""
    model = (
        conversation.model
        or (conversation.profile.model if conversation.profile is not None else None)
        or model_default(kind=ModelEntry.Kind.TEXT)
    )
    if model is None or not model.enabled:
        raise ChatError(
            "no_model", _("No text model is set up. Ask an administrator to add one (make setup adds demo models).")
        )
    return model


def _new_reply(*, conversation: Conversation, parent: Message, language: str) -> Message:
    model = reply_model(conversation)
    profile = conversation.profile
    version = profiles.profile_current_version(profile=profile) if profile is not None else None
    return Message.objects.create(
        conversation=conversation,
        parent=parent,
        role=Message.Role.ASSISTANT,
        status=Message.Status.QUEUED,
        model_name=model.display_name,
        profile_version=version,
        language=language,
    )


def _announce_and_queue(
    *, user: User, conversation: Conversation, messages: list[Message], job_params: dict | None = None
) -> None:
    """Tell open pages about ``messages`` and queue the reply (the last one), both once the transaction commits.

    Call inside the transaction. The announcement is registered first, so the page learns of the reply before
    its worker can send anything about it. A full queue raises ``busy`` and the transaction stores nothing.
    """

    def announce() -> None:
        for message in messages:
            publish(conversation, {"type": "message.created", "message": message_payload(message)})

    transaction.on_commit(announce)
    reply = messages[-1]
    try:
        reply.job = job_submit(kind="chat.reply", owner=user, subject_id=reply.pk, params=job_params)
    except QueueFull as exc:
        raise ChatError("busy", exc.message) from exc
    reply.save(update_fields=["job"])


def _reply_language(conversation: Conversation, content: str) -> str:
    fixed = conversation.profile.reply_language if conversation.profile is not None else ""
    return fixed or detect_language(content)


def message_send(
    *,
    user: User,
    conversation: Conversation,
    content: object,
    edit_of: int | None = None,
    attachment_ids: list[int] | tuple[int, ...] = (),
    job_params: dict | None = None,
) -> tuple[Message, Message]:
    """Save the user's message and a queued reply, and start generating it once both are committed.

    ``edit_of`` names a user message to edit: the new message becomes its sibling (a new branch) and the
    old branch stays reachable. ``job_params`` (the OpenAI-compatible API) may carry per-request
    ``sampling`` settings and a ``system`` instruction for this reply only.
    """
    content = _validate_content(content)
    attachment_ids = list(dict.fromkeys(attachment_ids))
    if len(attachment_ids) > settings.CHAT_MAX_ATTACHMENTS:
        raise ChatError(
            "too_many_attachments",
            _("Attach at most %(limit)d files to one message.") % {"limit": settings.CHAT_MAX_ATTACHMENTS},
        )
    with transaction.atomic():
        _check_can_generate(user=user, conversation=conversation)
        if edit_of is not None:
            edited = conversation.messages.filter(pk=edit_of, role=Message.Role.USER).first()
            if edited is None:
                raise ChatError("not_found", _("That message does not exist."))
            parent = edited.parent
        else:
            parent = conversation.current_leaf or conversation.messages.order_by("-created_at", "-id").first()
        attachments = list(
            Attachment.objects.select_for_update().filter(
                pk__in=attachment_ids, owner=user, conversation=conversation, message__isnull=True
            )
        )
        if len(attachments) != len(attachment_ids):
            raise ChatError("attachment_not_found", _("An attachment is missing or already used. Attach it again."))
        user_message = Message.objects.create(
            conversation=conversation, parent=parent, role=Message.Role.USER, content=content
        )
        for attachment in attachments:
            attachment.message = user_message
            attachment.save(update_fields=["message"])
        reply = _new_reply(
            conversation=conversation, parent=user_message, language=_reply_language(conversation, content)
        )
        conversation.current_leaf = reply
        titled = not conversation.title
        if titled:
            conversation.title = content.splitlines()[0][:80]
        conversation.save(update_fields=["title", "current_leaf", "updated_at"])
        if titled:
            transaction.on_commit(
                lambda: publish(
                    conversation, {"type": "conversation.updated", "conversation": conversation_payload(conversation)}
                )
            )
        _announce_and_queue(user=user, conversation=conversation, messages=[user_message, reply], job_params=job_params)
    return user_message, reply


def reply_regenerate(*, user: User, conversation: Conversation, message_id: int) -> Message:
    """Write a new answer to the same question, as a sibling of ``message_id``."""
    old = conversation.messages.filter(pk=message_id, role=Message.Role.ASSISTANT).select_related("parent").first()
    if old is None or old.parent is None:
        raise ChatError("not_found", _("That message does not exist."))
    with transaction.atomic():
        _check_can_generate(user=user, conversation=conversation)
        reply = _new_reply(
            conversation=conversation, parent=old.parent, language=_reply_language(conversation, old.parent.content)
        )
        conversation.current_leaf = reply
        conversation.save(update_fields=["current_leaf", "updated_at"])
        _announce_and_queue(user=user, conversation=conversation, messages=[reply])
    return reply


def reply_continue(*, user: User, conversation: Conversation, message_id: int) -> Message:
    """Resume a stopped (or cut-off) answer where it ended."""
    reply = conversation.messages.filter(pk=message_id, role=Message.Role.ASSISTANT).first()
    if reply is None:
        raise ChatError("not_found", _("That message does not exist."))
    if reply.status not in (Message.Status.STOPPED, Message.Status.DONE) or not reply.content:
        raise ChatError("cannot_continue", _("Only a stopped answer with some text can be continued."))
    with transaction.atomic():
        _check_can_generate(user=user, conversation=conversation)
        Message.objects.filter(pk=reply.pk).update(status=Message.Status.QUEUED, error="", finished_at=None)
        reply.refresh_from_db()
        conversation.current_leaf = reply
        conversation.save(update_fields=["current_leaf", "updated_at"])
        _announce_and_queue(user=user, conversation=conversation, messages=[reply])
    return reply


def title_submit(*, conversation: Conversation) -> None:
    """Queue a model-written title (housekeeping: it waits for idle slots and yields to answers)."""
    try:
        job_submit(kind="chat.title", owner=conversation.owner, subject_id=conversation.pk)
    except QueueFull:
        log.info("No title for conversation %s: the queue is full", conversation.pk)


def branch_select(*, conversation: Conversation, message_id: int) -> Message:
    """Show the branch through ``message_id``: follow its newest descendants down to a leaf."""
    by_parent: dict[int | None, list[Message]] = {}
    messages = {m.pk: m for m in conversation.messages.all()}
    if message_id not in messages:
        raise ChatError("not_found", _("That message does not exist."))
    for message in messages.values():
        by_parent.setdefault(message.parent_id, []).append(message)
    leaf = messages[message_id]
    while by_parent.get(leaf.pk):
        leaf = max(by_parent[leaf.pk], key=lambda m: (m.created_at, m.pk))
    conversation.current_leaf = leaf
    conversation.save(update_fields=["current_leaf"])
    return leaf


def feedback_save(*, user: User, conversation: Conversation, message_id: int, rating: int, comment: str = ""):
    message = (
        conversation.messages.filter(pk=message_id, role=Message.Role.ASSISTANT)
        .select_related("profile_version__profile")
        .first()
    )
    if message is None:
        raise ChatError("not_found", _("That message does not exist."))
    if rating not in (1, -1):
        raise ChatError("invalid", _("Rate with 1 (helpful) or -1 (not helpful)."))
    version = message.profile_version
    feedback, _created = MessageFeedback.objects.update_or_create(
        message=message,
        defaults={
            "user": user,
            "rating": rating,
            "comment": comment.strip()[:2000],
            "model_name": message.model_name,
            "profile_name": version.profile.name_en if version else "",
            "profile_version": version.version if version else None,
        },
    )
    return feedback


def generation_stop(*, conversation: Conversation, message_id: int) -> None:
    """Stop a reply: one still queued stops at once, one being written after its current token."""
    message = conversation.messages.filter(pk=message_id, role=Message.Role.ASSISTANT).select_related("job").first()
    if message is None:
        raise ChatError("not_found", _("That message does not exist."))
    if message.job is not None:
        job_cancel(job=message.job)
    stopped_early = Message.objects.filter(pk=message.pk, status=Message.Status.QUEUED).update(
        status=Message.Status.STOPPED, finished_at=timezone.now()
    )
    if stopped_early:
        message.refresh_from_db()
        publish(
            conversation,
            {
                "type": "message.done",
                "message_id": message.pk,
                "conversation_id": message.conversation_id,
                "seq": 1,
                "message": message_payload(message),
            },
        )
