"""Sentences, keyword tokens and chunks, Korean-aware (kiwipiepy, whose model ships on PyPI).

Chunks respect sentences and headings: a chunk holds whole sentences of one page under one heading, up to
about ``max_chars`` characters, and a table block is never split between rows of one chunk. Keyword tokens
are what BM25 matches on: Korean content morphemes (nouns, roots of verbs and adjectives, numbers, as
kiwipiepy tags them), lower-cased English words without stop words, and whole codes such as
``pump-42A`` or ``M8`` that carry meaning in any language.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

from assistant.language import detect_language

from .extraction import Block

_KIWI_LOCK = threading.Lock()
_CONTENT_TAGS = {"NNG", "NNP", "NR", "SN", "SH", "XR", "VV", "VA", "MAG"}
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z']+")
#: A sentence end inside what kiwipiepy returned as one sentence (it keeps English runs together).
_LATIN_END_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\uac00-\ud7a3])")
_CODE_RE = re.compile(r"[A-Za-z0-9]+(?:[-_./][A-Za-z0-9]+)*")
_HAS_DIGIT = re.compile(r"\d")
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "by",
        "with",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "as",
        "from",
        "what",
        "which",
        "who",
        "how",
        "when",
        "where",
        "why",
        "do",
        "does",
        "did",
        "can",
        "could",
        "should",
        "would",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "not",
        "no",
        "than",
        "then",
        "there",
        "their",
        "they",
        "them",
        "he",
        "she",
        "we",
        "you",
        "i",
        "me",
        "my",
        "our",
        "your",
    ]
)


@lru_cache(maxsize=1)
def _kiwi():
    from kiwipiepy import Kiwi

    return Kiwi()


def sentences(text: str) -> list[str]:
    """Sentences of ``text``: kiwipiepy's splitter, which knows Korean endings without final punctuation."""
    if not text.strip():
        return []
    with _KIWI_LOCK:
        found = [s.text.strip() for s in _kiwi().split_into_sents(text)]
    return [part.strip() for sentence in found for part in _LATIN_END_RE.split(sentence) if part.strip()]


def keyword_tokens(text: str) -> list[str]:
    """Tokens BM25 matches on, in order, duplicates kept (term frequency counts)."""
    with _KIWI_LOCK:
        morphemes = _kiwi().tokenize(text)
    tokens = []
    for token in morphemes:
        if token.tag not in _CONTENT_TAGS:
            continue
        form = token.form.lower()
        if token.tag in ("VV", "VA"):
            form += "다"  # the dictionary form, the same however the verb was conjugated
        tokens.append(form)
    tokens.extend(w for w in (word.lower().strip("'") for word in _WORD_RE.findall(text)) if w not in _STOP)
    # Codes with digits as whole tokens: kiwipiepy splits "pump-42A" into pump / 42 / A.
    tokens.extend(code.lower() for code in _CODE_RE.findall(text) if _HAS_DIGIT.search(code) and len(code) > 1)
    return tokens


def tokens_field(tokens: list[str]) -> str:
    """Stored form: distinct tokens padded with spaces, so `LIKE '% tok %'` finds whole tokens only."""
    return " " + " ".join(dict.fromkeys(tokens)) + " " if tokens else ""


@dataclass
class Piece:
    page: int
    heading: str
    text: str
    language: str


def chunk_blocks(blocks: list[Block], *, max_chars: int = 900, overlap_sentences: int = 1) -> list[Piece]:
    """Whole sentences per chunk, never across a page or a heading; tables are chunks of their own."""
    pieces: list[Piece] = []
    current: list[str] = []
    key: tuple[int, str] | None = None

    def close() -> None:
        if current:
            text = " ".join(current)
            pieces.append(Piece(key[0] if key else 1, key[1] if key else "", text, detect_language(text)))

    for block in blocks:
        if block.table:
            close()
            current = []
            for part in _split_table(block.text, max_chars * 3):
                pieces.append(Piece(block.page, block.heading, part, detect_language(part)))
            key = None
            continue
        if key != (block.page, block.heading):
            close()
            current = []
            key = (block.page, block.heading)
        for sentence in sentences(block.text):
            for part in _hard_split(sentence, max_chars):
                if current and sum(len(s) + 1 for s in current) + len(part) > max_chars:
                    close()
                    current = current[-overlap_sentences:] if overlap_sentences else []
                    if sum(len(s) for s in current) + len(part) > max_chars:
                        current = []
                current.append(part)
    close()
    return pieces


def _hard_split(sentence: str, max_chars: int) -> list[str]:
    """A "sentence" longer than a chunk (a run-on line, a log dump) is cut at spaces."""
    if len(sentence) <= max_chars:
        return [sentence]
    parts, rest = [], sentence
    while len(rest) > max_chars:
        cut = rest.rfind(" ", 0, max_chars)
        cut = cut if cut > max_chars // 2 else max_chars
        parts.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        parts.append(rest)
    return parts


def _split_table(table: str, max_chars: int) -> list[str]:
    """A long Markdown table becomes several, each repeating the header rows."""
    lines = table.split("\n")
    header, rows = lines[:2], lines[2:]
    parts: list[str] = []
    current: list[str] = []
    for row in rows:
        if current and sum(len(line) + 1 for line in header + current) + len(row) > max_chars:
            parts.append("\n".join(header + current))
            current = []
        current.append(row[:max_chars])
    parts.append("\n".join(header + current))
    return parts
