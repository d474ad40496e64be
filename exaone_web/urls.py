from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from django.views.i18n import JavaScriptCatalog

from accounts.forms import RateLimitedAdminAuthenticationForm

from . import health

admin.site.site_header = "EXAONE Web"
# The most privileged accounts sign in here: the same failure limits as the app's sign-in page.
admin.site.login_form = RateLimitedAdminAuthenticationForm

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="assistant:chat", permanent=False)),
    path("healthz", health.healthz, name="healthz"),
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("accounts/", include("accounts.urls")),
    path("admin/", admin.site.urls),
    path("knowledge/", include("knowledge.urls")),
    path("", include("apikeys.urls")),
    path("", include("assistant.urls")),
    path("", include("studio.urls")),
]
