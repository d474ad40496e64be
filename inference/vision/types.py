"""Typed requests and results for image understanding (caption, keywords, questions about an image)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from PIL import Image

from ..errors import InvalidRequest
from ..images_in import MAX_INPUT_PIXELS
from ..types import FinishReason, Timings, Usage, never_cancelled

Task = Literal["caption", "keywords", "question"]
Language = Literal["ko", "en"]

TASKS: tuple[str, ...] = ("caption", "keywords", "question")
LANGUAGES: tuple[str, ...] = ("ko", "en")
MAX_SENTENCES = 5
MAX_KEYWORDS = 30
MAX_NEW_TOKENS = 2048
MAX_QUESTION_CHARS = 4000
MAX_SEED = 2**32 - 1


@dataclass(frozen=True)
class VisionRequest:
    image: Image.Image
    task: Task = "caption"
    #: The user's question (task "question" only).
    question: str = ""
    #: Language of the answer; the instruction asks the model for it.
    language: Language = "en"
    #: Caption length in sentences (task "caption").
    sentences: int = 2
    #: Most keywords returned (task "keywords").
    max_keywords: int = 10
    max_new_tokens: int = 256
    #: 0 decodes greedily (the same image gives the same answer); above 0 samples.
    temperature: float = 0.0
    seed: int | None = None
    #: Polled before every token; return True to stop.
    cancel: Callable[[], bool] = never_cancelled

    def __post_init__(self) -> None:
        if not isinstance(self.image, Image.Image):
            raise InvalidRequest("image must be a PIL image; open uploads with inference.images_in.open_image.")
        width, height = self.image.size
        if width < 1 or height < 1 or width * height > MAX_INPUT_PIXELS:
            raise InvalidRequest(
                f"The image is {width}x{height}; it must have pixels and at most {MAX_INPUT_PIXELS} of them."
            )
        if self.task not in TASKS:
            raise InvalidRequest(f"Unknown task {self.task!r}: use {', '.join(TASKS)}.")
        if self.language not in LANGUAGES:
            raise InvalidRequest(f"Unknown language {self.language!r}: use ko or en.")
        if not isinstance(self.question, str):
            raise InvalidRequest("question must be text.")
        if len(self.question) > MAX_QUESTION_CHARS:
            raise InvalidRequest(
                f"The question is {len(self.question)} characters long; the limit is {MAX_QUESTION_CHARS}."
            )
        if self.task == "question" and not self.question.strip():
            raise InvalidRequest("Write the question to ask about the image.")
        if self.task != "question" and self.question.strip():
            raise InvalidRequest(f"A question only goes with task 'question', not {self.task!r}.")
        _check_int("sentences", self.sentences, 1, MAX_SENTENCES)
        _check_int("max_keywords", self.max_keywords, 1, MAX_KEYWORDS)
        _check_int("max_new_tokens", self.max_new_tokens, 1, MAX_NEW_TOKENS)
        if (
            isinstance(self.temperature, bool)
            or not isinstance(self.temperature, int | float)
            or not math.isfinite(self.temperature)
            or not 0.0 <= self.temperature <= 2.0
        ):
            raise InvalidRequest("temperature must be a number between 0 and 2.")
        if self.seed is not None:
            _check_int("seed", self.seed, 0, MAX_SEED)
        if not callable(self.cancel):
            raise InvalidRequest("cancel must be a function that returns True to stop.")


@dataclass(frozen=True)
class VisionDelta:
    """A piece of the answer, as it is generated."""

    text: str


@dataclass(frozen=True)
class VisionResult:
    """The whole answer; the last event of a stream."""

    text: str
    finish_reason: FinishReason
    usage: Usage
    timings: Timings
    #: Parsed from ``text`` for task "keywords"; empty for the other tasks.
    keywords: list[str] = field(default_factory=list)
    task: Task = "caption"
    language: Language = "en"
    model: str = ""


# Separators models put between keywords: commas (Latin and CJK), semicolons, slashes, middle dots, lines.
_KEYWORD_SPLIT = re.compile(r"[,\n;/|\u3001\uff0c\uff1b\u00b7\u2022]+")
# Control characters (an untrained or confused model emits them) never belong in a keyword.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# List markers and labels in front of a keyword: "1.", "2)", "-", "*", "#", "Keywords:", "키워드:".
_KEYWORD_PREFIX = re.compile(r"^\s*(?:(?:keywords?|키워드)\s*[:：]\s*)?(?:[-*#•]+|\d+[.)])?\s*", re.IGNORECASE)


def parse_keywords(text: str, limit: int) -> list[str]:
    """Split a model's keyword answer into at most ``limit`` distinct, cleaned keywords."""
    keywords: list[str] = []
    seen: set[str] = set()
    for piece in _KEYWORD_SPLIT.split(_CONTROL.sub("", text)):
        word = _KEYWORD_PREFIX.sub("", piece).strip().strip("\"'`“”‘’「」『』[](){}").strip(" .。!！?？:：")
        word = " ".join(word.split())
        if not word or len(word) > 60:  # a whole sentence is not a keyword
            continue
        key = word.casefold()
        if key in seen:
            continue
        seen.add(key)
        keywords.append(word)
        if len(keywords) == limit:
            break
    return keywords


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"{name} must be a whole number between {low} and {high}.")
    if not low <= value <= high:
        raise InvalidRequest(f"{name} must be between {low} and {high}; got {value}.")
