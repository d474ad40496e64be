"""The pgvector path against the real PostgreSQL of the service mode (.ci/install-pgvector installs the extension)."""

from __future__ import annotations

import pytest
from django.db import connection

from knowledge import retrieval, services
from knowledge.models import Chunk
from knowledge.retrieval import Settings
from knowledge.vectors import PgVectorIndex, get_index

pytestmark = [pytest.mark.services, pytest.mark.any_broker, pytest.mark.django_db(transaction=True)]


def test_chunks_get_pgvector_vectors_searched_through_the_hnsw_index(user, make_collection, upload):
    assert connection.vendor == "postgresql"
    collection = make_collection(user)
    english = upload(collection, "pump.txt", b"The cooling pump must be flushed with clean water every week.")
    upload(collection, "torque.txt", "M8 플랜지 볼트는 25 Nm 토크로 조인다.".encode())

    hits = retrieval.search(
        ["냉각 펌프 세척 주기"], collection_ids=[collection.pk], settings=Settings(modes=("dense",), dense_floor=0)
    )

    assert isinstance(get_index(), PgVectorIndex)
    assert hits[0].chunk.document_id == english.pk
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM knowledge_chunk WHERE vector_dims(embedding_vec) = 384")
        assert cursor.fetchone()[0] == Chunk.objects.count() == 2
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'knowledge_chunk_hnsw'")
        assert "USING hnsw" in cursor.fetchone()[0]
        cursor.execute("SET enable_seqscan = off")
        cursor.execute(
            "EXPLAIN SELECT id FROM knowledge_chunk WHERE vector_dims(embedding_vec) = 384 "
            "ORDER BY (embedding_vec::vector(384)) <=> "
            "(SELECT embedding_vec FROM knowledge_chunk LIMIT 1)::vector(384) LIMIT 5"
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    assert "knowledge_chunk_hnsw" in plan


def test_in_postgresql_deletion_removes_vectors_and_another_users_canary_stays_out(
    user, other_user, make_collection, upload
):
    mine = make_collection(user, "Mine")
    theirs = make_collection(other_user, "Theirs")
    canary = upload(theirs, "secret.txt", b"The launch code of project Heron is zebrafinch-7731.")
    gone = upload(mine, "gone.txt", b"The launch code of project Heron was rotated yesterday.")

    services.document_delete(document=gone)
    hits = retrieval.search(["launch code project Heron"], collection_ids=[mine.pk], settings=Settings(dense_floor=0))

    assert hits == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM knowledge_chunk WHERE collection_id = %s", [mine.pk])
        assert cursor.fetchone()[0] == 0
    assert Chunk.objects.filter(document=canary).exists()
