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
    """Return the messages to send and their prompt token count.

    One pass: the whole prompt is counted once; when it is over, each turn is counted on its own once (small
    inputs), the oldest are dropped until the estimate fits, and the result is counted again to confirm
    (templates are not exactly additive, so a confirmation that is still over drops one more pair).
    """
    budget = context_length - max_new_tokens
    system = [m for m in messages[:1] if m.role == "system"]
    turns = list(messages[len(system) :])
    if not turns:
        raise PromptTooLong("There is no message to answer.")
    used = count_tokens(system + turns)
    if used <= budget:
        return system + turns, used
    empty = count_tokens([ChatMessage("user", "")])
    costs = [max(1, count_tokens([ChatMessage("user", turn.content)]) - empty) for turn in turns[:-1]]
    last = len(turns) - 1
    start, estimate = 0, used
    while True:
        # Drop whole turns from the front, keeping the conversation starting with a user turn.
        while start < last and estimate > budget:
            estimate -= costs[start]
            start += 1
            while start < last and turns[start].role != "user":
                estimate -= costs[start]
                start += 1
        candidate = system + turns[start:]
        used = count_tokens(candidate)
        if used <= budget:
            return candidate, used
        if start >= last:
            raise PromptTooLong(
                f"The message is too long for this model: it needs {used} tokens but only {budget} "
                f"are available after reserving {max_new_tokens} for the answer. Shorten it by about "
                f"{used - budget} tokens or choose a model with a larger context."
            )
        estimate = budget + 1  # the estimate was optimistic: drop at least one more turn, then count again
