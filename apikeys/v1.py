"""The OpenAI-compatible endpoints under ``/v1/``: validate, authenticate, call the chat's services, relay.

Only ``Authorization: Bearer <key>`` authenticates here (no session, so no CSRF); every error is in OpenAI's
shape. Streaming answers are server-sent events from an async view: the request subscribes to the same events
the chat page's socket gets, and a client that goes away stops the reply.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import struct
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from assistant import profiles
from assistant.models import Conversation, Message
from catalog.models import ModelEntry
from catalog.selectors import model_list

from . import chat, limits, metrics, providers
from .compat import (
    ApiError,
    ChatRequest,
    parse_chat_request,
    parse_embeddings_request,
    parse_images_request,
    parse_json,
    split_at_stop,
)
from .models import ApiKey
from .services import KeyRefused, key_authenticate, key_require_scope, usage_record

log = logging.getLogger(__name__)


def authenticate(request: HttpRequest, scope: str | None) -> ApiKey:
    """The request's key, checked for ``scope`` and counted against the per-minute limits."""
    try:
        key = key_authenticate(authorization=request.headers.get("Authorization", ""))
        if scope is not None:
            key_require_scope(key=key, scope=scope)
    except KeyRefused as exc:
        raise ApiError(exc.status, exc.message, code=exc.code) from exc
    try:
        limits.request_allow(key=key)
    except limits.LimitReached as exc:
        raise ApiError(429, exc.message, code=exc.code, retry_after=exc.retry_after) from exc
    return key


def _openai_errors(view: Callable) -> Callable:
    """Answer :class:`ApiError` in OpenAI's shape, and anything unexpected as a 500 that leaks nothing."""

    async def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return await view(request, *args, **kwargs)
        except ApiError as exc:
            metrics.api_request(endpoint=view.__name__, status=exc.status)
            return exc.response()
        except limits.LimitReached as exc:
            metrics.api_request(endpoint=view.__name__, status=429)
            return ApiError(429, exc.message, code=exc.code, retry_after=exc.retry_after).response()
        except Exception:
            log.exception("Unexpected error in %s", view.__name__)
            metrics.api_request(endpoint=view.__name__, status=500)
            return ApiError(
                500, _("The server failed to answer. Try again; tell an administrator if it persists.")
            ).response()

    wrapped.__name__ = view.__name__
    return csrf_exempt(wrapped)


def _model_entry(entry: ModelEntry) -> dict[str, Any]:
    return {"id": entry.name, "object": "model", "created": int(entry.created_at.timestamp()), "owned_by": "exaone-web"}


def _profile_entry(profile) -> dict[str, Any]:
    return {
        "id": chat.PROFILE_PREFIX + profile.slug,
        "object": "model",
        "created": int(profile.created_at.timestamp()),
        "owned_by": "exaone-web",
    }


@sync_to_async
def _models_for(request: HttpRequest) -> list[dict[str, Any]]:
    key = authenticate(request, None)
    entries = [_model_entry(m) for m in model_list(kind=ModelEntry.Kind.TEXT).order_by("name")]
    entries += [_profile_entry(p) for p in profiles.profile_list(user=key.owner).order_by("slug")]
    image_provider, embedding_provider = providers.images(), providers.embeddings()
    if image_provider is not None:
        entries += [_model_entry(m) for m in model_list(kind=ModelEntry.Kind.IMAGE).order_by("name")]
    if embedding_provider is not None:
        names = embedding_provider.models(key.owner)[:1]  # the first is the model's full name
        entries += [{"id": name, "object": "model", "created": 0, "owned_by": "exaone-web"} for name in names]
    return entries


@_openai_errors
async def models(request: HttpRequest) -> HttpResponse:
    """GET /v1/models: the text models and expert profiles this key's owner may chat with, the image models and
    the embedding model."""
    if request.method != "GET":
        raise ApiError(405, _("Use GET for this endpoint."))
    entries = await _models_for(request)
    metrics.api_request(endpoint="models", status=200)
    return JsonResponse({"object": "list", "data": entries})


@_openai_errors
async def model_detail(request: HttpRequest, model: str) -> HttpResponse:
    if request.method != "GET":
        raise ApiError(405, _("Use GET for this endpoint."))
    for entry in await _models_for(request):
        if entry["id"] == model:
            return JsonResponse(entry)
    raise chat.unknown_model(model)


@sync_to_async
def _open(request: HttpRequest) -> tuple[ApiKey, ChatRequest, Conversation]:
    key = authenticate(request, "chat")
    parsed = parse_chat_request(
        parse_json(request.body), max_messages=settings.API_MAX_MESSAGES, max_tokens=settings.CHAT_MAX_NEW_TOKENS
    )
    return key, parsed, chat.conversation_open(key=key, request=parsed)


