"""What a key may do on the app's own REST API: reads with any key, writes only with the chat scope."""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from .models import ApiKey


class KeyScope(BasePermission):
    message = "This API key may only read. Create a key with the chat scope to change conversations."

    def has_permission(self, request, view) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return True  # a browser session: the other permission classes decide
        if request.method in SAFE_METHODS:
            return True
        return ApiKey.Scope.CHAT in key.scopes
