"""The base of JSON endpoints that exist for the app's own pages (the studio, its refine page)."""

from __future__ import annotations

from rest_framework.authentication import SessionAuthentication
from rest_framework.views import APIView


class PageApi(APIView):
    """Browser sessions only: an API key never reaches these (its scopes and daily limits are enforced on
    ``/v1/`` and on the documented REST resources, which these would bypass), and they stay out of the public
    OpenAPI schema."""

    authentication_classes = [SessionAuthentication]
    schema = None
