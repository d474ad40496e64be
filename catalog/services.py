"""Writes for the model registry."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from .models import ModelEntry

GEMMA_FILE = "gemma-3-270m-q4_k_m.gguf"

#: The offline demo set that `make setup` builds. Names are stable; paths are relative to MODELS_DIR.
DEMO_MODELS: list[dict[str, Any]] = [
    {
        "name": "gemma-3-270m-demo",
        "display_name": "Gemma 3 270M (GGUF)",
        "kind": ModelEntry.Kind.TEXT,
        "engine": ModelEntry.Engine.LLAMACPP,
        "path": GEMMA_FILE,
        "hub_id": "google/gemma-3-270m",
        "licence": "Gemma Terms of Use",
        "context_length": 4096,
        # The packaged GGUF is a base model with a ChatML template; stop at its turn markers.
        "options": {"n_parallel": 4, "stop": ["<|im_end|>", "<|im_start|>", "<end_of_turn>"]},
        "default_sampling": {
            "temperature": 0.7,
            "top_p": 0.95,
            "top_k": 40,
            "repetition_penalty": 1.1,
            "max_new_tokens": 512,
        },
        "is_default": True,
    },
    {
        "name": "exaone4-tiny-demo",
        "display_name": "EXAONE 4.0 tiny (random weights)",
        "kind": ModelEntry.Kind.TEXT,
        "engine": ModelEntry.Engine.TRANSFORMERS,
        "path": "exaone4-tiny",
        "licence": "Apache-2.0 (built by this project)",
        "context_length": 2048,
        "default_sampling": {"temperature": 0.8, "max_new_tokens": 128},
    },
    {
        "name": "sd-tiny-demo",
        "display_name": "Stable Diffusion tiny (random weights)",
        "kind": ModelEntry.Kind.IMAGE,
        "engine": ModelEntry.Engine.DIFFUSERS,
        "path": "sd-tiny",
        "licence": "Apache-2.0 (built by this project)",
        "is_default": True,
    },
    {
        "name": "vlm-tiny-demo",
        "display_name": "Vision-language tiny (random weights)",
        "kind": ModelEntry.Kind.VISION,
        "engine": ModelEntry.Engine.TRANSFORMERS,
        "path": "vlm-tiny",
        "licence": "Apache-2.0 (built by this project)",
        "context_length": 2048,
        "is_default": True,
    },
    {
        "name": "upscaler-tiny-demo",
        "display_name": "x4 upscaler tiny (random weights)",
        "kind": ModelEntry.Kind.UPSCALE,
        "engine": ModelEntry.Engine.DIFFUSERS,
        "path": "upscaler-tiny",
        "licence": "Apache-2.0 (built by this project)",
        "is_default": True,
        # A few steps: the demo upscaler's output is noise whatever it runs, so keep it quick on a CPU.
        "default_sampling": {"steps": 4},
    },
]


@transaction.atomic
def model_register(*, name: str, **fields: Any) -> ModelEntry:
    """Create or update a model entry by name; a new default demotes the old one of its kind."""
    entry = ModelEntry.objects.filter(name=name).first() or ModelEntry(name=name)
    for key, value in fields.items():
        setattr(entry, key, value)
    entry.full_clean()
    if entry.is_default:
        ModelEntry.objects.filter(kind=entry.kind, is_default=True).exclude(name=name).update(is_default=False)
    entry.save()
    return entry


def demo_models_register(*, names: set[str] | None = None) -> list[ModelEntry]:
    entries = []
    for spec in DEMO_MODELS:
        if names is not None and spec["name"] not in names:
            continue
        fields = {k: v for k, v in spec.items() if k != "name"}
        # Keep an admin's choice of default once models exist.
        if ModelEntry.objects.filter(name=spec["name"]).exists():
            fields.pop("is_default", None)
        entries.append(model_register(name=spec["name"], demo=True, **fields))
    return entries
