from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

from . import services
from .forms import RateLimitedAuthenticationForm


class SignInView(auth_views.LoginView):
    template_name = "registration/login.html"
    authentication_form = RateLimitedAuthenticationForm
    redirect_authenticated_user = True


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Switch the interface language and remember it for the signed-in user."""
    language = request.POST.get("language", "")
    next_url = request.POST.get("next", "/")
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        safe = request.POST.copy()
        safe["next"] = "/"
        # Django's set_language reads "next" from the POST data.
        request.POST = safe  # type: ignore[assignment]
    if request.user.is_authenticated:
        try:
            services.user_set_language(user=request.user, language=language)
        except ValueError:
            return HttpResponseBadRequest("Unsupported language.")
    return django_set_language(request)
