"""Expert profiles and prompt templates: who may use which, versions, and filling in variables."""

from __future__ import annotations

import re

from django.db import transaction
from django.db.models import Q, QuerySet

from accounts.models import User

from .models import ExpertProfile, ExpertProfileVersion, PromptTemplate

SNAPSHOT_FIELDS = ("name_en", "name_ko", "domain", "system_prompt_en", "system_prompt_ko", "reply_language")
VARIABLE = re.compile(r"\{\{\s*([A-Za-z_\uac00-\ud7a3][\w\uac00-\ud7a3]*)\s*\}\}")


def profile_list(*, user: User) -> QuerySet[ExpertProfile]:
    """Profiles this user may chat with."""
    profiles = ExpertProfile.objects.filter(enabled=True)
    if user.is_superuser:
        return profiles
    groups = user.groups.all()
    return (
        profiles.filter(Q(groups__isnull=True) | Q(groups__in=groups))
        .distinct()
        .filter(pk__in=[p.pk for p in profiles if not p.allowed_roles or user.role in p.allowed_roles])
    )


def profile_get(*, user: User, slug: str) -> ExpertProfile | None:
    return profile_list(user=user).filter(slug=slug).first()


def profile_allowed(*, user: User, profile: ExpertProfile) -> bool:
    return profile_list(user=user).filter(pk=profile.pk).exists()


def _snapshot(profile: ExpertProfile) -> dict:
    return {
        **{name: getattr(profile, name) for name in SNAPSHOT_FIELDS},
        "model": profile.model.name if profile.model is not None else None,
        "default_sampling": dict(profile.default_sampling),
    }


@transaction.atomic
def profile_save(*, profile: ExpertProfile) -> ExpertProfile:
    """Save a profile; a change to what it tells the model makes a new version."""
    snapshot = _snapshot(profile)
    latest = profile.versions.first() if profile.pk else None
    if latest is None or latest.snapshot != snapshot:
        profile.version = (latest.version + 1) if latest else 1
        profile.full_clean()
        profile.save()
        ExpertProfileVersion.objects.create(profile=profile, version=profile.version, snapshot=snapshot)
    else:
        profile.full_clean()
        profile.save()
    return profile


def profile_current_version(*, profile: ExpertProfile) -> ExpertProfileVersion:
    version = profile.versions.filter(version=profile.version).first()
    return version or profile_save(profile=profile).versions.get(version=profile.version)


def template_list(*, user: User) -> QuerySet[PromptTemplate]:
    if user.is_superuser:
        return PromptTemplate.objects.all()
    return PromptTemplate.objects.filter(
        Q(shared_with_everyone=True) | Q(groups__in=user.groups.all()) | Q(created_by=user)
    ).distinct()


def template_variables(body: str) -> list[str]:
    """The variable names in a template, in order of first use."""
    return list(dict.fromkeys(VARIABLE.findall(body)))
