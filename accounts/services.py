"""Writes for accounts."""

from django.conf import settings
from django.core.cache import cache

from .models import User


def user_set_language(*, user: User, language: str) -> None:
    if language not in dict(settings.LANGUAGES):
        raise ValueError(f"Unsupported language {language!r}")
    user.language = language
    user.save(update_fields=["language"])


def _login_key(username: str, ip: str) -> str:
    return f"login-failures:{ip}:{username.lower()[:150]}"


def login_is_locked(*, username: str, ip: str) -> bool:
    return cache.get(_login_key(username, ip), 0) >= settings.LOGIN_MAX_FAILURES


def login_record_failure(*, username: str, ip: str) -> None:
    key = _login_key(username, ip)
    cache.add(key, 0, timeout=settings.LOGIN_LOCKOUT_SECONDS)
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS)


def login_clear_failures(*, username: str, ip: str) -> None:
    cache.delete(_login_key(username, ip))
