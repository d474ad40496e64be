from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from .models import User


@admin.register(User)
class ExaoneUserAdmin(UserAdmin):
    list_display = ("username", "email", "role", "language", "daily_token_quota", "is_active", "is_staff")
    list_filter = ("role", "is_active", "is_staff", "language")
    fieldsets = (
        *(UserAdmin.fieldsets or ()),
        (_("Assistant"), {"fields": ("role", "language", "daily_token_quota")}),
    )

    def get_deleted_objects(self, objs, request):
        """List the accounts only, and what goes with them as counts per kind.

        Django's confirmation page names every related object, which would put conversation titles and
        messages in front of the admin (SECURITY.md line 22). The delete page and the "delete selected"
        action both ask here.
        """
        _nested, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        accounts = [format_html("{}: {}", capfirst(User._meta.verbose_name), obj.get_username()) for obj in objs]
        return accounts, model_count, perms_needed, protected
