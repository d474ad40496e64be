from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiKeysConfig(AppConfig):
    name = "apikeys"
    verbose_name = _("API access")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import audit

        audit.connect_signals()
