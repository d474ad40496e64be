"""Admins manage presets, per-model rewrite settings and per-role image safety.

Users' images and prompts stay private: the image list shows ids, owners, dates and flags (so admins can
count flagged images) but never a brief, a prompt or the picture itself.
"""

from django.contrib import admin
from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _

from .models import ImageModelSettings, RoleSafety, StudioImage, StylePreset


@admin.register(StylePreset)
class StylePresetAdmin(admin.ModelAdmin):
    list_display = ("name_en", "name_ko", "slug", "default_width", "default_height", "default_steps", "enabled")
    list_filter = ("enabled",)
    search_fields = ("name_en", "name_ko", "slug")
    prepopulated_fields = {"slug": ("name_en",)}


@admin.register(ImageModelSettings)
class ImageModelSettingsAdmin(admin.ModelAdmin):
    list_display = ("model", "rewrite_enabled")


@admin.register(RoleSafety)
class RoleSafetyAdmin(admin.ModelAdmin):
    list_display = ("role", "check_images", "flagged_images")

    @admin.display(description=_("flagged images"))
    def flagged_images(self, obj: RoleSafety) -> int:
        return StudioImage.objects.filter(owner__role=obj.role, flagged=True).count()


@admin.register(StudioImage)
class StudioImageAdmin(admin.ModelAdmin):
    """Counts and flags only: no brief, prompt, metadata or picture is ever shown here."""

    list_display = ("__str__", "owner", "created_at", "starred", "flagged")
    list_filter = ("flagged", "starred")
    fields = ("owner", "created_at", "flagged", "flag_reason")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        counts = StudioImage.objects.aggregate(total=Count("id"), flagged=Count("id", filter=Q(flagged=True)))
        extra_context = {**(extra_context or {}), "title": _("Studio images: %(total)d, flagged: %(flagged)d") % counts}
        return super().changelist_view(request, extra_context=extra_context)
