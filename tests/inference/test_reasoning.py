"""Splitting a raw model stream into answer text and reasoning."""

from __future__ import annotations

import random

import pytest

from inference.text.reasoning import ReasoningSplitter
from inference.types import TextDelta


def _split(pieces: list[str], *, start_in_reasoning: bool = False) -> tuple[str, str, list[TextDelta]]:
    splitter = ReasoningSplitter(start_in_reasoning=start_in_reasoning)
    deltas = [splitter.feed(piece) for piece in pieces]
    deltas.append(splitter.flush())
    text = "".join(d.text for d in deltas)
    reasoning = "".join(d.reasoning for d in deltas)
    assert (text, reasoning) == (splitter.text, splitter.reasoning)
    return text, reasoning, deltas


def _random_chunks(text: str, rng: random.Random) -> list[str]:
    chunks, index = [], 0
    while index < len(text):
        size = rng.randint(1, 5)
        chunks.append(text[index : index + size])
        index += size
    return chunks


RAW = "<think>\n사용자가 인사를 했다. 2 < 3 이고 a</b.\n</think>\n\n안녕하세요! <b>반가워요</b>"


def test_reasoning_and_answer_are_separated():
    text, reasoning, _ = _split([RAW])

    assert reasoning == "사용자가 인사를 했다. 2 < 3 이고 a</b.\n"
    assert text == "안녕하세요! <b>반가워요</b>"


def test_tags_split_anywhere_across_deltas_give_the_same_result():
    expected = _split([RAW])[:2]
    rng = random.Random(11)

    for _ in range(200):
        assert _split(_random_chunks(RAW, rng))[:2] == expected
    assert _split(list(RAW))[:2] == expected


def test_a_partial_closing_tag_is_held_back_until_it_is_resolved():
    splitter = ReasoningSplitter(start_in_reasoning=True)

    first = splitter.feed("thinking </thi")
    second = splitter.feed("nk>answer")

    assert first == TextDelta(reasoning="thinking ")
    assert second == TextDelta(text="answer")


def test_stream_that_starts_inside_reasoning_needs_no_opening_tag():
    # EXAONE 4.0 with enable_thinking: the template already wrote "<think>\n".
    text, reasoning, deltas = _split(
        ["Let me ", "think.", "\n</think>", "\n\nThe answer ", "is 4."], start_in_reasoning=True
    )

    assert reasoning == "Let me think.\n"
    assert text == "The answer is 4."
    assert deltas[0] == TextDelta(reasoning="Let me ")


def test_empty_thinking_block_yields_only_the_answer():
    text, reasoning, _ = _split(["<think>\n\n</think>\n\n", "Hello"])

    assert (text, reasoning) == ("Hello", "")


def test_text_without_tags_is_all_answer():
    text, reasoning, deltas = _split(["Hello ", "world", " 😀"])

    assert (text, reasoning) == ("Hello world 😀", "")
    assert [d.text for d in deltas[:3]] == ["Hello ", "world", " 😀"]


def test_opening_tag_after_visible_text_is_part_of_the_answer():
    text, reasoning, _ = _split(["Use the ", "<think>", " tag like this."])

    assert (text, reasoning) == ("Use the <think> tag like this.", "")


def test_unclosed_reasoning_stays_reasoning():
    text, reasoning, _ = _split(["<thi", "nk>", "still thinking when the budget ran out"])

    assert (text, reasoning) == ("", "still thinking when the budget ran out")


@pytest.mark.parametrize("tail", ["<", "<th", "<think"])
def test_partial_tag_at_the_end_of_the_stream_is_flushed_as_text(tail):
    text, reasoning, _ = _split(["Answer ", tail])

    assert (text, reasoning) == ("Answer " + tail, "")


def test_leading_whitespace_before_an_opening_tag_is_tolerated():
    text, reasoning, _ = _split(["\n", " <think>", "plan</think>", "done"])

    assert (text, reasoning) == ("done", "plan")
