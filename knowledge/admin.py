"""Admins attach collections to expert profiles here; document contents are not shown (they are users' data)."""

from django.contrib import admin

from .models import Collection


@admin.register(Collection)
class CollectionAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "created_at")
    search_fields = ("name",)
    filter_horizontal = ("shared_with_groups", "profiles")
    fields = ("name", "description", "owner", "shared_with_groups", "profiles")
    readonly_fields = ("owner",)

    def has_add_permission(self, request) -> bool:
        return False  # users create collections on their knowledge page
