"""Split a model's raw output stream into visible text and reasoning.

Thinking models (EXAONE 4.0, Qwen3, DeepSeek-R1) write their reasoning between ``<think>`` and ``</think>``
before the answer. When thinking is enabled in the prompt, EXAONE's chat template already ends with
``<think>\\n``, so the stream starts inside the reasoning and only the closing tag appears.

Rules:

* ``<think>`` opens reasoning only before any visible text (later ones are the answer talking about tags);
* ``</think>`` closes reasoning; text after it is the answer;
* whitespace right after either tag is dropped (templates put newlines there);
* tags split across deltas (``"</thi"`` + ``"nk>"``) are recognised: a possible tag prefix is held back.
"""

from __future__ import annotations

from ..types import TextDelta

OPEN_TAG = "<think>"
CLOSE_TAG = "</think>"


def _partial_tag_length(text: str, tag: str) -> int:
    """Length of the longest suffix of ``text`` that is a proper prefix of ``tag``."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


class ReasoningSplitter:
    """Feed raw deltas with :meth:`feed`; each call returns a :class:`TextDelta` (possibly empty)."""

    def __init__(self, *, start_in_reasoning: bool = False, open_tag: str = OPEN_TAG, close_tag: str = CLOSE_TAG):
        self._open_tag = open_tag
        self._close_tag = close_tag
        self._in_reasoning = start_in_reasoning
        self._strip_leading = start_in_reasoning  # the template's newline after <think>
        self._seen_text = False  # visible non-whitespace text emitted: no more opening tags
        self._held = ""
        self.text = ""
        self.reasoning = ""

    @property
    def in_reasoning(self) -> bool:
        return self._in_reasoning

    def feed(self, delta: str) -> TextDelta:
        """Return the text and reasoning that ``delta`` completes."""
        buffer = self._held + delta
        self._held = ""
        text_parts: list[str] = []
        reasoning_parts: list[str] = []
        while buffer:
            if self._in_reasoning:
                index = buffer.find(self._close_tag)
                if index >= 0:
                    reasoning_parts.append(self._strip(buffer[:index]))
                    buffer = buffer[index + len(self._close_tag) :]
                    self._in_reasoning = False
                    self._strip_leading = True
                    continue
                keep = _partial_tag_length(buffer, self._close_tag)
                reasoning_parts.append(self._strip(buffer[: len(buffer) - keep]))
                self._held = buffer[len(buffer) - keep :]
                break
            if self._seen_text:
                text_parts.append(buffer)
                break
            # Before any visible text an opening tag may still come; leading whitespace waits with it.
            stripped = buffer.lstrip()
            if stripped.startswith(self._open_tag):
                buffer = stripped[len(self._open_tag) :]
                self._in_reasoning = True
                self._strip_leading = True
                continue
            if not stripped or self._open_tag.startswith(stripped):
                self._held = buffer
                break
            text_parts.append(self._strip(buffer))
            self._seen_text = True
            break
        result = TextDelta(text="".join(text_parts), reasoning="".join(reasoning_parts))
        self.text += result.text
        self.reasoning += result.reasoning
        return result

    def flush(self) -> TextDelta:
        """Return what is held back at the end of the stream (a partial tag is just text)."""
        held, self._held = self._held, ""
        if not held:
            return TextDelta()
        if self._in_reasoning:
            result = TextDelta(reasoning=self._strip(held))
        else:
            result = TextDelta(text=self._strip(held) if not self._seen_text else held)
        self.text += result.text
        self.reasoning += result.reasoning
        return result

    def _strip(self, piece: str) -> str:
        if self._strip_leading:
            piece = piece.lstrip()
            if piece:
                self._strip_leading = False
        return piece
