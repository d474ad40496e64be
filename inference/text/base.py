"""What every text engine provides."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from ..types import ChatMessage, TextDelta, TextDone, TextRequest


@runtime_checkable
class TextEngine(Protocol):
    """A loaded text model.

    ``stream`` may be called from several threads at once; engines that can batch concurrent requests
    (llama.cpp slots, the transformers batcher) do so, the others serialise internally.
    """

    #: Model name as shown to users.
    name: str
    #: Context window in tokens (prompt plus answer).
    context_length: int

    def count_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Tokens the rendered chat prompt for ``messages`` takes, counted with the model's tokenizer."""
        ...

    def stream(self, request: TextRequest) -> Iterator[TextDelta | TextDone]:
        """Yield deltas as they are generated, then exactly one :class:`TextDone`."""
        ...

    def close(self) -> None:
        """Free the model's memory."""
        ...
