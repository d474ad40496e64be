"""The streaming detokenizer on the tiny EXAONE tokenizer: Korean, emoji and code split over byte tokens."""

from __future__ import annotations

import random

import pytest

from inference.text.detokenize import REPLACEMENT, IncrementalDetokenizer

KOREAN_WORDS = ["안녕하세요", "한국어", "서울", "감사합니다", "인공지능", "데이터", "학생들은", "도서관에서"]
ENGLISH_WORDS = ["Hello", "world", "the", "model", "capital", "Seoul", "step", "answer", "quick"]
EMOJI = ["😀", "🎉", "👍", "🇰🇷", "❤️", "👩‍💻", "👍🏽", "🤖", "🧑‍🤝‍🧑", "☕"]
CODE = ["def f(x):\n    return x * 2\n", "for i in range(3): print(i)", "{'a': [1, 2]}", "a && b || !c", "\t"]
OTHER = [" ", "\n", ". ", ", ", "?", "!", "123", "3.14", "ÿ", "中文", "日本語", "ภาษาไทย", "ĳ"]


def _random_syllable(rng: random.Random) -> str:
    return chr(rng.randint(0xAC00, 0xD7A3))  # any of the 11,172 Hangul syllables, most unseen in training


def _random_text(rng: random.Random) -> str:
    pieces = []
    for _ in range(rng.randint(1, 12)):
        kind = rng.random()
        if kind < 0.25:
            pieces.append("".join(_random_syllable(rng) for _ in range(rng.randint(1, 6))))
        elif kind < 0.4:
            pieces.append(rng.choice(KOREAN_WORDS))
        elif kind < 0.55:
            pieces.append(rng.choice(ENGLISH_WORDS))
        elif kind < 0.7:
            pieces.append(rng.choice(EMOJI))
        elif kind < 0.8:
            pieces.append(rng.choice(CODE))
        else:
            pieces.append(rng.choice(OTHER))
    return "".join(pieces)


def _stream(tokenizer, ids: list[int]) -> tuple[list[str], str]:
    detokenizer = IncrementalDetokenizer(tokenizer)
    deltas = [detokenizer.push(token_id) for token_id in ids]
    deltas.append(detokenizer.flush())
    return deltas, detokenizer.text


def _byte_token(tokenizer, byte: int) -> int:
    """The id of the single-byte token for ``byte`` in a byte-level (GPT-2 style) BPE vocabulary."""
    # Byte-level BPE writes each byte as a printable character: printable Latin-1 bytes stand for themselves,
    # the others are numbered from U+0100 upwards in byte order.
    printable = [*range(0x21, 0x7F), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    others = [b for b in range(256) if b not in printable]
    char = chr(byte) if byte in printable else chr(0x100 + others.index(byte))
    token_id = tokenizer.convert_tokens_to_ids(char)
    assert isinstance(token_id, int) and token_id != tokenizer.unk_token_id
    return token_id


def test_fuzzed_bilingual_text_streams_exactly_without_replacement_characters(tiny_exaone_tokenizer):
    tokenizer = tiny_exaone_tokenizer
    rng = random.Random(20240815)
    split_characters = 0

    for _ in range(300):
        text = _random_text(rng)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]

        deltas, joined = _stream(tokenizer, ids)

        assert "".join(deltas) == joined == tokenizer.decode(ids, skip_special_tokens=True) == text
        assert not any(REPLACEMENT in delta for delta in deltas), (text, deltas)
        split_characters += sum(REPLACEMENT in tokenizer.decode([i]) for i in ids)
    # The fuzz is only meaningful if many characters really were split over several tokens.
    assert split_characters > 300


def test_every_complete_character_is_emitted_as_soon_as_its_last_byte_arrives(tiny_exaone_tokenizer):
    tokenizer = tiny_exaone_tokenizer
    rng = random.Random(7)

    for _ in range(60):
        ids = tokenizer(_random_text(rng), add_special_tokens=False)["input_ids"]
        detokenizer = IncrementalDetokenizer(tokenizer)

        for count, token_id in enumerate(ids, start=1):
            detokenizer.push(token_id)
            # Nothing complete is held back (unlike TextIteratorStreamer, which waits for a space).
            assert detokenizer.text == tokenizer.decode(ids[:count]).rstrip(REPLACEMENT)


def test_pure_hangul_comes_out_one_syllable_at_a_time(tiny_exaone_tokenizer):
    tokenizer = tiny_exaone_tokenizer
    rng = random.Random(3)
    # Rare syllables are not merged in the vocabulary: each takes three byte tokens.
    text = "".join(_random_syllable(rng) for _ in range(40))
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) > len(text)

    deltas, joined = _stream(tokenizer, ids)
    shown = [delta for delta in deltas if delta]

    assert joined == text
    assert len(shown) >= len(text) - 2
    assert max(len(delta) for delta in shown) <= 2


def test_common_korean_words_come_out_as_whole_tokens(tiny_exaone_tokenizer):
    tokenizer = tiny_exaone_tokenizer
    text = "안녕하세요. 감사합니다! 서울입니다."
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]

    deltas, joined = _stream(tokenizer, ids)

    # Hangul merges make Korean efficient: far fewer tokens than UTF-8 bytes.
    assert len(ids) < len(text.encode("utf-8")) / 3
    assert joined == text
    assert [d for d in deltas if d] == [tokenizer.decode([i]) for i in ids]


def test_special_tokens_are_skipped(tiny_exaone_tokenizer):
    tokenizer = tiny_exaone_tokenizer
    ids = tokenizer("안녕 hello", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]

    deltas, joined = _stream(tokenizer, ids)

    assert joined == "안녕 hello"
    assert deltas[-2:] == ["", ""]


@pytest.mark.parametrize("cut", [1, 2])
def test_incomplete_character_at_the_end_is_dropped_not_shown_broken(tiny_exaone_tokenizer, cut):
    tokenizer = tiny_exaone_tokenizer
    syllable_bytes = "힣".encode()
    ids = tokenizer("abc", add_special_tokens=False)["input_ids"]
    ids += [_byte_token(tokenizer, b) for b in syllable_bytes[:cut]]

    deltas, joined = _stream(tokenizer, ids)

    assert joined == "abc"
    assert not any(REPLACEMENT in d for d in deltas)


def test_invalid_bytes_in_the_middle_are_dropped(tiny_exaone_tokenizer):
    tokenizer = tiny_exaone_tokenizer
    stray = _byte_token(tokenizer, 0x80)  # a continuation byte with no lead byte: never valid UTF-8
    ids = tokenizer("가", add_special_tokens=False)["input_ids"] + [stray]
    ids += tokenizer("나 ok", add_special_tokens=False)["input_ids"]

    deltas, joined = _stream(tokenizer, ids)

    assert REPLACEMENT in tokenizer.decode(ids)
    assert joined == "가나 ok"
    assert not any(REPLACEMENT in d for d in deltas)


def test_nul_characters_are_dropped(tiny_exaone_tokenizer):
    tokenizer = tiny_exaone_tokenizer
    ids = tokenizer("a\x00b", add_special_tokens=False)["input_ids"]

    _, joined = _stream(tokenizer, ids)

    assert joined == "ab"