@_openai_errors
async def chat_completions(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """POST /v1/chat/completions, streaming (server-sent events) or not."""
    if request.method != "POST":
        raise ApiError(405, _("Use POST for this endpoint."))
    key, parsed, conversation = await _open(request)
    relay = Relay(key=key, request=parsed, conversation=conversation)
    if parsed.stream:
        await relay.start()
        response = StreamingHttpResponse(relay.sse(), content_type="text/event-stream")
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
        return response
    return JsonResponse(await relay.complete())


class Relay:
    """One reply from queueing to its last event, as chunks or as one completion."""

    def __init__(self, *, key: ApiKey, request: ChatRequest, conversation: Conversation) -> None:
        self.key = key
        self.request = request
        self.conversation = conversation
        self.subscription = chat.Subscription(conversation)
        self.reply: Message | None = None
        self.created = int(time.time())
        self.started = time.perf_counter()
        self.first_token: float | None = None
        self.shown = ""  # visible text sent so far (stop sequences cut it)
        self.raw = ""  # visible text received so far
        self.stopped_by_sequence = False
        self.token_budget = 0

    @property
    def completion_id(self) -> str:
        return f"chatcmpl-{self.reply.pk if self.reply else 0}"

    async def start(self) -> None:
        """Join the conversation's group, then queue the reply: no event can come before we listen."""
        self.token_budget = await sync_to_async(chat.token_budget)(self.conversation)
        await self.subscription.__aenter__()
        try:
            self.reply = await sync_to_async(chat.reply_queue)(
                key=self.key, conversation=self.conversation, request=self.request
            )
        except BaseException:
            await self.subscription.__aexit__()
            raise

    async def pieces(self) -> AsyncIterator[tuple[str, str]]:
        """(text, reasoning) to show, with stop sequences applied; stops the reply at one."""
        assert self.reply is not None
        async for piece in chat.reply_events(self.subscription, self.reply.pk):
            if piece.done:
                return
            if self.first_token is None and (piece.text or piece.reasoning):
                self.first_token = time.perf_counter()
            text = self._visible(piece.text)
            if text or piece.reasoning:
                yield text, piece.reasoning
            if self.stopped_by_sequence:
                await sync_to_async(chat.reply_stop)(conversation=self.conversation, reply_id=self.reply.pk, store=True)
                return

    def _visible(self, text: str) -> str:
        if self.stopped_by_sequence:
            return ""
        self.raw += text
        if not self.request.stop:
            self.shown = self.raw
            return text
        upto, hit = split_at_stop(self.raw, self.request.stop)
        self.stopped_by_sequence = hit
        new = self.raw[len(self.shown) : upto] if upto > len(self.shown) else ""
        self.shown += new
        return new

    async def finish(self) -> Message:
        assert self.reply is not None
        reply = await sync_to_async(chat.reply_finish)(
            key=self.key, conversation=self.conversation, reply_id=self.reply.pk, store=self.request.store
        )
        metrics.chat_finished(
            status=reply.status,
            ttft_s=(self.first_token - self.started) if self.first_token else None,
            completion_tokens=reply.completion_tokens or 0,
            seconds=time.perf_counter() - self.started,
        )
        return reply

    def finish_reason(self, reply: Message) -> str:
        """ "length" when the reply used its whole token budget (the engine's own reason is not stored)."""
        if self.stopped_by_sequence:
            return "stop"
        limit = self.request.sampling.get("max_new_tokens") or self.token_budget
        if reply.status == Message.Status.DONE and limit and (reply.completion_tokens or 0) >= limit:
            return "length"
        return "stop"

    def tail(self, reply: Message) -> str:
        """Text the events did not carry (lost at the very end): the saved answer is the truth."""
        if self.stopped_by_sequence or not reply.content.startswith(self.raw):
            return ""
        return self._visible(reply.content[len(self.raw) :])

    def usage(self, reply: Message) -> dict[str, int]:
        prompt, completion = reply.prompt_tokens or 0, reply.completion_tokens or 0
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}

    def _failure(self, reply: Message) -> ApiError | None:
        if reply.status == Message.Status.FAILED:
            return ApiError(500, reply.error or _("The reply failed. Try again."), code="generation_failed")
        return None

    async def _abandon(self) -> None:
        if self.reply is not None:
            await asyncio.shield(
                sync_to_async(chat.reply_stop)(
                    conversation=self.conversation, reply_id=self.reply.pk, store=self.request.store
                )
            )
            metrics.chat_finished(status="abandoned", ttft_s=None, completion_tokens=0, seconds=0)

    # ------------------------------------------------------------------ non-streaming

    async def complete(self) -> dict[str, Any]:
        await self.start()
        reasoning: list[str] = []
        try:
            async for _text, thought in self.pieces():
                reasoning.append(thought)
            reply = await self.finish()
        except asyncio.CancelledError:  # the client went away
            await self._abandon()
            raise
        finally:
            await self.subscription.__aexit__()
        failure = self._failure(reply)
        if failure is not None:
            raise failure
        content = self.shown + self.tail(reply)
        message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
        if reply.reasoning or reasoning:
            message["reasoning_content"] = reply.reasoning or "".join(reasoning)
        return {
            "id": self.completion_id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.request.model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": self.finish_reason(reply)}],
            "usage": self.usage(reply),
        }

    # ------------------------------------------------------------------ streaming

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        body = {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.request.model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        if self.request.include_usage:
            body["usage"] = None
        return _event(body)

    async def sse(self) -> AsyncIterator[bytes]:
        try:
            yield self._chunk({"role": "assistant", "content": ""})
            async for text, thought in self.pieces():
                delta: dict[str, Any] = {}
                if thought:
                    delta["reasoning_content"] = thought
                if text:
                    delta["content"] = text
                yield self._chunk(delta)
            reply = await self.finish()
            failure = self._failure(reply)
            if failure is not None:
                yield _event(failure.body())
            else:
                tail = self.tail(reply)
                if tail:
                    yield self._chunk({"content": tail})
                yield self._chunk({}, self.finish_reason(reply))
                if self.request.include_usage:
                    yield _event(
                        {
                            "id": self.completion_id,
                            "object": "chat.completion.chunk",
                            "created": self.created,
                            "model": self.request.model,
                            "system_fingerprint": None,
                            "choices": [],
                            "usage": self.usage(reply),
                        }
                    )
            yield b"data: [DONE]\n\n"
        except (asyncio.CancelledError, GeneratorExit):  # the client went away: stop the reply
            await self._abandon()
            raise
        except ApiError as exc:
            yield _event(exc.body())
            yield b"data: [DONE]\n\n"
        finally:
            await self.subscription.__aexit__()


def _event(body: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(body, ensure_ascii=False).encode() + b"\n\n"


# --------------------------------------------------------------------------------------------- images, embeddings


def _not_wired(what: str) -> ApiError:
    return ApiError(
        503,
        _("%(what)s are not available on this server yet. Ask an administrator.") % {"what": what},
        code="not_available",
    )


@sync_to_async
def _generate_images(request: HttpRequest, wanted: Callable[[], bool]) -> dict[str, Any]:
    key = authenticate(request, "images")
    parsed = parse_images_request(
        parse_json(request.body),
        sizes=settings.API_IMAGE_SIZES,
        max_n=settings.API_MAX_IMAGES_PER_REQUEST,
        max_prompt=settings.API_MAX_IMAGE_PROMPT_CHARS,
    )
    provider = providers.images()
    if provider is None:
        raise _not_wired(_("Image generations"))
    if parsed.model and parsed.model not in provider.models(key.owner):
        raise chat.unknown_model(parsed.model)
    limits.images_allow(key=key, count=parsed.n)
    images = provider.generate(
        providers.ImageRequest(
            user=key.owner,
            prompt=parsed.prompt,
            width=parsed.width,
            height=parsed.height,
            n=parsed.n,
            model=parsed.model,
            seed=parsed.seed,
            wanted=wanted,
        )
    )
    if not wanted():
        return {}  # the client went away: nobody reads the answer (the provider stopped the job)
    usage_record(key=key, user=key.owner, endpoint="images.generations", images=len(images))
    data = []
    for image in images:
        item: dict[str, Any] = {"revised_prompt": image.revised_prompt or None}
        if parsed.response_format == "b64_json":
            item["b64_json"] = base64.b64encode(image.png).decode()
        else:
            item["url"] = request.build_absolute_uri(image.url)
        data.append(item)
    return {"created": int(time.time()), "data": data}


@_openai_errors
async def images_generations(request: HttpRequest) -> HttpResponse:
    """POST /v1/images/generations: the studio's text-to-image job (once the studio registers its provider)."""
    if request.method != "POST":
        raise ApiError(405, _("Use POST for this endpoint."))
    gone = threading.Event()  # set when the client goes away; the provider then stops the studio's job
    try:
        body = await _generate_images(request, lambda: not gone.is_set())
    except asyncio.CancelledError:
        gone.set()
        raise
    metrics.api_request(endpoint="images_generations", status=200)
    return JsonResponse(body)


@sync_to_async
def _embed(request: HttpRequest) -> dict[str, Any]:
    key = authenticate(request, "embeddings")
    parsed = parse_embeddings_request(
        parse_json(request.body),
        max_inputs=settings.API_MAX_EMBEDDING_INPUTS,
        max_chars=settings.CHAT_MAX_MESSAGE_CHARS,
    )
    provider = providers.embeddings()
    if provider is None:
        raise _not_wired(_("Embeddings"))
    if parsed.model not in provider.models(key.owner):
        raise chat.unknown_model(parsed.model)
    vectors, tokens = provider.embed(user=key.owner, model=parsed.model, texts=parsed.texts)
    usage_record(key=key, user=key.owner, endpoint="embeddings", tokens=tokens)
    data = []
    for index, vector in enumerate(vectors):
        encoded: Any = vector
        if parsed.encoding_format == "base64":
            encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    return {
        "object": "list",
        "data": data,
        "model": parsed.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


@_openai_errors
async def embeddings(request: HttpRequest) -> HttpResponse:
    """POST /v1/embeddings: the knowledge base's embedding model (once it registers its provider)."""
    if request.method != "POST":
        raise ApiError(405, _("Use POST for this endpoint."))
    body = await _embed(request)
    metrics.api_request(endpoint="embeddings", status=200)
    return JsonResponse(body)
