from django.contrib import admin

from .models import ModelEntry


@admin.register(ModelEntry)
class ModelEntryAdmin(admin.ModelAdmin):
    list_display = ("display_name", "name", "kind", "engine", "demo", "enabled", "is_default")
    list_filter = ("kind", "engine", "demo", "enabled")
    search_fields = ("name", "display_name", "hub_id")
    prepopulated_fields = {"name": ("display_name",)}
