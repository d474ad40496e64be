"""Image to text (caption, ten keywords, answers) on the tiny random vision model: the real engine path."""

from __future__ import annotations

import pytest
from PIL import Image

pytest.importorskip("torch", reason="needs the ML extra: pip install -e '.[ml]'")
pytest.importorskip("transformers", reason="needs the ML extra: pip install -e '.[ml]'")

from inference.demo.vision import build_vision_model
from inference.errors import InvalidRequest
from inference.types import ModelSpec
from inference.vision.describe import KEYWORDS, MAX_QUESTIONS, describe
from inference.vision.hf import VisionEngine, instruction


class Recording:
    """The real engine, remembering each request it ran (to check the language asked for)."""

    def __init__(self, engine: VisionEngine) -> None:
        self.engine = engine
        self.requests: list = []

    def run(self, request):
        self.requests.append(request)
        return self.engine.run(request)


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    path = build_vision_model(tmp_path_factory.mktemp("vlm") / "tiny-vlm", seed=0)
    loaded = VisionEngine.from_spec(ModelSpec(name="demo-vlm", kind="vision", engine="transformers", path=str(path)))
    yield loaded
    loaded.close()


def picture() -> Image.Image:
    image = Image.new("RGB", (96, 64), (200, 40, 40))
    image.paste((30, 30, 220), (48, 0, 96, 64))
    return image


@pytest.mark.parametrize("language", ["ko", "en"])
def test_caption_keywords_and_answer_in_the_asked_language(engine, language):
    recording = Recording(engine)
    steps: list[tuple[str, int, int]] = []
    result = describe(
        recording,
        picture(),
        language=language,
        questions=["What colours are there?"],
        progress=lambda task, done, total: steps.append((task, done, total)),
    )
    assert [s[0] for s in steps] == ["caption", "keywords", "question"]
    assert [r.language for r in recording.requests] == [language] * 3
    hangul = any("\uac00" <= c <= "\ud7a3" for c in instruction(recording.requests[0]))
    assert hangul == (language == "ko")
    assert result.language == language
    assert result.model == "demo-vlm"
    assert isinstance(result.caption, str)
    assert result.keywords_wanted == KEYWORDS
    assert len(result.keywords) <= KEYWORDS
    assert result.as_dict()["keywords_found"] == len(result.keywords)
    assert len({k.casefold() for k in result.keywords}) == len(result.keywords)
    assert [a.question for a in result.answers] == ["What colours are there?"]
    assert not result.cancelled
    assert set(result.timings) == {"caption", "keywords", "question2"}


def test_cancel_before_start_runs_nothing(engine):
    recording = Recording(engine)
    result = describe(recording, picture(), cancel=lambda: True)
    assert result.cancelled and recording.requests == []


def test_too_many_questions_are_refused(engine):
    with pytest.raises(InvalidRequest):
        describe(engine, picture(), questions=["why?"] * (MAX_QUESTIONS + 1))
