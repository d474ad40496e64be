"""DRF authentication by API key: ``Authorization: Bearer <key>`` only, never a query-string parameter."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from .services import KeyRefused, key_authenticate


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticates a request carrying a bearer key; ``request.auth`` is the :class:`ApiKey`.

    Requests without an Authorization header are left to the other classes (the session); keys are never
    read from the URL, where logs and Referer headers would leak them.
    """

    def authenticate(self, request: Request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        try:
            key = key_authenticate(authorization=header)
        except KeyRefused as exc:
            raise exceptions.AuthenticationFailed(exc.message, code=exc.code) from exc
        return key.owner, key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
