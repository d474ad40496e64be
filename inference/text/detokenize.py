"""Turn token ids into text one token at a time, without ever showing half a character.

Byte-level tokenizers split a Hangul syllable (3 UTF-8 bytes) or an emoji (4 bytes, or several code points)
over several tokens. Decoding each token on its own shows U+FFFD; waiting for a space (as transformers'
``TextIteratorStreamer`` does) holds a whole Korean phrase back. Instead we decode a short window of recent
tokens and emit every character that is complete, keeping back only trailing bytes that do not form a
character yet.

The window starts a few tokens back (``prefix``) so tokenizers that treat the first token of a text specially
(SentencePiece drops its leading space) decode the new tokens exactly as they would inside the full text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

REPLACEMENT = "\ufffd"


class Decoder(Protocol):
    def decode(self, token_ids: Sequence[int], skip_special_tokens: bool = ...) -> str: ...


class IncrementalDetokenizer:
    """Feed token ids with :meth:`push`, get text deltas back; call :meth:`flush` once at the end.

    The joined deltas equal ``tokenizer.decode(all_ids, skip_special_tokens=...)``, except that U+FFFD from
    invalid byte sequences and NUL characters (which only a broken or random model produces) are dropped.
    Not thread-safe: use one per stream.
    """

    def __init__(self, tokenizer: Decoder, *, skip_special_tokens: bool = True) -> None:
        self._tokenizer = tokenizer
        self._skip_special = skip_special_tokens
        self._ids: list[int] = []
        # ids[_prefix:_read] were emitted and give context; ids[_read:] are new since the last clean boundary.
        self._prefix = 0
        self._read = 0
        # Characters of decode(ids[_prefix:]) already emitted (the prefix text plus any complete characters
        # emitted from a token run that still ends in an incomplete character).
        self._emitted = 0
        self._parts: list[str] = []

    @property
    def token_ids(self) -> list[int]:
        return list(self._ids)

    @property
    def text(self) -> str:
        """Everything emitted so far."""
        return "".join(self._parts)

    def push(self, token_id: int) -> str:
        """Add one token; return the newly completed text (often one character, possibly empty)."""
        self._ids.append(int(token_id))
        window = self._decode(self._ids[self._prefix :])
        stable = window.rstrip(REPLACEMENT)  # a trailing U+FFFD may be a character still missing bytes
        delta = stable[self._emitted :] if len(stable) > self._emitted else ""
        self._emitted = max(self._emitted, len(stable))
        if len(stable) == len(window):
            # Clean character boundary: slide the window so each decode stays a few tokens long.
            self._prefix, self._read = self._read, len(self._ids)
            self._emitted = len(self._decode(self._ids[self._prefix : self._read]))
        return self._emit(delta)

    def extend(self, token_ids: Iterable[int]) -> str:
        return "".join(self.push(token_id) for token_id in token_ids)

    def flush(self) -> str:
        """Return whatever is left at the end of the stream (incomplete trailing bytes are dropped)."""
        window = self._decode(self._ids[self._prefix :])
        delta = window[self._emitted :]
        self._prefix = self._read = len(self._ids)
        self._emitted = 0
        return self._emit(delta)

    def _decode(self, ids: Sequence[int]) -> str:
        if not ids:
            return ""
        return self._tokenizer.decode(ids, skip_special_tokens=self._skip_special)

    def _emit(self, delta: str) -> str:
        # A U+FFFD before the end of the window comes from invalid bytes, not from a character in progress.
        # NUL is dropped too: no model means it, and PostgreSQL cannot store it in text.
        delta = delta.replace(REPLACEMENT, "").replace("\x00", "")
        if delta:
            self._parts.append(delta)
        return delta
