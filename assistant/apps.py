from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AssistantConfig(AppConfig):
    name = "assistant"
    verbose_name = _("Expert chat")

    def ready(self) -> None:
        from . import generation  # noqa: F401  (registers the chat's job kinds)
