"""Where the studio and the knowledge base plug into ``/v1/images/generations`` and ``/v1/embeddings``.

The API side (keys, scopes, validation, limits, usage, OpenAI's shapes) is here; the work itself belongs to
the studio (an image job on the ``image`` queue) and the knowledge base (its embedding model). Each app
registers one provider at start-up (``AppConfig.ready``); until then the endpoints answer 503 saying so.
Providers run in a worker thread of the web process (``sync_to_async``) and must bound their own wait.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from accounts.models import User


@dataclass(frozen=True)
class ImageRequest:
    user: User
    prompt: str
    width: int
    height: int
    n: int
    model: str = ""
    seed: int | None = None
    #: True while the client is still there; a provider checks it between steps and stops when False.
    wanted: Callable[[], bool] = lambda: True


@dataclass(frozen=True)
class GeneratedImage:
    #: PNG bytes (for ``response_format: b64_json``).
    png: bytes
    #: A signed, expiring URL to the stored image (for ``response_format: url``).
    url: str
    revised_prompt: str = ""


class ImageProvider(Protocol):
    def models(self, user: User) -> list[str]: ...

    def generate(self, request: ImageRequest) -> list[GeneratedImage]:
        """Run the studio's own job for ``request`` (its permissions and queue) and return its images."""
        ...


class EmbeddingProvider(Protocol):
    def models(self, user: User) -> list[str]: ...

    def embed(self, *, user: User, model: str, texts: list[str]) -> tuple[list[list[float]], int]:
        """Vectors for ``texts`` and the prompt tokens used."""
        ...


_providers: dict[str, object] = {}


def register_images(provider: ImageProvider) -> None:
    _providers["images"] = provider


def register_embeddings(provider: EmbeddingProvider) -> None:
    _providers["embeddings"] = provider


def images() -> ImageProvider | None:
    return _providers.get("images")  # type: ignore[return-value]


def embeddings() -> EmbeddingProvider | None:
    return _providers.get("embeddings")  # type: ignore[return-value]
