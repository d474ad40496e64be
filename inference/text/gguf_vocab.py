"""Read a GGUF file's vocabulary (token texts and types) from its metadata, without loading the model.

The GGUF header is a list of typed key/value pairs before the tensors; ``tokenizer.ggml.tokens`` holds the
token texts and ``tokenizer.ggml.token_type`` their types (llama.cpp's ``llama_token_type``).
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path
from typing import Any

#: llama.cpp token types that its tokenizer matches as whole tokens in text: unknown, control, user-defined.
UNKNOWN, CONTROL, USER_DEFINED = 2, 3, 4

_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_STRING, _ARRAY = 8, 9


class _Reader:
    def __init__(self, data: mmap.mmap) -> None:
        self.data = data
        self.offset = 0

    def unpack(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.offset)
        self.offset += struct.calcsize("<" + fmt)
        return values

    def string(self) -> bytes:
        (length,) = self.unpack("Q")
        value = self.data[self.offset : self.offset + length]
        self.offset += length
        return value

    def value(self, kind: int, *, keep: bool) -> object:
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])[0]
        if kind == _STRING:
            return self.string()
        if kind == _ARRAY:
            item_kind, count = self.unpack("IQ")
            if item_kind in _SCALARS:
                fmt = f"{count}{_SCALARS[item_kind]}"
                if not keep:
                    self.offset += struct.calcsize("<" + fmt)
                    return None
                return list(self.unpack(fmt))
            items = [self.value(item_kind, keep=keep) for _ in range(count)]
            return items if keep else None
        raise ValueError(f"unknown GGUF value type {kind}")


def read_vocab(path: str | Path) -> list[tuple[str, int]]:
    """``(text, type)`` for every token in the GGUF file at ``path``; empty if it has no vocabulary."""
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        reader = _Reader(data)
        if data[:4] != b"GGUF":
            raise ValueError(f"{path} is not a GGUF file")
        reader.offset = 4
        (version,) = reader.unpack("I")
        _tensors, count = reader.unpack("QQ") if version >= 2 else reader.unpack("II")
        wanted = {"tokenizer.ggml.tokens", "tokenizer.ggml.token_type"}
        found: dict[str, object] = {}
        for _ in range(count):
            key = reader.string().decode("utf-8", "replace")
            (kind,) = reader.unpack("I")
            value = reader.value(kind, keep=key in wanted)
            if key in wanted:
                found[key] = value
                if len(found) == len(wanted):
                    break
    raw_tokens: Any = found.get("tokenizer.ggml.tokens") or []
    raw_types: Any = found.get("tokenizer.ggml.token_type") or []
    tokens = [t.decode("utf-8", "replace") for t in raw_tokens]
    types = list(raw_types)
    return list(zip(tokens, types, strict=False))


def special_token_texts(path: str | Path) -> list[str]:
    """Texts of the tokens llama.cpp's tokenizer matches whole in a prompt (control, unknown, user-defined)."""
    return [text for text, kind in read_vocab(path) if kind in (UNKNOWN, CONTROL, USER_DEFINED)]
