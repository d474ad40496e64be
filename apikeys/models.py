"""API keys, per-user limit overrides, usage records and the audit log."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ApiKey(models.Model):
    """A secret a program presents as ``Authorization: Bearer <key>``; only its SHA-256 is stored."""

    class Scope(models.TextChoices):
        CHAT = "chat", _("Chat")
        IMAGES = "images", _("Images")
        EMBEDDINGS = "embeddings", _("Embeddings")
        READ = "read", _("Read only")

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys", verbose_name=_("owner")
    )
    name = models.CharField(_("name"), max_length=100)
    #: The key's first characters, shown in lists so a person can tell keys apart; not secret.
    prefix = models.CharField(_("prefix"), max_length=16, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(_("scopes"), default=list)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        verbose_name=_("revoked by"),
    )
    #: Requests a minute for this key; empty: the owner's limit.
    requests_per_minute = models.PositiveIntegerField(_("requests per minute"), null=True, blank=True)
    #: Tokens a day for this key; empty: only the owner's limit applies.
    daily_token_quota = models.PositiveIntegerField(_("daily token quota"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def scope_labels(self) -> list[str]:
        return [str(self.Scope(scope).label) for scope in self.scopes if scope in self.Scope.values]

    @property
    def active(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())


class UsageLimits(models.Model):
    """An administrator's overrides of one user's role defaults (settings.API_ROLE_LIMITS); empty: default."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="usage_limits", verbose_name=_("user")
    )
    requests_per_minute = models.PositiveIntegerField(_("requests per minute"), null=True, blank=True)
    images_per_day = models.PositiveIntegerField(_("images per day"), null=True, blank=True)

    class Meta:
        verbose_name = _("usage limits")
        verbose_name_plural = _("usage limits")

    def __str__(self) -> str:
        return str(self.user)


class ApiUsage(models.Model):
    """One request through an API key: what per-key quotas, unstored chats and metrics count."""

    key = models.ForeignKey(ApiKey, on_delete=models.SET_NULL, null=True, related_name="usage")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    endpoint = models.CharField(max_length=60)
    tokens = models.PositiveIntegerField(default=0)
    images = models.PositiveIntegerField(default=0)
    #: False when the chat was not kept in the user's history (``store: false``): its tokens count only here.
    stored = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"]), models.Index(fields=["key", "created_at"])]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.created_at:%Y-%m-%d %H:%M}"


class AuditEvent(models.Model):
    """Something an administrator must be able to trace later; written by the app, never edited."""

    class Action(models.TextChoices):
        SIGN_IN = "sign_in", _("Signed in")
        SIGN_IN_FAILED = "sign_in_failed", _("Sign-in failed")
        SIGN_OUT = "sign_out", _("Signed out")
        KEY_CREATED = "key_created", _("API key created")
        KEY_REVOKED = "key_revoked", _("API key revoked")
        ADMIN_CREATED = "admin_created", _("Created in the administration")
        ADMIN_CHANGED = "admin_changed", _("Changed in the administration")
        ADMIN_DELETED = "admin_deleted", _("Deleted in the administration")
        EXPORT = "export", _("Exported")
        CHAT_ACCESS = "chat_access", _("Chat read by an administrator")

    at = models.DateTimeField(_("at"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("actor"),
    )
    #: Kept as text too: the account may be deleted later, or a failed sign-in names no account.
    actor_name = models.CharField(_("actor name"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=30, choices=Action.choices, db_index=True)
    target_type = models.CharField(_("target type"), max_length=60, blank=True, db_index=True)
    target_id = models.CharField(_("target id"), max_length=64, blank=True)
    target = models.CharField(_("target"), max_length=200, blank=True)
    address = models.CharField(_("address"), max_length=64, blank=True)
    detail = models.JSONField(_("detail"), default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.target}"
