"""Image to text for designers: a caption of several sentences, ten keywords, and answers to questions.

One call runs the engine's three tasks in turn (caption, keywords, then each question) so a job reports
progress between them and a cancel stops between tokens. Keyword parsing is robust to whatever a model
writes: the result holds at most ``keywords`` distinct keywords and says how many the model actually gave,
so the page can show "7 of 10" instead of padding with invented words.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from ..errors import InvalidRequest
from ..types import never_cancelled
from .types import MAX_QUESTION_CHARS, Language, VisionRequest, VisionResult, parse_keywords

CAPTION_SENTENCES = 3
KEYWORDS = 10
MAX_QUESTIONS = 5
CAPTION_TOKENS = 192
KEYWORD_TOKENS = 96
ANSWER_TOKENS = 192

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Answer:
    question: str
    answer: str


@dataclass
class Description:
    """What the model said about one image, in ``language``."""

    language: Language
    caption: str = ""
    keywords: list[str] = field(default_factory=list)
    #: How many keywords were asked for; ``len(keywords)`` is how many the model gave (never padded).
    keywords_wanted: int = KEYWORDS
    answers: list[Answer] = field(default_factory=list)
    model: str = ""
    cancelled: bool = False
    #: Milliseconds per task.
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def keywords_complete(self) -> bool:
        return len(self.keywords) == self.keywords_wanted

    def as_dict(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "caption": self.caption,
            "keywords": self.keywords,
            "keywords_wanted": self.keywords_wanted,
            "keywords_found": len(self.keywords),
            "answers": [{"question": a.question, "answer": a.answer} for a in self.answers],
            "model": self.model,
            "cancelled": self.cancelled,
            "timings": self.timings,
        }


def check_questions(questions: Sequence[str]) -> list[str]:
    """The non-empty questions, stripped; at most MAX_QUESTIONS of at most MAX_QUESTION_CHARS each."""
    cleaned = [q.strip() for q in questions if isinstance(q, str) and q.strip()]
    if len(cleaned) > MAX_QUESTIONS:
        raise InvalidRequest(f"Ask at most {MAX_QUESTIONS} questions at a time; got {len(cleaned)}.")
    for question in cleaned:
        if len(question) > MAX_QUESTION_CHARS:
            raise InvalidRequest(f"A question is {len(question)} characters long; the limit is {MAX_QUESTION_CHARS}.")
    return cleaned


def describe(
    engine: Any,
    image: Image.Image,
    *,
    language: Language = "en",
    questions: Sequence[str] = (),
    caption: bool = True,
    keywords: int = KEYWORDS,
    cancel: Callable[[], bool] = never_cancelled,
    progress: Progress | None = None,
) -> Description:
    """Ask ``engine`` (a VisionEngine) for a caption, ``keywords`` keywords and an answer per question.

    ``progress(task, done, total)`` is called before each task. Stops early (``cancelled``) when ``cancel``
    returns True; what was finished is kept.
    """
    asked = check_questions(questions)
    requests: list[tuple[str, VisionRequest]] = []
    if caption:
        requests.append(
            (
                "caption",
                VisionRequest(
                    image=image,
                    task="caption",
                    language=language,
                    sentences=CAPTION_SENTENCES,
                    max_new_tokens=CAPTION_TOKENS,
                    cancel=cancel,
                ),
            )
        )
    if keywords:
        requests.append(
            (
                "keywords",
                VisionRequest(
                    image=image,
                    task="keywords",
                    language=language,
                    max_keywords=keywords,
                    max_new_tokens=KEYWORD_TOKENS,
                    cancel=cancel,
                ),
            )
        )
    for question in asked:
        requests.append(
            (
                "question",
                VisionRequest(
                    image=image,
                    task="question",
                    question=question,
                    language=language,
                    max_new_tokens=ANSWER_TOKENS,
                    cancel=cancel,
                ),
            )
        )
    result = Description(language=language, keywords_wanted=keywords)
    for index, (task, request) in enumerate(requests):
        if cancel():
            result.cancelled = True
            break
        if progress is not None:
            progress(task, index, len(requests))
        started = time.perf_counter()
        answer: VisionResult = engine.run(request)
        result.model = answer.model or result.model
        result.timings[f"{task}{index}" if task == "question" else task] = round(
            (time.perf_counter() - started) * 1000, 1
        )
        if answer.finish_reason == "cancelled":
            result.cancelled = True
        _keep(result, task, request, answer)
        if result.cancelled:
            break
    return result


def _keep(result: Description, task: str, request: VisionRequest, answer: VisionResult) -> None:
    text = " ".join(answer.text.split())
    if task == "caption":
        result.caption = text
    elif task == "keywords":
        result.keywords = answer.keywords or parse_keywords(answer.text, request.max_keywords)
    else:
        result.answers.append(Answer(question=request.question.strip(), answer=text))
