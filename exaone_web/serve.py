"""daphne, with request body limits enforced as bytes come off the socket: ``python -m exaone_web.serve``.

Takes daphne's own arguments (``-b``, ``-p``, ``--proxy-headers``...). Stock daphne reads a request's whole body
into a temporary file before the application sees the request, so the ASGI guard in
:mod:`exaone_web.request_limits` only runs once the disk already holds it. Here daphne's request counts body
bytes as they arrive (chunked or not) and answers 413 at the first byte over the limit, or at once when the
declared Content-Length is over it. It then reads and discards for a moment, so the client can read the answer
before the connection closes, and stores nothing more.
"""

from __future__ import annotations

from daphne.cli import CommandLineInterface  # first: daphne.server installs the asyncio reactor
from daphne.http_protocol import HTTPFactory, WebRequest
from daphne.server import Server

from .request_limits import body_limit, too_large_body

#: Seconds a refused connection is read and discarded before it is closed.
LINGER_SECONDS = 2.0


class BoundedWebRequest(WebRequest):
    def __init__(self, *args, **kwargs) -> None:
        self._body_limit = 0
        self._body_received = 0
        self._refused = False
        super().__init__(*args, **kwargs)

    def gotLength(self, length: int | None) -> None:  # noqa: N802 (Twisted's name)
        super().gotLength(length)
        self._body_limit = body_limit(self._header(b"content-type"))
        if length is not None and length > self._body_limit:
            self.requestHeaders.removeHeader(b"expect")  # no "100 Continue" after the refusal
            self._refuse(length)

    def handleContentChunk(self, data: bytes) -> None:  # noqa: N802 (Twisted's name)
        if self._refused:
            return
        self._body_received += len(data)
        if self._body_received > self._body_limit:
            self._refuse(None)
            return
        super().handleContentChunk(data)

    def process(self):
        if self._refused:  # the client sent the rest anyway: the answer is out, close
            self.channel.loseConnection()
            return None
        return super().process()

    def _header(self, name: bytes) -> str:
        values = self.requestHeaders.getRawHeaders(name) or [b""]
        return values[0].decode("latin-1")

    def _refuse(self, size: int | None) -> None:
        self._refused = True
        transport = self.channel.transport if self.channel is not None else None
        if transport is None:
            return
        body = too_large_body(
            self._body_limit, size, accept_language=self._header(b"accept-language"), cookie=self._header(b"cookie")
        )
        head = (
            "HTTP/1.1 413 Request Entity Too Large\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        transport.write(head.encode("ascii") + body)
        self.channel.callLater(LINGER_SECONDS, transport.abortConnection)


class BoundedHTTPFactory(HTTPFactory):
    def buildProtocol(self, addr):  # noqa: N802 (Twisted's name)
        protocol = super().buildProtocol(addr)
        protocol.requestFactory = BoundedWebRequest
        return protocol


class BoundedServer(Server):
    """daphne's server with :class:`BoundedHTTPFactory`.

    ``Server.run()`` builds its HTTP factory inline (``self.http_factory = HTTPFactory(self)``) and starts
    listening with it; this property hands it the bounded factory instead.
    """

    @property
    def http_factory(self) -> HTTPFactory:
        return self._http_factory

    @http_factory.setter
    def http_factory(self, factory: HTTPFactory) -> None:
        self._http_factory = factory if isinstance(factory, BoundedHTTPFactory) else BoundedHTTPFactory(self)


class BoundedCommandLineInterface(CommandLineInterface):
    server_class = BoundedServer


if __name__ == "__main__":
    BoundedCommandLineInterface.entrypoint()
