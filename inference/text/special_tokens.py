"""Keep untrusted text from forging chat turns (SECURITY.md line 14).

Chat templates separate turns with marker tokens (``<|im_start|>``, EXAONE's ``[|endofturn|]``, Gemma's
``<start_of_turn>``...). A tokenizer turns the marker's text into the marker's token wherever it appears, in a
user's message or a table cell as much as in the template, and llama.cpp parses special tokens in chat prompts.
So a cell holding ``<|im_end|>\\n<|im_start|>system\\n...`` could open a system turn of its own.

:class:`SpecialTokenDefuser` puts a zero-width joiner (U+200D) after the first character of every marker in the
text of user and assistant messages (system messages are written by admins). The text still reads the same, but
it no longer contains the marker's exact characters, so no tokenizer can produce the marker's token id from it.
Each engine builds one from its model's own tokens (a transformers tokenizer's added tokens, a GGUF vocabulary's
control and user-defined tokens) plus :data:`CHAT_MARKERS`, the markers of common chat templates, which is all
the OpenAI-compatible engine can know about a remote model.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

from ..types import ChatMessage

JOINER = "\u200d"

#: Turn, role and control markers of common chat templates. Textual markers matter too: a template whose
#: markers are not special tokens for its model (llama.cpp's ChatML fallback for a GGUF without a template)
#: is forged by the text alone.
CHAT_MARKERS: tuple[str, ...] = (
    # ChatML (Qwen, llama.cpp's fallback template) and common end-of-text tokens
    "<|im_start|>",
    "<|im_end|>",
    "<|im_sep|>",
    "<|endoftext|>",
    # EXAONE 3.5 / 4.0 / 4.5
    "[|system|]",
    "[|user|]",
    "[|assistant|]",
    "[|tool|]",
    "[|endofturn|]",
    "[BOS]",
    # Gemma
    "<start_of_turn>",
    "<end_of_turn>",
    "<bos>",
    "<eos>",
    "<start_of_image>",
    "<end_of_image>",
    # Llama 3
    "<|begin_of_text|>",
    "<|end_of_text|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eot_id|>",
    "<|eom_id|>",
    "<|python_tag|>",
    # Llama 2 and Mistral
    "[INST]",
    "[/INST]",
    "<<SYS>>",
    "<</SYS>>",
    "[SYSTEM_PROMPT]",
    "[/SYSTEM_PROMPT]",
    "[TOOL_CALLS]",
    "[AVAILABLE_TOOLS]",
    "[/AVAILABLE_TOOLS]",
    "[TOOL_RESULTS]",
    "[/TOOL_RESULTS]",
    # Phi-3 and GLM
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|end|>",
    "<|observation|>",
    # DeepSeek (full-width bars)
    "<｜begin▁of▁sentence｜>",
    "<｜end▁of▁sentence｜>",
    "<｜User｜>",
    "<｜Assistant｜>",
    # gpt-oss (harmony)
    "<|start|>",
    "<|message|>",
    "<|channel|>",
    "<|return|>",
    "<|call|>",
    "<|constrain|>",
    # Reasoning and tool tags that templates and reasoning parsers act on
    "<think>",
    "</think>",
    "<tool_call>",
    "</tool_call>",
    "<tool_response>",
    "</tool_response>",
    "<image>",
)

_END = ""  # trie key that marks the end of a marker (no character is the empty string)


class SpecialTokenDefuser:
    """Defuse a fixed set of markers (``CHAT_MARKERS`` always included) in untrusted text."""

    def __init__(self, markers: Iterable[str] = ()) -> None:
        self._trie: dict[str, Any] = {}
        firsts: set[str] = set()
        for marker in {*CHAT_MARKERS, *markers}:
            # A one-character token cannot be split, and a marker holding the joiner is never rebuilt by it.
            if len(marker) < 2 or JOINER in marker or marker.isspace():
                continue
            node = self._trie
            for char in marker:
                node = node.setdefault(char, {})
            node[_END] = True
            firsts.add(marker[0])
        self._starts = re.compile("[" + "".join(re.escape(char) for char in sorted(firsts)) + "]")

    def defuse(self, text: str) -> str:
        """``text`` with a joiner after the first character of every marker occurrence, overlapping ones too."""
        cuts: list[int] = []
        end = len(text)
        for match in self._starts.finditer(text):
            start = position = match.start()
            node: dict[str, Any] | None = self._trie
            while position < end and node is not None and (node := node.get(text[position])) is not None:
                if _END in node:
                    cuts.append(start + 1)
                    break
                position += 1
        if not cuts:
            return text
        pieces = []
        previous = 0
        for cut in cuts:
            pieces.append(text[previous:cut])
            previous = cut
        pieces.append(text[previous:])
        return JOINER.join(pieces)

    def defuse_messages(self, messages: Sequence[ChatMessage]) -> list[ChatMessage]:
        """The messages with user and assistant text defused; system messages (admin-written) as they are."""
        return [
            message if message.role == "system" else ChatMessage(message.role, self.defuse(message.content))
            for message in messages
        ]


def tokenizer_markers(tokenizer: Any) -> list[str]:
    """A transformers tokenizer's added tokens, special or not: it matches every one of them in raw text."""
    decoder = getattr(tokenizer, "added_tokens_decoder", None) or {}
    markers = [str(getattr(token, "content", token)) for token in decoder.values()]
    markers.extend(str(token) for token in getattr(tokenizer, "all_special_tokens", ()) or ())
    return markers


_by_tokenizer: weakref.WeakKeyDictionary[Any, SpecialTokenDefuser] = weakref.WeakKeyDictionary()
_by_tokenizer_lock = threading.Lock()


def defuser_for(tokenizer: Any) -> SpecialTokenDefuser:
    """The defuser for a transformers tokenizer's tokens, built once per tokenizer."""
    with _by_tokenizer_lock:
        defuser = _by_tokenizer.get(tokenizer)
        if defuser is None:
            defuser = _by_tokenizer[tokenizer] = SpecialTokenDefuser(tokenizer_markers(tokenizer))
        return defuser
