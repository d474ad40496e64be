from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from exaone_web.client_address import client_address

from . import services


class RateLimitedSignIn(AuthenticationForm):
    """Lock a user name from one address, and one address for every name, after repeated failures.

    The base of the app's and the admin's sign-in forms. The address is the client's, as
    :func:`client_address` finds it.
    """

    error_messages = {
        **AuthenticationForm.error_messages,
        "locked": _("Too many failed sign-in attempts. Wait a few minutes and try again."),
    }

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        ip = client_address(self.request) if self.request else ""
        if services.login_is_locked(username=username, ip=ip):
            raise ValidationError(self.error_messages["locked"], code="locked")
        try:
            cleaned = super().clean()
        except ValidationError:
            services.login_record_failure(username=username, ip=ip)
            raise
        services.login_clear_failures(username=username, ip=ip)
        return cleaned


class RateLimitedAuthenticationForm(RateLimitedSignIn):
    """The app's sign-in form."""


class RateLimitedAdminAuthenticationForm(RateLimitedSignIn, AdminAuthenticationForm):
    """The admin's sign-in form (staff only), under the same limits as the app's (SECURITY.md line 21)."""

    error_messages = {**AdminAuthenticationForm.error_messages, **RateLimitedSignIn.error_messages}
