"""What every websocket of the app shares: limits, a live check of the user, and surviving a layer outage.

* A Redis restart must not end sockets. The channel layer's receive is wrapped: when it fails, the consumer
  waits, joins its groups again once Redis answers, and then calls :meth:`LiveSocket.resubscribed`, which
  sends the page the current state (every event missed meanwhile is in the snapshot or the database).
* Signing out, or an admin deactivating the account, closes the user's sockets at once (a per-user group
  told by signals), and every state-changing frame re-checks the session.
* Frames are rate-limited per socket (token bucket), and one process holds at most WS_MAX_SOCKETS_PER_USER
  sockets of one user.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter
from importlib import import_module
from typing import Any
from urllib.parse import urlsplit

from channels.auth import get_user
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils.translation import gettext as _

from . import realtime

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_MANY = 4429
CLOSE_TOO_LARGE = 1009

_open_per_user: Counter[int] = Counter()


def user_group(user_id: int) -> str:
    return f"user.{user_id}.sockets"


def is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**63


class LiveSocket(AsyncWebsocketConsumer):
    """A signed-in user's socket. Subclasses implement ``joined`` (after accept) and ``handle(frame)``."""

    user: Any = None
    _raw_receive: Any = None
    _counted = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.groups_joined: list[str] = []
        self._layer_lost = False
        self._tokens = float(settings.WS_FRAME_BURST)
        self._refilled = time.monotonic()

    # The base consumer stores the layer's receive here before its dispatch loop; hand it the resilient one.
    @property
    def channel_receive(self):  # type: ignore[override]
        return self._resilient_receive

    @channel_receive.setter
    def channel_receive(self, raw) -> None:
        self._raw_receive = raw

    # ----------------------------------------------------------------- connection

    async def websocket_connect(self, message: dict[str, Any]) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if _open_per_user[user.pk] >= settings.WS_MAX_SOCKETS_PER_USER:
            await self.close(code=CLOSE_TOO_MANY)
            return
        self.user = user
        _open_per_user[user.pk] += 1
        self._counted = True
        realtime.remember_server_loop()
        if not await self.authorise():
            return
        await self.join(user_group(user.pk))
        await self.accept()
        await self.joined()

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        if self._counted:
            self._counted = False
            _open_per_user[self.user.pk] -= 1
            if _open_per_user[self.user.pk] <= 0:
                del _open_per_user[self.user.pk]
        for group in self.groups_joined:
            try:
                await self.channel_layer.group_discard(group, self.channel_name)
            except Exception:  # the layer is down: its memberships expire on their own
                log.debug("Could not leave %s", group, exc_info=True)
        await super().websocket_disconnect(message)

    async def join(self, group: str) -> None:
        """Subscribe to ``group``; while the layer is down this is retried by the receive loop."""
        self.groups_joined.append(group)
        try:
            await self.channel_layer.group_add(group, self.channel_name)
        except Exception:
            log.warning("Channel layer unreachable while joining %s; will retry", group)
            self._layer_lost = True

    async def _resilient_receive(self) -> dict[str, Any]:
        delay = 0.5
        while True:
            if self._layer_lost:
                try:
                    for group in self.groups_joined:
                        await self.channel_layer.group_add(group, self.channel_name)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                self._layer_lost = False
                log.info("Channel layer back; socket of user %s subscribed again", getattr(self.user, "pk", None))
                return {"type": "layer.recovered"}
            try:
                return await self._raw_receive()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("Channel layer receive failed (%s); the socket stays open and retries", exc)
                self._layer_lost = True
                await asyncio.sleep(delay)

    async def layer_recovered(self, event: dict[str, Any]) -> None:
        await self.resubscribed()

    async def session_ended(self, event: dict[str, Any]) -> None:
        await self.close(code=CLOSE_UNAUTHENTICATED)

    # ----------------------------------------------------------------- frames

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if not self._take_token():
            await self.error("rate_limited", _("Too many frames. Slow down and try again in a moment."))
            return
        if bytes_data is not None:
            await self.error("bad_frame", _("Send JSON text frames, not binary ones."))
            return
        if len((text_data or "").encode("utf-8", "surrogatepass")) > settings.WS_MAX_FRAME_BYTES:
            await self.error(
                "too_large",
                _("The frame is larger than %(limit)d bytes. Shorten the message.")
                % {"limit": settings.WS_MAX_FRAME_BYTES},
            )
            await self.close(code=CLOSE_TOO_LARGE)
            return
        try:
            frame = json.loads(text_data or "")
        except ValueError:
            await self.error("bad_json", _("The frame is not valid JSON."))
            return
        if not isinstance(frame, dict):
            await self.error("bad_json", _("The frame must be a JSON object."))
            return
        if frame.get("type") == "ping":
            await self.send_json({"type": "pong"})
            return
        if not await self.still_signed_in():
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self.handle(frame)

    def _take_token(self) -> bool:
        now = time.monotonic()
        self._tokens = min(
            float(settings.WS_FRAME_BURST), self._tokens + (now - self._refilled) * settings.WS_FRAMES_PER_SECOND
        )
        self._refilled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    async def still_signed_in(self) -> bool:
        """The session still exists, has not expired, and its user is still active (a few queries)."""
        session = self.scope.get("session")
        if session is None or not session.session_key:
            return False
        # A fresh store: the scope's session was read once at the handshake and would not see a sign-out.
        store = import_module(settings.SESSION_ENGINE).SessionStore(session.session_key)
        user = await get_user({**self.scope, "session": store})
        return bool(user.is_authenticated and user.pk == self.user.pk)

    # ----------------------------------------------------------------- for subclasses

    async def authorise(self) -> bool:
        """Check access to the URL's object; close the socket and return False if refused."""
        return True

    async def joined(self) -> None:
        """Send what the page needs after the socket opens."""

    async def resubscribed(self) -> None:
        """The layer came back after an outage: send the current state again."""
        await self.joined()

    async def handle(self, frame: dict[str, Any]) -> None:
        await self.error("unknown_type", _("Unknown event type. See docs/protocol.md."))

    async def error(self, code: str, message: str) -> None:
        await self.send_json({"type": "error", "code": code, "message": message})

    async def send_json(self, payload: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(payload, ensure_ascii=False))


