"""Security headers that Django does not set itself."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

#: No inline scripts, no third-party hosts: model output can never load a remote image or script.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        return response


class RequestSizeLimitMiddleware:
    """Refuse bodies whose declared size is over the limit with 413 before anything reads them.

    The ASGI guard (exaone_web/request_limits.py) already does this under a server; this covers the test
    client and any WSGI use.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from django.http import JsonResponse

        from .request_limits import body_limit, too_large_message, too_large_payload

        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = body_limit(request.META.get("CONTENT_TYPE", ""))
        if length > limit:
            return JsonResponse(too_large_payload(too_large_message(limit, length)), status=413)
        return self.get_response(request)


class ForwardedProtoMiddleware:
    """Drop X-Forwarded-Proto unless the request comes from a trusted proxy (TRUSTED_PROXIES).

    Django's SECURE_PROXY_SSL_HEADER believes the header from anyone; with daphne reachable other than
    through the proxy, a client could claim HTTPS. First in MIDDLEWARE, so ``is_secure()`` never sees it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        from .client_address import from_trusted_proxy

        if "HTTP_X_FORWARDED_PROTO" in request.META and not from_trusted_proxy(request):
            del request.META["HTTP_X_FORWARDED_PROTO"]
        return self.get_response(request)
