"""Cross-lingual retrieval on a bilingual corpus the test writes: each answer exists in only one language."""

from __future__ import annotations

import pytest
from bilingual import TOPICS

from knowledge import retrieval
from knowledge.retrieval import Settings

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def split_corpus(user, make_collection, upload):
    """Even topics only in English, odd topics only in Korean: a question must cross languages to find half."""
    collection = make_collection(user, "Bilingual")
    documents = {}
    for index, (topic, english, korean, _, _) in enumerate(TOPICS):
        text, name = (english, f"{topic}-en.txt") if index % 2 == 0 else (korean, f"{topic}-ko.txt")
        documents[topic] = upload(collection, name, text.encode()).pk
    return collection, documents


def _top(hits, n=3):
    return [hit.chunk.document_id for hit in hits[:n]]


def test_a_korean_question_finds_the_english_passage_and_the_reverse_with_its_rewrite(split_corpus):
    """The design: the question and its rewrite in the other language are both searched and fused.

    The offline demo model cannot translate (it echoes the instruction; see docs/knowledge.md), so the
    rewrite a bilingual model would give is written here; the search, fusion and floor are the real ones.
    """
    collection, documents = split_corpus

    for index, (topic, _, _, question_en, question_ko) in enumerate(TOPICS):
        asked, rewrite = (question_ko, question_en) if index % 2 == 0 else (question_en, question_ko)
        hits = retrieval.search([asked, rewrite], collection_ids=[collection.pk])

        assert _top(hits, 1) == [documents[topic]], f"{topic}: {asked!r}"


def test_without_a_rewrite_the_multilingual_embedder_alone_still_crosses_languages_for_most(split_corpus):
    collection, documents = split_corpus
    found = 0

    for index, (topic, _, _, question_en, question_ko) in enumerate(TOPICS):
        asked = question_ko if index % 2 == 0 else question_en
        hits = retrieval.search([asked], collection_ids=[collection.pk], settings=Settings(dense_floor=0.0))
        found += documents[topic] in _top(hits)

    assert found >= len(TOPICS) // 2  # bench/knowledge.py measures recall@5 and MRR on a larger set


def test_a_demo_model_echo_is_not_used_as_a_rewrite():
    from knowledge.answering import usable_rewrite

    instruction = "Translate the following question into English. Reply with the translation only, on one line."

    assert not usable_rewrite(instruction, instruction=instruction, source="ko")
    assert not usable_rewrite("냉각 펌프는 얼마나 자주?", instruction=instruction, source="ko")
    assert usable_rewrite("How often is the pump flushed?", instruction=instruction, source="ko")


def test_a_rewrite_in_the_other_language_is_fused_and_lifts_the_answer(split_corpus):
    collection, documents = split_corpus
    topic, _, _, question_en, question_ko = TOPICS[1]  # the answer is Korean
    only_question = retrieval.search(
        [question_en], collection_ids=[collection.pk], settings=Settings(modes=("keyword",))
    )

    with_rewrite = retrieval.search(
        [question_en, question_ko], collection_ids=[collection.pk], settings=Settings(modes=("keyword",))
    )

    assert documents[topic] not in _top(only_question)  # English keywords cannot match Korean text
    assert _top(with_rewrite, 1) == [documents[topic]]


def test_the_per_document_cap_and_the_floor_hold(user, make_collection, upload):
    collection = make_collection(user)
    long_text = " ".join(f"Section {i}: the valve VX-{i} opens at {i} bar." for i in range(60))
    upload(collection, "valves.txt", long_text.encode())
    upload(collection, "other.txt", b"The valve in the other manual opens at 2 bar.")

    hits = retrieval.search(["valve opens bar"], collection_ids=[collection.pk], settings=Settings(per_document=2))
    unrelated = retrieval.search(["Mongolian throat singing festival"], collection_ids=[collection.pk])

    per_document = {}
    for hit in hits:
        per_document[hit.chunk.document_id] = per_document.get(hit.chunk.document_id, 0) + 1
    assert max(per_document.values()) <= 2 and len(per_document) == 2
    assert unrelated == []
