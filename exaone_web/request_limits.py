"""Request body limits, enforced while the body arrives (SECURITY.md line 5).

Django's ASGI handler reads a whole body into a spooled temporary file before any middleware runs, and a
chunked request declares no length, so a Content-Length check in middleware alone lets an anonymous client
fill the disk. :class:`RequestBodyLimit` wraps the HTTP application and counts body bytes as the server hands
them over, answering 413 at the first byte over the limit (or at once when the declared length is over it).
daphne buffers a body itself before it starts the application, so ``exaone_web.serve`` also enforces the same
limit inside daphne, as bytes come off the socket.

Multipart bodies (uploads) may reach ``MAX_UPLOAD_BYTES``; every other body ``DATA_UPLOAD_MAX_MEMORY_SIZE``
(``MAX_REQUEST_BYTES``).
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext


def body_limit(content_type: str) -> int:
    """The largest body allowed for a request of this Content-Type, in bytes."""
    if content_type.strip().lower().startswith("multipart/"):
        return settings.MAX_UPLOAD_BYTES
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def too_large_message(limit: int, size: int | None = None) -> str:
    """What a 413 says, in the active language; ``size`` when the request declared it."""
    if size is not None:
        return gettext("The request is %(size)d bytes; the limit is %(limit)d. Send less data.") % {
            "size": size,
            "limit": limit,
        }
    return gettext("The request body is larger than the limit of %(limit)d bytes. Send less data.") % {"limit": limit}


def too_large_body(limit: int, size: int | None, *, accept_language: str = "", cookie: str = "") -> bytes:
    """The JSON body of a 413 sent outside Django's request handling, in the client's language (its language
    cookie, else its Accept-Language header)."""
    cookies = dict(part.strip().partition("=")[::2] for part in cookie.split(";") if "=" in part)
    language = cookies.get(settings.LANGUAGE_COOKIE_NAME, "")
    client = SimpleNamespace(
        COOKIES={settings.LANGUAGE_COOKIE_NAME: language} if language else {},
        META={"HTTP_ACCEPT_LANGUAGE": accept_language},
    )
    with translation.override(translation.get_language_from_request(client)):  # type: ignore[arg-type]
        detail = too_large_message(limit, size)
    return json.dumps(too_large_payload(detail), ensure_ascii=False).encode()


def too_large_payload(detail: str) -> dict[str, Any]:
    """The app's error keys, plus OpenAI's error object so API clients (/v1/) read the same 413."""
    error = {"message": detail, "type": "invalid_request_error", "param": None, "code": "request_too_large"}
    return {"code": "too_large", "detail": detail, "error": error}


class _BodyTooLarge(Exception):
    pass


class RequestBodyLimit:
    """ASGI middleware: refuse an HTTP body over the limit while it is received, without reading the rest."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name.lower(): value for name, value in scope.get("headers", [])}
        limit = body_limit(headers.get(b"content-type", b"").decode("latin-1"))
        try:
            declared: int | None = int(headers[b"content-length"])
        except (KeyError, ValueError):
            declared = None
        if declared is not None and declared > limit:
            await self._refuse(send, headers, limit, declared)
            return
        received = 0
        started = False

        async def counted_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def watched_send(message: dict) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except _BodyTooLarge:
            if started:  # the application answered before reading everything: nothing to add
                return
            await self._refuse(send, headers, limit, None)

    @staticmethod
    async def _refuse(send: Any, headers: dict[bytes, bytes], limit: int, size: int | None) -> None:
        body = too_large_body(
            limit,
            size,
            accept_language=headers.get(b"accept-language", b"").decode("latin-1"),
            cookie=headers.get(b"cookie", b"").decode("latin-1"),
        )
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
