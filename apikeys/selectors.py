from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import User

from .models import ApiKey


def key_list(*, user: User) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(owner=user).order_by("revoked_at", "-created_at", "-id")


def key_get(*, user: User, key_id: int) -> ApiKey | None:
    return ApiKey.objects.filter(owner=user, pk=key_id).first()
