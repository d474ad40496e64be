"""Connect only to public addresses unless a host is allow-listed: the SSRF guard for remote model servers.

A model server URL comes from an admin form, so a mistake or a compromised admin account must not turn the app
into a proxy for internal services. When connecting, every address the host resolves to is checked, and
loopback, private, link-local (cloud metadata at 169.254.169.254), unspecified, multicast, reserved and
IPv4-mapped IPv6 addresses (and 6to4, NAT64 and Teredo addresses wrapping such an IPv4 address) are refused
unless the host is allow-listed in the engine's ``allowed_hosts`` or in the comma-separated
``INFERENCE_ALLOWED_HOSTS`` environment variable (read on every connection). The client connects to the checked
address itself, so DNS cannot answer differently between the check and the connection; redirects are never
followed and proxy settings from the environment are ignored, so neither can route around the check.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable, Sequence
from typing import Any

import httpcore
import httpx

from .errors import EngineUnavailable

ALLOWED_HOSTS_ENV = "INFERENCE_ALLOWED_HOSTS"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class BlockedAddress(EngineUnavailable):
    """The server's address is not public and its host is not allow-listed."""


def _parse_allowed(
    entries: Iterable[str],
) -> tuple[set[str], list[ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    hosts: set[str] = set()
    networks = []
    for entry in entries:
        entry = entry.strip().lower().strip("[]")
        if not entry:
            continue
        if "/" in entry:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
        hosts.add(entry)
    return hosts, networks


def blocked_reason(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why ``ip`` may not be reached without an allow-list entry, or ``None`` if it is a public address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return "an IPv4-mapped IPv6 address"
        # Addresses that wrap an IPv4 address (6to4, NAT64, Teredo) are judged by the address inside.
        embedded = ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = blocked_reason(embedded)
            return f"an IPv6 address wrapping {inner}" if inner else None
    checks = [
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address (where cloud metadata services live)"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (not ip.is_global, "not a public address"),
    ]
    return next((reason for failed, reason in checks if failed), None)


class AddressGuard:
    """Decide which resolved addresses a host may be connected to."""

    def __init__(self, allowed_hosts: Iterable[str] = ()) -> None:
        self._configured = list(allowed_hosts)

    def _allowed(self) -> tuple[set[str], list]:
        # The environment is read on every connection so an admin's change applies without a restart.
        from_env = os.environ.get(ALLOWED_HOSTS_ENV, "").split(",")
        return _parse_allowed([*self._configured, *from_env])

    def check(self, host: str, addresses: Sequence[str]) -> list[str]:
        """Return the addresses that may be used; raise :class:`BlockedAddress` if one may not."""
        hosts, networks = self._allowed()
        if host.lower().strip("[]") in hosts:
            return list(addresses)
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
            reason = blocked_reason(ip)
            if reason and not any(ip.version == net.version and ip in net for net in networks):
                raise BlockedAddress(
                    f"Refusing to connect to {host} ({address}): it is {reason}. If this model server "
                    f"really runs there, add {host!r} to the model's allowed_hosts option or to the "
                    f"{ALLOWED_HOSTS_ENV} environment variable."
                )
        return list(addresses)


class _GuardedBackend(httpcore.SyncBackend):
    """Resolve the host ourselves, check every address, then connect to a checked address only."""

    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        last_error: Exception | None = None
        # Connecting to the checked IP (not the name) closes the gap where DNS could answer differently.
        for address in self._guard.check(host, addresses):
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                last_error = exc
        raise last_error or httpcore.ConnectError(f"{host} has no address")


def guarded_client(guard: AddressGuard, *, timeout: float, headers: dict[str, str] | None = None) -> httpx.Client:
    """An httpx client that checks addresses at connect time, never follows redirects and ignores proxies."""
    transport = httpx.HTTPTransport(trust_env=False)
    # httpx has no public hook for the network backend, so swap the pool for one built on ours.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        network_backend=_GuardedBackend(guard),
    )
    return httpx.Client(
        transport=transport,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=False,
        trust_env=False,
        headers=headers,
    )
