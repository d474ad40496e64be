"""The address a request came from, trusting X-Forwarded-For only as far as configured proxies wrote it.

Without TRUSTED_PROXIES the socket's peer (REMOTE_ADDR) is the client, whatever headers say: anyone can
send X-Forwarded-For. Behind a reverse proxy every request's peer is the proxy, so TRUSTED_PROXIES lists
the proxies' addresses or networks. Then, if the peer is one of them, X-Forwarded-For is read from the right
(each proxy appends the address it saw) and the first hop that is not a trusted proxy is the client.
Everything left of that hop was written by the client and is ignored.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_address(request: HttpRequest) -> str:
    peer = request.META.get("REMOTE_ADDR", "")
    proxies = _networks(tuple(settings.TRUSTED_PROXIES))
    if not proxies or not _is_trusted(peer, proxies):
        return peer
    client = peer
    for hop in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        hop = hop.strip()
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # not written by a proxy we trust: stop at the last good hop
        client = hop
        if not _is_trusted(hop, proxies):
            break
    return client


def _is_trusted(address: str, proxies: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in proxies)


@lru_cache(maxsize=8)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def from_trusted_proxy(request: HttpRequest) -> bool:
    """Whether the socket's peer is one of TRUSTED_PROXIES (so its forwarding headers may be believed)."""
    proxies = _networks(tuple(settings.TRUSTED_PROXIES))
    return bool(proxies) and _is_trusted(request.META.get("REMOTE_ADDR", ""), proxies)
