"""The configured embedder (KNOWLEDGE_EMBEDDING_MODEL), loaded once per process by :mod:`inference.embedding`."""

from __future__ import annotations

from django.conf import settings

from inference.embedding import Embedder, EmbedderSpec, get_embedder, parse_spec


def current_spec() -> EmbedderSpec:
    return parse_spec(
        settings.KNOWLEDGE_EMBEDDING_MODEL,
        api_key=settings.KNOWLEDGE_EMBEDDING_API_KEY,
        threads=settings.KNOWLEDGE_EMBEDDING_THREADS,
    )


def current_embedder() -> Embedder:
    return get_embedder(current_spec(), allowed_hosts=tuple(settings.KNOWLEDGE_EMBEDDING_ALLOWED_HOSTS))