def origin_allowed(scope: dict[str, Any]) -> bool:
    """The Origin must be this site itself: same scheme, host and port as the request (or a trusted origin)."""
    headers = dict(scope.get("headers") or [])
    origin = headers.get(b"origin", b"").decode("latin-1").strip()
    host = headers.get(b"host", b"").decode("latin-1").strip().lower()
    if not origin or origin == "null" or not host:
        return False
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    parts = urlsplit(origin)
    secure = scope.get("scheme") == "wss" or _forwarded_https(headers)
    expected_scheme = "https" if secure else "http"
    if parts.scheme != expected_scheme or parts.path not in ("", "/") or parts.query or parts.username:
        return False
    from django.http.request import split_domain_port, validate_host

    domain, _port = split_domain_port(host)
    return parts.netloc.lower() == host and validate_host(domain, settings.ALLOWED_HOSTS)


def _forwarded_https(headers: dict[bytes, bytes]) -> bool:
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if not proxy_header:
        return False
    name, value = proxy_header
    header = name.removeprefix("HTTP_").lower().replace("_", "-").encode("latin-1")
    return headers.get(header, b"").decode("latin-1") == value


class OriginValidator:
    """ASGI middleware: refuse a websocket whose Origin is not this very site (403 at the handshake)."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not origin_allowed(scope):
            from channels.security.websocket import WebsocketDenier

            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


def close_user_sockets(user_id: int) -> None:
    """Close every socket of a user, in every web process (after sign-out or deactivation)."""
    realtime.group_send(user_group(user_id), {"type": "session.ended"})


def connect_signals() -> None:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.signals import user_logged_out
    from django.db.models.signals import post_save

    def logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
        if user is not None and user.pk:
            close_user_sockets(user.pk)

    def saved(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
        if not created and not instance.is_active:
            close_user_sockets(instance.pk)

    user_logged_out.connect(logged_out, weak=False, dispatch_uid="sockets-logged-out")
    post_save.connect(saved, sender=get_user_model(), weak=False, dispatch_uid="sockets-user-saved")
