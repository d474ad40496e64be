"""Requests a minute and quotas a day, per user and per key: defaults per role, overrides per user.

Requests a minute are counted in fixed one-minute windows in the cache (shared by every web process in
service mode). Tokens a day reuse the chat's quota (``User.daily_token_quota``, checked by the chat service
itself) plus a key's own quota, counted from :class:`ApiUsage`. A refusal carries the seconds until the
window or the day ends, for the Retry-After header.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from assistant.selectors import tokens_used_today

from .models import ApiKey, ApiUsage, UsageLimits


class LimitReached(Exception):
    def __init__(self, code: str, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = max(1, retry_after)


@dataclass(frozen=True)
class Limits:
    """One user's effective limits; 0 means no limit."""

    requests_per_minute: int
    images_per_day: int
    tokens_per_day: int


def limits_for(user: User) -> Limits:
    defaults = settings.API_ROLE_LIMITS.get(user.role, settings.API_ROLE_LIMITS.get("expert", {}))
    override = UsageLimits.objects.filter(user=user).first()

    def pick(name: str) -> int:
        value = getattr(override, name, None) if override is not None else None
        return int(value if value is not None else defaults.get(name, 0))

    return Limits(
        requests_per_minute=pick("requests_per_minute"),
        images_per_day=pick("images_per_day"),
        tokens_per_day=user.daily_token_quota,
    )


def _midnight() -> datetime:
    return timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)


def seconds_to_midnight() -> int:
    return int((_midnight() + timedelta(days=1) - timezone.now()).total_seconds()) + 1


def _count_in_window(name: str, limit: int) -> None:
    if not limit:
        return
    window = int(time.time() // 60)
    key = f"api-rpm:{name}:{window}"
    cache.add(key, 0, 120)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, 120)
        count = 1
    if count > limit:
        raise LimitReached(
            "rate_limit_exceeded",
            _("Too many requests: the limit is %(limit)d a minute. Wait before sending more.") % {"limit": limit},
            60 - int(time.time() % 60),
        )


def request_allow(*, key: ApiKey) -> None:
    """Count one request against the user's and the key's per-minute limits."""
    limits = limits_for(key.owner)
    _count_in_window(f"user:{key.owner_id}", limits.requests_per_minute)
    if key.requests_per_minute:
        _count_in_window(f"key:{key.pk}", key.requests_per_minute)


def unstored_tokens_today(*, user: User) -> int:
    """Tokens of today's API chats that were not kept in the history (the chat's own count misses them)."""
    used = ApiUsage.objects.filter(user=user, stored=False, created_at__gte=_midnight()).aggregate(t=Sum("tokens"))
    return int(used["t"] or 0)


def tokens_allow(*, key: ApiKey) -> None:
    """Refuse a generation when the user's or the key's tokens for today are used up."""
    user = key.owner
    if user.daily_token_quota:
        used = tokens_used_today(user=user) + unstored_tokens_today(user=user)
        if used >= user.daily_token_quota:
            raise LimitReached("insufficient_quota", quota_message(user.daily_token_quota), seconds_to_midnight())
    if key.daily_token_quota:
        used = ApiUsage.objects.filter(key=key, created_at__gte=_midnight()).aggregate(t=Sum("tokens"))["t"] or 0
        if used >= key.daily_token_quota:
            raise LimitReached(
                "insufficient_quota",
                _("This key has used today's %(quota)d tokens. It renews at midnight UTC.")
                % {"quota": key.daily_token_quota},
                seconds_to_midnight(),
            )


def quota_message(quota: int) -> str:
    return _(
        "You have used today's token quota (%(quota)d tokens). It renews at midnight UTC; "
        "ask an administrator if you need more."
    ) % {"quota": quota}


def images_allow(*, key: ApiKey, count: int) -> None:
    """For the image endpoint (wired after the studio merges): refuse past the user's images a day."""
    limit = limits_for(key.owner).images_per_day
    if not limit:
        return
    used = ApiUsage.objects.filter(user=key.owner, created_at__gte=_midnight()).aggregate(i=Sum("images"))["i"] or 0
    if used + count > limit:
        raise LimitReached(
            "insufficient_quota",
            _("You have used today's %(limit)d images. The count renews at midnight UTC.") % {"limit": limit},
            seconds_to_midnight(),
        )


def usage_today(*, user: User) -> dict[str, int]:
    """What the settings page shows next to the limits."""
    images = ApiUsage.objects.filter(user=user, created_at__gte=_midnight()).aggregate(i=Sum("images"))["i"] or 0
    return {"tokens": tokens_used_today(user=user) + unstored_tokens_today(user=user), "images": int(images)}
