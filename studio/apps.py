from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StudioConfig(AppConfig):
    name = "studio"
    verbose_name = _("Design studio")

    def ready(self) -> None:
        from . import (
            api_provider,
            generation,  # noqa: F401  (registers the studio's job kinds)
        )
        from .refine import jobs  # noqa: F401  (refine, describe and export: issue 11)

        api_provider.register()  # /v1/images/generations (issue 13)
