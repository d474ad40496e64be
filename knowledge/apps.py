from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    name = "knowledge"
    verbose_name = "Knowledge base"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from assistant import grounding

        from . import answering, ingestion  # noqa: F401  (registers the job kinds)

        grounding.register(answering.evidence_for)

        from . import api_provider

        api_provider.register()  # /v1/embeddings (issue 13)
