"""The audit log: one append-only row per event an administrator must be able to trace.

Sign-ins come from Django's auth signals, key changes from :mod:`apikeys.services`, and every add, change or
delete in the administration (users, roles, profiles, presets, models, collections: any model) from the
``LogEntry`` Django's admin writes. Other apps call :func:`record` for their own events (exports, an
administrator reading a chat).
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import models
from django.http import HttpRequest

from .models import AuditEvent

log = logging.getLogger(__name__)


def _address(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    from exaone_web.client_address import client_address

    try:
        return client_address(request)[:64]
    except Exception:  # a request object from a test or a signal without META
        return ""


def record(
    *,
    action: str,
    actor: Any = None,
    actor_name: str = "",
    target: models.Model | None = None,
    target_type: str = "",
    target_id: str = "",
    target_repr: str = "",
    request: HttpRequest | None = None,
    address: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event. ``target`` (a model instance) fills the target's type, id and text."""
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    if target is not None:
        target_type = target_type or target._meta.label_lower
        target_id = target_id or str(target.pk)
        target_repr = target_repr or str(target)
    return AuditEvent.objects.create(
        actor=actor,
        actor_name=(actor.get_username() if actor is not None else actor_name)[:150],
        action=action,
        target_type=target_type[:60],
        target_id=str(target_id)[:64],
        target=target_repr[:200],
        address=address or _address(request),
        detail=detail or {},
    )


def _signed_in(sender, request, user, **kwargs) -> None:
    record(action=AuditEvent.Action.SIGN_IN, actor=user, request=request)


def _sign_in_failed(sender, credentials, request=None, **kwargs) -> None:
    # The password is never kept (Django already masks it); the name tried is.
    record(
        action=AuditEvent.Action.SIGN_IN_FAILED,
        actor_name=str(credentials.get("username", ""))[:150],
        request=request,
    )


def _signed_out(sender, request, user, **kwargs) -> None:
    if user is not None:
        record(action=AuditEvent.Action.SIGN_OUT, actor=user, request=request)


def _admin_logged(sender, instance, created, **kwargs) -> None:
    from django.contrib.admin.models import ADDITION, CHANGE, DELETION

    if not created:
        return
    action = {
        ADDITION: AuditEvent.Action.ADMIN_CREATED,
        CHANGE: AuditEvent.Action.ADMIN_CHANGED,
        DELETION: AuditEvent.Action.ADMIN_DELETED,
    }.get(instance.action_flag)
    if action is None:
        return
    content_type = instance.content_type
    record(
        action=action,
        actor=instance.user,
        target_type=content_type.app_label + "." + content_type.model if content_type else "",
        target_id=instance.object_id or "",
        target_repr=instance.object_repr,
        detail={"change": instance.get_change_message()},
    )


def connect_signals() -> None:
    from django.contrib.admin.models import LogEntry
    from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
    from django.db.models.signals import post_save

    user_logged_in.connect(_signed_in, dispatch_uid="audit_sign_in")
    user_login_failed.connect(_sign_in_failed, dispatch_uid="audit_sign_in_failed")
    user_logged_out.connect(_signed_out, dispatch_uid="audit_sign_out")
    post_save.connect(_admin_logged, sender=LogEntry, dispatch_uid="audit_admin_log")
