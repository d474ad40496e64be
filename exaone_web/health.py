"""/healthz: can this deployment serve a chat right now?

Anyone (a load balancer, compose's health check) gets ``{"status": "ok"}`` (200) or ``{"status": "degraded"}``
(503) and nothing else. Staff signed in get the details: database, channel layer, broker, loaded models, worker
hosts and errors, which name internal paths, URLs and hosts.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

from inference.registry import device_report, load_errors, loaded_models

from . import workers


def _database() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return {"ok": True, "vendor": connection.vendor}
    except Exception as exc:
        return {"ok": False, "error": str(exc)}


def _channel_layer() -> dict:
    layer = get_channel_layer()
    backend = type(layer).__name__

    async def roundtrip() -> None:
        name = await layer.new_channel("healthz.")
        token = uuid.uuid4().hex
        await layer.send(name, {"type": "healthz.ping", "token": token})
        received = await asyncio.wait_for(layer.receive(name), timeout=2)
        if received.get("token") != token:
            raise RuntimeError("the channel layer returned a different message")

    try:
        async_to_sync(roundtrip)()
        return {"ok": True, "backend": backend}
    except Exception as exc:
        return {"ok": False, "backend": backend, "error": str(exc) or type(exc).__name__}


def _broker() -> dict | None:
    if settings.JOBS_BACKEND != "celery":
        return None
    from .celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return {"ok": True, "url": conn.as_uri()}
    except Exception as exc:
        return {"ok": False, "error": str(exc)}


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    started = time.perf_counter()
    checks = {"database": _database(), "channel_layer": _channel_layer(), "broker": _broker()}
    ok = all(c is None or c["ok"] for c in checks.values())
    status = 200 if ok else 503
    if not (request.user.is_authenticated and request.user.is_staff):
        return JsonResponse({"status": "ok" if ok else "degraded"}, status=status)
    engines: dict[str, Any]
    if settings.JOBS_BACKEND == "celery":
        engines = {"mode": "celery", "workers": workers.seen()}
    else:
        engines = {
            "mode": "inprocess",
            "models": loaded_models(),
            "errors": load_errors(),
            "device": device_report(),
        }
    body: dict[str, Any] = {
        "status": "ok" if ok else "degraded",
        **checks,
        "jobs": settings.JOBS_BACKEND,
        "engines": engines,
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
    }
    return JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})
