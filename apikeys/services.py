"""Writes for API access: create, revoke and check keys; record usage.

A key is ``exa-`` + 8 characters of prefix + ``_`` + 40 random characters. Only its SHA-256 is stored (the key
is random, so a slow hash adds nothing); the prefix stays visible so a person can tell keys apart.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User

from . import audit
from .models import ApiKey, ApiUsage, AuditEvent

KEY_START = "exa-"


class KeyRefused(Exception):
    """A key that does not let the request in: ``status`` 401 (who are you) or 403 (not allowed)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    #: The whole secret: shown to its owner once, never stored.
    secret: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_create(
    *, user: User, name: str, scopes: list[str], expires_at: datetime | None = None, address: str = ""
) -> NewKey:
    name = name.strip()[:100]
    scopes = sorted(set(scopes))
    if not name:
        raise ValueError(_("Give the key a name, for example the program that will use it."))
    if not scopes or not set(scopes) <= set(ApiKey.Scope.values):
        raise ValueError(_("Choose at least one scope for the key."))
    if expires_at is not None and expires_at <= timezone.now():
        raise ValueError(_("The expiry date is in the past. Pick a later date or none."))
    if user.api_keys.filter(revoked_at__isnull=True).count() >= settings.API_MAX_KEYS_PER_USER:
        raise ValueError(
            _("You have %(count)d active keys, the most allowed. Revoke one you no longer use.")
            % {"count": settings.API_MAX_KEYS_PER_USER}
        )
    prefix = secrets.token_hex(4)
    secret = f"{KEY_START}{prefix}_{secrets.token_urlsafe(30)}"
    with transaction.atomic():
        key = ApiKey(
            owner=user,
            name=name,
            prefix=KEY_START + prefix,
            digest=_digest(secret),
            scopes=scopes,
            expires_at=expires_at,
        )
        key.full_clean()
        key.save()
        audit.record(
            actor=user, action=AuditEvent.Action.KEY_CREATED, target=key, address=address, detail={"scopes": scopes}
        )
    return NewKey(key=key, secret=secret)


def key_revoke(*, key: ApiKey, by: User, address: str = "") -> None:
    """Revoke ``key`` (its owner or an administrator); a revoked key stays listed, greyed, for the record."""
    with transaction.atomic():
        updated = ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_by=by
        )
        if updated:
            audit.record(
                actor=by,
                action=AuditEvent.Action.KEY_REVOKED,
                target=key,
                address=address,
                detail={"owner": key.owner.get_username()},
            )
    key.refresh_from_db()


def key_authenticate(*, authorization: str) -> ApiKey:
    """The active key named by an ``Authorization: Bearer`` header value, or :class:`KeyRefused` (401)."""
    scheme, _space, secret = authorization.strip().partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise KeyRefused(
            401,
            "missing_api_key",
            _("Send your API key in the header 'Authorization: Bearer <key>'. Create one under Settings, API keys."),
        )
    key = ApiKey.objects.select_related("owner").filter(digest=_digest(secret)).first()
    if key is None or not key.owner.is_active:
        raise KeyRefused(401, "invalid_api_key", _("The API key is not valid. Check it, or create a new one."))
    if key.revoked_at is not None:
        raise KeyRefused(401, "invalid_api_key", _("The API key was revoked. Create a new one."))
    if key.expires_at is not None and key.expires_at <= timezone.now():
        raise KeyRefused(401, "invalid_api_key", _("The API key has expired. Create a new one."))
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)  # at most once a minute: no write per request
    return key


def key_require_scope(*, key: ApiKey, scope: str) -> None:
    if scope not in key.scopes:
        raise KeyRefused(
            403,
            "insufficient_scope",
            _("This API key may not be used for %(scope)s. Create a key with that scope.")
            % {"scope": ApiKey.Scope(scope).label},
        )


def usage_record(
    *, key: ApiKey | None, user: User, endpoint: str, tokens: int = 0, images: int = 0, stored: bool = True
) -> ApiUsage:
    return ApiUsage.objects.create(key=key, user=user, endpoint=endpoint, tokens=tokens, images=images, stored=stored)
