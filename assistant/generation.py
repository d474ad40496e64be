"""Write replies and titles in a worker: the chat's job kinds on the shared job layer.

``chat.reply`` claims a queued reply, builds its prompt (:mod:`assistant.prompting`), streams it from the text
engine through :class:`assistant.publisher.ReplyStream` and saves it. ``chat.title`` asks the model for a short
title after the first answer; it is housekeeping, so it never holds back an answer.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from catalog.models import ModelEntry
from exaone_web.jobs import kinds
from exaone_web.jobs.models import Job
from exaone_web.jobs.runner import JobContext, JobFailed
from inference.errors import InferenceError
from inference.prompting import fit_messages
from inference.registry import get_engine
from inference.types import ChatMessage, ModelSpec, SamplingParams, TextDelta, TextDone, TextRequest, Timings, Usage

from . import grounding, prompting, services
from .language import detect_language
from .models import Conversation, Message
from .payloads import conversation_payload, message_payload, rendered_html
from .publisher import ReplyStream, publish, reply_snapshot

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------- replies


def reply_run(job: Job, context: JobContext) -> None:
    """Generate one reply: stream it to the conversation's sockets and save it."""
    message = _claim(job.subject_id)
    if message is None:
        return  # stopped while queued, deleted, or already taken
    conversation = message.conversation
    continuing = bool(message.content)
    prefix_tokens = message.completion_tokens or 0
    stream = ReplyStream(message)
    try:
        entry = services.reply_model(conversation)
    except services.ChatError as exc:
        stream.started(model="")
        raise JobFailed(exc.message) from exc
    stream.started(model=entry.display_name)
    try:
        evidence = None if continuing else _ground(message)
        done = _generate(
            message,
            entry,
            stream,
            cancelled=context.cancelled,
            continuing=continuing,
            evidence=evidence,
            request=job.params or {},
        )
    except services.ChatError as exc:
        _keep_partial(message, stream)
        raise JobFailed(exc.message) from exc
    except Exception:
        _keep_partial(message, stream)
        raise
    if context.interrupted:  # the worker is shutting down: fail cleanly, keeping the text so far
        _keep_partial(message, stream)
        raise JobFailed(context.interrupted)
    message.content += done.text
    message.reasoning = (message.reasoning + done.reasoning) if continuing else done.reasoning
    message.status = Message.Status.STOPPED if done.finish_reason == "cancelled" else Message.Status.DONE
    message.model_name = done.model or entry.display_name
    message.prompt_tokens = done.usage.prompt_tokens
    message.completion_tokens = prefix_tokens + done.usage.completion_tokens
    message.ttft_ms = done.timings.ttft_ms
    message.total_ms = done.timings.total_ms
    message.tokens_per_s = done.timings.tokens_per_s(done.usage.completion_tokens)
    if message.status == Message.Status.DONE and not (message.content.strip() or message.reasoning.strip()):
        message.error = _("The model returned no text. Send the message again or choose another model.")
    message.content_html = rendered_html(message.content, language=message.language)
    message.finished_at = timezone.now()
    fields = [
        "content",
        "content_html",
        "reasoning",
        "status",
        "model_name",
        "prompt_tokens",
        "completion_tokens",
        "ttft_ms",
        "total_ms",
        "tokens_per_s",
        "error",
        "finished_at",
    ]
    # Conditional: the sweep may have failed this reply meanwhile (a stalled worker); its verdict stands.
    saved = Message.objects.filter(pk=message.pk, status=Message.Status.STREAMING).update(
        **{name: getattr(message, name) for name in fields}
    )
    if not saved:
        return
    stream.finished(message=message_payload(message))
    if (
        message.status == Message.Status.DONE
        and not continuing
        and _is_first_reply(message)
        and _automatic_title(conversation) is not None
    ):
        services.title_submit(conversation=conversation)


def reply_failed(job: Job, error: str) -> None:
    """The reply's job ended without it: keep the text written so far, say why, offer Retry."""
    if job.subject_id is None:
        return
    message = Message.objects.filter(pk=job.subject_id).select_related("conversation").first()
    if message is None:
        return
    snap = reply_snapshot(message.pk)
    content = snap["content"] if snap and len(snap["content"]) > len(message.content) else message.content
    updated = Message.objects.filter(
        pk=message.pk, status__in=[Message.Status.QUEUED, Message.Status.STREAMING]
    ).update(
        status=Message.Status.FAILED,
        content=content,
        content_html=rendered_html(content, language=message.language),
        error=error,
        finished_at=timezone.now(),
    )
    if updated:
        message.refresh_from_db()
        publish(
            message.conversation,
            {
                "type": "message.done",
                "conversation_id": message.conversation_id,
                "message_id": message.pk,
                "seq": (snap["seq"] if snap else 0) + 1,
                "message": message_payload(message),
            },
        )


def _claim(message_id: int | None) -> Message | None:
    """Move a queued reply to streaming; None if it is gone or no longer queued."""
    if message_id is None:
        return None
    taken = Message.objects.filter(pk=message_id, role=Message.Role.ASSISTANT, status=Message.Status.QUEUED).update(
        status=Message.Status.STREAMING
    )
    if not taken:
        return None
    return Message.objects.select_related("conversation", "profile_version").get(pk=message_id)


def _ground(message: Message) -> grounding.Evidence | None:
    """Passages from the documents this reply may use, stored on the message for its citations."""
    evidence = grounding.evidence_for(message)
    if evidence is not None:
        message.evidence = evidence.sources
        Message.objects.filter(pk=message.pk).update(evidence=evidence.sources)
    return evidence


