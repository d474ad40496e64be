"""Writes for accounts."""

import hashlib
import ipaddress

from django.conf import settings
from django.core.cache import cache

from .models import User


def user_set_language(*, user: User, language: str) -> None:
    if language not in dict(settings.LANGUAGES):
        raise ValueError(f"Unsupported language {language!r}")
    user.language = language
    user.save(update_fields=["language"])


def _address_bucket(ip: str) -> str:
    """An IPv6 client holds a whole /64, so its addresses count together; IPv4 addresses count alone."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _user_key(username: str, ip: str) -> str:
    name = hashlib.sha256(username.lower()[:150].encode()).hexdigest()[:32]
    return f"login-failures:{_address_bucket(ip)}:{name}"


def _address_key(ip: str) -> str:
    return f"login-failures:{_address_bucket(ip)}"


def login_is_locked(*, username: str, ip: str) -> bool:
    """Locked after too many failures for this user name from this address, or for any names from it."""
    counts = cache.get_many([_user_key(username, ip), _address_key(ip)])
    return (
        counts.get(_user_key(username, ip), 0) >= settings.LOGIN_MAX_FAILURES
        or counts.get(_address_key(ip), 0) >= settings.LOGIN_MAX_FAILURES_PER_ADDRESS
    )


def login_record_failure(*, username: str, ip: str) -> None:
    for key in (_user_key(username, ip), _address_key(ip)):
        cache.add(key, 0, timeout=settings.LOGIN_LOCKOUT_SECONDS)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=settings.LOGIN_LOCKOUT_SECONDS)


def login_clear_failures(*, username: str, ip: str) -> None:
    # The address count stays: signing in to one's own account must not reset a spraying attempt.
    cache.delete(_user_key(username, ip))
