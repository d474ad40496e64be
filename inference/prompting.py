"""Fit a conversation into a model's context window.

Policy: the system message and the newest user message are always kept; older turns are dropped, oldest
first, in whole user/assistant pairs, until the rendered prompt plus the answer budget fits. If the newest
message alone does not fit, :class:`PromptTooLong` tells the user by how much to shorten it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .errors import PromptTooLong
from .types import ChatMessage


def fit_messages(
    messages: Sequence[ChatMessage],
    *,
    count_tokens: Callable[[Sequence[ChatMessage]], int],
    context_length: int,
    max_new_tokens: int,
) -> tuple[list[ChatMessage], int]:
    """Return the messages to send and their prompt token count."""
    budget = context_length - max_new_tokens
    system = [m for m in messages[:1] if m.role == "system"]
    turns = list(messages[len(system) :])
    if not turns:
        raise PromptTooLong("There is no message to answer.")
    # Drop from the front in steps that keep the conversation starting with a user turn.
    while True:
        candidate = system + turns
        used = count_tokens(candidate)
        if used <= budget:
            return candidate, used
        if len(turns) == 1:
            minimal = count_tokens(system + turns[-1:])
            over = minimal - budget
            raise PromptTooLong(
                f"The message is too long for this model: it needs {minimal} tokens but only {budget} "
                f"are available after reserving {max_new_tokens} for the answer. Shorten it by about "
                f"{over} tokens or choose a model with a larger context."
            )
        turns = turns[1:]
        while len(turns) > 1 and turns[0].role != "user":
            turns = turns[1:]
