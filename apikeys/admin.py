"""Administrators revoke any key, set per-user limits and read (never change) the audit log."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from . import services
from .models import ApiKey, AuditEvent, UsageLimits


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "prefix", "owner", "scopes", "created_at", "last_used_at", "expires_at", "revoked_at"]
    list_filter = ["revoked_at", "created_at"]
    search_fields = ["name", "prefix", "owner__username"]
    readonly_fields = ("owner", "name", "prefix", "scopes", "created_at", "last_used_at", "revoked_at", "revoked_by")
    fields = (*readonly_fields, "expires_at", "requests_per_minute", "daily_token_quota")
    actions = ["revoke"]

    def has_add_permission(self, request, obj=None):
        return False  # keys are created by their owners, who alone see the secret

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the record of the key stays

    @admin.action(description=_("Revoke the selected keys"))
    def revoke(self, request, queryset):
        for key in queryset.filter(revoked_at__isnull=True):
            services.key_revoke(key=key, by=request.user)
        messages.success(request, _("The selected keys are revoked."))


@admin.register(UsageLimits)
class UsageLimitsAdmin(admin.ModelAdmin):
    list_display = ["user", "requests_per_minute", "images_per_day"]
    autocomplete_fields = ["user"]
    search_fields = ["user__username"]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read only for everyone, superusers included: the log is written by the app alone."""

    list_display = ["at", "actor_name", "action", "target_type", "target", "address"]
    list_filter = ["action", "target_type", "at"]
    search_fields = ["actor_name", "target", "target_id", "address"]
    date_hierarchy = "at"

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