def _keep_partial(message: Message, stream: ReplyStream) -> None:
    Message.objects.filter(pk=message.pk, status=Message.Status.STREAMING).update(content=stream.content)


def _automatic_title(conversation: Conversation) -> Message | None:
    """The first question while the title is still its first line; None once someone named the conversation."""
    first = conversation.messages.filter(role=Message.Role.USER).order_by("created_at", "id").first()
    if first is None or conversation.title != (first.content.splitlines() or [""])[0][:80]:
        return None
    return first


def _is_first_reply(message: Message) -> bool:
    return not message.conversation.messages.filter(role=Message.Role.ASSISTANT).exclude(pk=message.pk).exists()


def _sampling(spec: ModelSpec, profile_sampling: dict, request_sampling: dict | None = None) -> SamplingParams:
    """The model's defaults, then the profile's, then the request's own (API callers); capped by the setting."""
    merged = {**spec.default_sampling, **profile_sampling, **(request_sampling or {})}
    merged["max_new_tokens"] = min(
        settings.CHAT_MAX_NEW_TOKENS, int(merged.get("max_new_tokens", settings.CHAT_MAX_NEW_TOKENS))
    )
    return SamplingParams.from_dict(merged)


def _generate(
    message: Message,
    entry: ModelEntry,
    stream: ReplyStream,
    *,
    cancelled,
    continuing: bool,
    request: dict,
    evidence: grounding.Evidence | None = None,
) -> TextDone:
    if evidence is not None and evidence.uncovered_reply:
        # Nothing in the documents passed the relevance floor: say so instead of letting the model invent.
        stream.add(text=evidence.uncovered_reply, reasoning="")
        return TextDone(evidence.uncovered_reply, "", "stop", Usage(), Timings(), model=entry.display_name)
    spec = ModelSpec.from_dict(entry.to_spec())
    engine = get_engine(spec)
    version = message.profile_version
    try:
        sampling = _sampling(
            spec, version.snapshot.get("default_sampling", {}) if version else {}, request.get("sampling")
        )
    except InferenceError as exc:
        raise services.ChatError("invalid", str(exc)) from exc
    messages, _prompt_tokens = fit_messages(
        prompting.reply_messages(
            message, continuing=continuing, evidence=evidence, instruction=request.get("system", "")
        ),
        count_tokens=engine.count_tokens,
        context_length=engine.context_length,
        max_new_tokens=sampling.max_new_tokens,
    )
    text_request = TextRequest(
        messages=tuple(messages),
        sampling=sampling,
        enable_thinking=message.conversation.enable_thinking,
        cancel=cancelled,
    )
    done = None
    for event in engine.stream(text_request):
        if isinstance(event, TextDelta):
            stream.add(text=event.text, reasoning=event.reasoning)
        else:
            done = event
    if done is None:
        raise InferenceError("The engine ended without a final result.")
    return done


# --------------------------------------------------------------------------------------------- titles


def title_run(job: Job, context: JobContext) -> None:
    """Ask the model for a short title in the user's language; keep the first line if anything is off."""
    if job.subject_id is None:
        return
    conversation = Conversation.objects.filter(pk=job.subject_id).select_related("model", "profile").first()
    if conversation is None:
        return
    first = _automatic_title(conversation)
    if first is None:
        return  # the user renamed it meanwhile
    language = detect_language(first.content)
    instruction = (
        "Write a title of at most six words for a conversation that starts with the message below. "
        f"Write it in {'Korean' if language == 'ko' else 'English'}. Reply with the title only.\n\n"
        f"Message: {first.content[:500]}"
    )
    try:
        entry = services.reply_model(conversation)
        engine = get_engine(ModelSpec.from_dict(entry.to_spec()))
        request = TextRequest(
            messages=(ChatMessage("user", instruction),),
            sampling=SamplingParams(temperature=0.3, max_new_tokens=24, seed=0),
            cancel=context.cancelled,
        )
        done = next(e for e in engine.stream(request) if isinstance(e, TextDone))
    except (services.ChatError, InferenceError, StopIteration):
        log.info("No title for conversation %s", conversation.pk, exc_info=True)
        return
    if done.finish_reason == "cancelled":
        return  # preempted by an answer: the first line stays the title
    title = clean_title(done.text)
    # Small base models often repeat the instruction back; a title must not come from our own words.
    if not title or (title.lower() in instruction.lower() and title.lower() not in first.content.lower()):
        return
    updated = Conversation.objects.filter(pk=conversation.pk, title=conversation.title).update(title=title)
    if updated:
        conversation.refresh_from_db()
        publish(conversation, {"type": "conversation.updated", "conversation": conversation_payload(conversation)})


def title_failed(job: Job, error: str) -> None:
    """A title is a nicety: the conversation keeps its first line."""


def clean_title(text: str) -> str:
    """The first non-empty line, without quotes, markdown marks or a "Title:" label, at most 80 characters."""
    for line in text.splitlines():
        line = line.strip().strip("#*_`\"'“”‘’「」 ").strip()
        for label in ("title:", "제목:"):
            if line.lower().startswith(label):
                line = line[len(label) :].strip()
        if line:
            return line[:80]
    return ""


REPLY = kinds.register(kinds.JobKind(name="chat.reply", queue="text", run=reply_run, failed=reply_failed))
TITLE = kinds.register(
    kinds.JobKind(name="chat.title", queue="text", run=title_run, failed=title_failed, housekeeping=True)
)
