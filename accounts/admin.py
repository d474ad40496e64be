from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.utils.translation import gettext_lazy as _

from .models import User


@admin.register(User)
class ExaoneUserAdmin(UserAdmin):
    list_display = ("username", "email", "role", "language", "daily_token_quota", "is_active", "is_staff")
    list_filter = ("role", "is_active", "is_staff", "language")
    fieldsets = (
        *UserAdmin.fieldsets,
        (_("Assistant"), {"fields": ("role", "language", "daily_token_quota")}),
    )
