from django.db.models import QuerySet

from .models import ModelEntry


def model_list(*, kind: str) -> QuerySet[ModelEntry]:
    return ModelEntry.objects.filter(kind=kind, enabled=True)


def model_default(*, kind: str) -> ModelEntry | None:
    return model_list(kind=kind).order_by("-is_default", "id").first()


def model_get(*, kind: str, name: str) -> ModelEntry | None:
    return model_list(kind=kind).filter(name=name).first()


#: Requests an engine decodes together when its options do not say (see each engine in inference/).
_DEFAULT_SLOTS = {
    "llamacpp": ("n_parallel", 4),
    "transformers": ("max_batch_size", 8),
    "openai": ("max_concurrency", 16),
}


def model_capacity(model: ModelEntry) -> int:
    """How many requests ``model``'s engine serves at once, from its options (without loading it)."""
    if model.kind != ModelEntry.Kind.TEXT or model.engine not in _DEFAULT_SLOTS:
        return 1
    option, default = _DEFAULT_SLOTS[model.engine]
    try:
        return max(1, int(model.options.get(option, default)))
    except (TypeError, ValueError):
        return default


def queue_capacity(*, queue: str) -> int:
    """The most requests one model of ``queue`` serves at once: how many jobs a worker should run together."""
    if queue != "text":
        return 1
    return max((model_capacity(m) for m in model_list(kind=ModelEntry.Kind.TEXT)), default=1)
