from django.contrib import admin

from .models import ModelEntry
from .services import model_register


@admin.register(ModelEntry)
class ModelEntryAdmin(admin.ModelAdmin):
    list_display = ("display_name", "name", "kind", "engine", "demo", "enabled", "is_default")
    list_filter = ("kind", "engine", "demo", "enabled")
    search_fields = ("name", "display_name", "hub_id")
    prepopulated_fields = {"name": ("display_name",)}

    def save_model(self, request, obj, form, change):
        """Save through the service, so a new default demotes the old one of its kind."""
        fields = {f.name: getattr(obj, f.name) for f in ModelEntry._meta.concrete_fields if f.editable}
        fields.pop("id", None)
        name = fields.pop("name")
        if change:
            old_name = ModelEntry.objects.filter(pk=obj.pk).values_list("name", flat=True).first()
            if old_name and old_name != name:
                ModelEntry.objects.filter(pk=obj.pk).update(name=name)
        saved = model_register(name=name, **fields)
        obj.pk = saved.pk
