"""What every text engine provides."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable

from ..types import ChatMessage, TextDelta, TextDone, TextRequest


@runtime_checkable
class TextEngine(Protocol):
    """A loaded text model.

    ``stream`` may be called from several threads at once, and should be: every engine batches concurrent
    requests (llama.cpp slots, the transformers batchers, the remote server's own batching), up to ``capacity``
    of them. Size the pool of threads that call ``stream`` from ``capacity``; requests beyond it wait (in the
    engine or its server) and show as ``queued`` in :meth:`stats`.
    """

    #: Model name as shown to users.
    name: str
    #: Context window in tokens (prompt plus answer).
    context_length: int

    @property
    def capacity(self) -> int:
        """How many requests the engine decodes together: llama.cpp's ``n_parallel``, the transformers engine's
        ``max_batch_size``, the openai engine's ``max_concurrency`` (default 16)."""
        ...

    def stats(self) -> dict[str, Any]:
        """A cheap, JSON-ready snapshot for health pages. Always has ``capacity``, ``active`` (requests being
        decoded now), ``queued`` (waiting for a slot) and ``peak_batch`` (most decoded together so far), plus
        ``engine`` (its name) and engine-specific keys (the transformers engine adds its cache budget and use)."""
        ...

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Tokens the rendered chat prompt for ``messages`` takes, counted with the model's tokenizer."""
        ...

    def stream(self, request: TextRequest) -> Iterator[TextDelta | TextDone]:
        """Yield deltas as they are generated, then exactly one :class:`TextDone`."""
        ...

    def close(self) -> None:
        """Free the model's memory."""
        ...
