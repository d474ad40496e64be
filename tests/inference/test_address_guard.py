"""The SSRF guard for remote model servers, against a plain local HTTP server (no model needed)."""

from __future__ import annotations

import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from inference.address_guard import ALLOWED_HOSTS_ENV, AddressGuard, BlockedAddress, blocked_reason, guarded_client
from inference.text.openai_compat import OpenAIEngine
from inference.types import ChatMessage, ModelSpec, SamplingParams, TextRequest


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep test output clean
        pass


@pytest.fixture
def local_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _get(guard: AddressGuard, url: str) -> str:
    with guarded_client(guard, timeout=5) as client:
        return client.get(url).text


def test_loopback_is_refused_unless_allow_listed(local_server, monkeypatch):
    monkeypatch.delenv(ALLOWED_HOSTS_ENV, raising=False)
    url = f"http://127.0.0.1:{local_server}/"

    with pytest.raises(BlockedAddress, match="loopback.*allowed_hosts"):
        _get(AddressGuard(), url)
    monkeypatch.setenv(ALLOWED_HOSTS_ENV, "example.org, 127.0.0.1")

    assert _get(AddressGuard(), url) == "hello"


def test_allow_listed_network_range_is_accepted(local_server, monkeypatch):
    monkeypatch.delenv(ALLOWED_HOSTS_ENV, raising=False)

    text = _get(AddressGuard(["127.0.0.0/8"]), f"http://127.0.0.1:{local_server}/")

    assert text == "hello"


def test_a_host_that_resolves_again_to_a_private_address_is_refused_at_the_second_connection(local_server, monkeypatch):
    # DNS rebinding: the first answer is an allowed address, the next one an internal address.
    monkeypatch.delenv(ALLOWED_HOSTS_ENV, raising=False)
    answers = iter(["127.0.0.1", "10.0.0.7"])
    resolved: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def resolver(host, port, *args, **kwargs):
        if host != "models.example":  # the connection to the checked address itself
            return real_getaddrinfo(host, port, *args, **kwargs)
        address = next(answers)
        resolved.append(address)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    guard = AddressGuard(["127.0.0.0/8"])

    first = _get(guard, f"http://models.example:{local_server}/")
    with pytest.raises(BlockedAddress, match=r"10\.0\.0\.7.*private"):
        _get(guard, f"http://models.example:{local_server}/")

    assert first == "hello"
    assert resolved == ["127.0.0.1", "10.0.0.7"]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/v1", "link-local"),
        ("http://[::ffff:127.0.0.1]:8080/v1", "IPv4-mapped"),
        ("http://10.0.0.1:8000/v1", "private"),
        ("http://192.168.1.10/v1", "private"),
        ("http://localhost:8080/v1", "loopback"),
        ("http://0.0.0.0:8080/v1", "unspecified"),
        ("http://[::1]:8080/v1", "loopback"),
        ("http://[fd00:ec2::254]/v1", "private"),
    ],
)
def test_internal_addresses_are_refused_before_any_request(url, reason, monkeypatch):
    monkeypatch.delenv(ALLOWED_HOSTS_ENV, raising=False)
    engine = OpenAIEngine.from_spec(ModelSpec(name="remote", kind="text", engine="openai", path=url))
    request = TextRequest(messages=(ChatMessage("user", "hi"),), sampling=SamplingParams(max_new_tokens=2))

    with pytest.raises(BlockedAddress, match=reason):
        list(engine.stream(request))
    with pytest.raises(BlockedAddress):  # token counting goes through the same guard
        engine._client.get(url)


def test_addresses_wrapping_internal_ipv4_are_judged_by_the_inner_address():
    assert "loopback" in blocked_reason(ipaddress.ip_address("2002:7f00:1::"))  # 6to4 of 127.0.0.1
    assert "private" in blocked_reason(ipaddress.ip_address("64:ff9b::a00:1"))  # NAT64 of 10.0.0.1
    assert blocked_reason(ipaddress.ip_address("100.64.0.1"))  # carrier-grade NAT is not public
    assert blocked_reason(ipaddress.ip_address("8.8.8.8")) is None
    assert blocked_reason(ipaddress.ip_address("2001:4860:4860::8888")) is None
