from django.db.models import QuerySet

from .models import ModelEntry


def model_list(*, kind: str) -> QuerySet[ModelEntry]:
    return ModelEntry.objects.filter(kind=kind, enabled=True)


def model_default(*, kind: str) -> ModelEntry | None:
    return model_list(kind=kind).order_by("-is_default", "id").first()


def model_get(*, kind: str, name: str) -> ModelEntry | None:
    return model_list(kind=kind).filter(name=name).first()
