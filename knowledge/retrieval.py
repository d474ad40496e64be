"""Hybrid, cross-lingual search over the collections a user may read.

For each phrasing of the question (the question itself and, when the text model gave one, its rewrite in the
other language) two ranked lists are made: dense (the embedder's query vector against chunk vectors, through
:mod:`knowledge.vectors`) and keyword (BM25 over the stored tokens of :mod:`knowledge.segmenting`: Korean
morphemes, English words, codes and numbers). All lists are fused by reciprocal rank. A passage is kept only
if it clears the relevance floor in at least one list (dense similarity or a keyword match strong enough), and
at most ``per_document`` passages come from one document, so one long manual cannot crowd out the rest.

The caller passes collection ids that :mod:`knowledge.selectors` allowed for the asking user; every query below
filters on them inside the database.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db.models import Q

from .embedding import current_embedder
from .models import Chunk
from .segmenting import keyword_tokens
from .vectors import get_index

RRF_K = 60
#: Candidates per ranked list before fusion.
CANDIDATES = 40
#: At most this many query tokens reach the database (a pasted page as a question stays cheap).
MAX_QUERY_TOKENS = 16
#: Keyword candidates read per query; BM25 statistics are computed over them.
MAX_KEYWORD_ROWS = 4000
BM25_K1 = 1.2
BM25_B = 0.75


@dataclass(frozen=True)
class Settings:
    limit: int = 5
    per_document: int = 2
    dense_floor: float = 0.82
    keyword_floor: float = 0.5
    modes: tuple[str, ...] = ("dense", "keyword")


@dataclass
class Hit:
    chunk_id: int
    score: float = 0.0
    dense: float = 0.0
    keyword: float = 0.0
    passed_floor: bool = False
    chunk: Chunk | None = field(default=None, repr=False)


def dense_ranking(query: str, *, collection_ids: list[int]) -> list[tuple[int, float]]:
    embedder = current_embedder()
    return get_index().search(
        embedder.query(query), collection_ids=collection_ids, model=embedder.name, limit=CANDIDATES
    )


def keyword_ranking(query: str, *, collection_ids: list[int]) -> list[tuple[int, float]]:
    """BM25 with binary term frequency over stored distinct tokens; score normalised by the query's weight."""
    tokens = list(dict.fromkeys(keyword_tokens(query)))[:MAX_QUERY_TOKENS]
    if not tokens or not collection_ids:
        return []
    matches = Q()
    for token in tokens:
        matches |= Q(tokens__contains=f" {token} ")
    scope = Chunk.objects.filter(collection_id__in=collection_ids)
    rows = list(scope.filter(matches).values_list("id", "tokens")[:MAX_KEYWORD_ROWS])
    if not rows:
        return []
    total = scope.count()
    present = {chunk_id: set(stored.split()) for chunk_id, stored in rows}
    lengths = {chunk_id: len(words) for chunk_id, words in present.items()}
    average = sum(lengths.values()) / len(lengths)
    frequency = {token: sum(1 for words in present.values() if token in words) for token in tokens}
    idf = {t: math.log(1 + (total - n + 0.5) / (n + 0.5)) for t, n in frequency.items()}
    best = sum(idf.values()) or 1.0
    scored = []
    for chunk_id, words in present.items():
        norm = BM25_K1 * (1 - BM25_B + BM25_B * lengths[chunk_id] / average)
        score = sum(idf[t] * (BM25_K1 + 1) / (1 + norm) for t in tokens if t in words)
        scored.append((chunk_id, score / best))
    scored.sort(key=lambda item: -item[1])
    return scored[:CANDIDATES]


def search(queries: Sequence[str], *, collection_ids: list[int], settings: Settings | None = None) -> list[Hit]:
    """Fused, floored, capped passages for ``queries`` (the question and its rewrites), best first."""
    settings = settings or Settings()
    collection_ids = sorted(set(collection_ids))
    if not collection_ids:
        return []
    hits: dict[int, Hit] = {}
    for query in dict.fromkeys(q.strip() for q in queries if q and q.strip()):
        rankings = []
        if "dense" in settings.modes:
            rankings.append(("dense", dense_ranking(query, collection_ids=collection_ids)))
        if "keyword" in settings.modes:
            rankings.append(("keyword", keyword_ranking(query, collection_ids=collection_ids)))
        for mode, ranking in rankings:
            for rank, (chunk_id, value) in enumerate(ranking):
                hit = hits.setdefault(chunk_id, Hit(chunk_id))
                hit.score += 1.0 / (RRF_K + rank + 1)
                if mode == "dense":
                    hit.dense = max(hit.dense, value)
                    hit.passed_floor |= value >= settings.dense_floor
                else:
                    hit.keyword = max(hit.keyword, value)
                    hit.passed_floor |= value >= settings.keyword_floor
    kept = sorted((h for h in hits.values() if h.passed_floor), key=lambda h: -h.score)
    chunks = Chunk.objects.filter(
        pk__in=[h.chunk_id for h in kept[: settings.limit * 10]], collection_id__in=collection_ids
    )
    by_id = {chunk.pk: chunk for chunk in chunks.select_related("document")}
    result: list[Hit] = []
    per_document: dict[int, int] = {}
    for hit in kept:
        chunk = by_id.get(hit.chunk_id)
        if chunk is None:
            continue
        if per_document.get(chunk.document_id, 0) >= settings.per_document:
            continue
        per_document[chunk.document_id] = per_document.get(chunk.document_id, 0) + 1
        hit.chunk = chunk
        result.append(hit)
        if len(result) >= settings.limit:
            break
    return result
