"""The API keys settings page and the protected /metrics endpoint."""

from __future__ import annotations

import hmac
from typing import cast

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.models import User
from exaone_web.client_address import client_address

from . import limits, metrics, selectors, services
from .forms import KeyCreateForm

#: Where the page keeps a new key between the POST and the redirect: shown once, then forgotten.
NEW_KEY_SESSION = "apikeys_new_key"


@login_required
@require_http_methods(["GET", "POST"])
def keys(request: HttpRequest) -> HttpResponse:
    user = cast(User, request.user)
    form = KeyCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            new = services.key_create(
                user=user,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                expires_at=form.expires_at(),
                address=client_address(request),
            )
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            request.session[NEW_KEY_SESSION] = {"name": new.key.name, "secret": new.secret}
            return redirect("apikeys:keys")
    shown = request.session.pop(NEW_KEY_SESSION, None)
    context = {
        "form": form,
        "new_key": shown,
        "keys": selectors.key_list(user=user)[:100],
        "limits": limits.limits_for(user),
        "usage": limits.usage_today(user=user),
        "api_base": request.build_absolute_uri("/v1/"),
    }
    response = render(request, "apikeys/keys.html", context)
    response.headers["Cache-Control"] = "no-store"  # the page may hold a secret shown once
    return response


@login_required
@require_POST
def key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    user = cast(User, request.user)
    key = selectors.key_get(user=user, key_id=key_id)
    if key is None:
        raise Http404
    services.key_revoke(key=key, by=user, address=client_address(request))
    messages.success(
        request, _("The key “%(name)s” is revoked; programs using it are refused from now on.") % {"name": key.name}
    )
    return redirect("apikeys:keys")


def prometheus(request: HttpRequest) -> HttpResponse:
    """GET /metrics: for Prometheus with METRICS_TOKEN as a bearer token, or for signed-in staff."""
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    allowed = bool(token) and hmac.compare_digest(header.encode(), f"Bearer {token}".encode())
    allowed = allowed or (request.user.is_authenticated and request.user.is_staff)
    if not allowed:
        response = HttpResponse(_("Send the metrics token as 'Authorization: Bearer <token>'."), status=401)
        response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(metrics.render(), content_type="text/plain; version=0.0.4; charset=utf-8")
