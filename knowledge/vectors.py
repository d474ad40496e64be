"""Dense search behind one interface: sqlite-vec in the embedded mode, pgvector (HNSW) in PostgreSQL.

The float32 vector is stored in each chunk's row (``Chunk.embedding``), and in PostgreSQL also as a pgvector
column of the same row (``embedding_vec``, added by migration 0002 with an HNSW index). Deleting a chunk
therefore deletes its vectors in the same statement and transaction; nothing can be left behind in a side
index. Every search filters by the collections the asking user may read and by the embedding model, inside
the query, so another user's vectors are never even scored.

SQLite: Python's own sqlite3 module here cannot load extensions, so searches run on a read connection of
pysqlite3 (a current SQLite with extension loading) with sqlite-vec loaded, over the same database file
(WAL lets it read while Django writes). It sees committed rows only, which is what a search should see.
The scan is exact (``vec_distance_cosine`` in C over the allowed collections' rows).
"""

from __future__ import annotations

import threading
from typing import Protocol

import numpy as np
from django.db import connection, transaction

#: Vectors of this dimension get the HNSW index in PostgreSQL (the default model's); others are scanned exactly.
HNSW_DIMS = 384


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def from_bytes(data: bytes | memoryview) -> np.ndarray:
    return np.frombuffer(bytes(data), dtype="<f4")


class VectorIndex(Protocol):
    def store(self, rows: list[tuple[int, np.ndarray]]) -> None:
        """Called in the transaction that created the chunks ``rows`` names."""

    def search(
        self, query: np.ndarray, *, collection_ids: list[int], model: str, limit: int
    ) -> list[tuple[int, float]]:
        """``(chunk_id, cosine similarity)``, best first."""


class SqliteVecIndex:
    _local = threading.local()

    def store(self, rows: list[tuple[int, np.ndarray]]) -> None:
        """Nothing to do: the vector is the chunk row's ``embedding`` column."""

    def _reader(self):
        path = str(connection.settings_dict["NAME"])
        cached = getattr(self._local, "conn", None)
        if cached is not None and cached[0] == path:
            return cached[1]
        import pysqlite3.dbapi2 as sqlite
        import sqlite_vec

        conn = sqlite.connect(f"file:{path}?mode=ro", uri=True, timeout=20, check_same_thread=False)
        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
        conn.enable_load_extension(False)
        self._local.conn = (path, conn)
        return conn

    def search(
        self, query: np.ndarray, *, collection_ids: list[int], model: str, limit: int
    ) -> list[tuple[int, float]]:
        if not collection_ids:
            return []
        marks = ",".join("?" for _ in collection_ids)
        rows = self._reader().execute(
            # Only "?" placeholders are formatted in; every value is a bound parameter.
            f"SELECT id, vec_distance_cosine(embedding, ?) AS distance FROM knowledge_chunk "  # noqa: S608
            f"WHERE collection_id IN ({marks}) AND embedding_model = ? AND embedding IS NOT NULL "
            f"ORDER BY distance LIMIT ?",
            [to_bytes(query), *collection_ids, model, limit],
        )
        return [(int(chunk_id), 1.0 - float(distance)) for chunk_id, distance in rows.fetchall()]


class PgVectorIndex:
    def store(self, rows: list[tuple[int, np.ndarray]]) -> None:
        with connection.cursor() as cursor:
            cursor.executemany(
                "UPDATE knowledge_chunk SET embedding_vec = %s::vector WHERE id = %s",
                [(_literal(vector), chunk_id) for chunk_id, vector in rows],
            )

    def search(
        self, query: np.ndarray, *, collection_ids: list[int], model: str, limit: int
    ) -> list[tuple[int, float]]:
        if not collection_ids:
            return []
        dims = int(query.shape[0])
        # The expression and predicate match the partial HNSW index exactly, so the planner can use it.
        column = f"(embedding_vec::vector({HNSW_DIMS}))" if dims == HNSW_DIMS else "embedding_vec"
        cast = f"::vector({HNSW_DIMS})" if dims == HNSW_DIMS else "::vector"
        with transaction.atomic(), connection.cursor() as cursor:
            # Filtered HNSW scans keep going until enough rows pass the filter (pgvector 0.8).
            cursor.execute("SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true)")
            cursor.execute("SELECT set_config('hnsw.ef_search', %s, true)", [str(max(40, limit * 2))])
            cursor.execute(
                # Formatted in: constants of this module only; every value is a bound parameter.
                f"SELECT id, {column} <=> %s{cast} AS distance FROM knowledge_chunk "  # noqa: S608
                f"WHERE vector_dims(embedding_vec) = %s AND collection_id = ANY(%s) AND embedding_model = %s "
                f"ORDER BY distance LIMIT %s",
                [_literal(query), dims, list(collection_ids), model, limit],
            )
            found = cursor.fetchall()
        found.sort(key=lambda row: row[1])  # relaxed order: sort the few rows returned
        return [(int(chunk_id), 1.0 - float(distance)) for chunk_id, distance in found]


def _literal(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{float(x):.7g}" for x in vector) + "]"


def get_index() -> VectorIndex:
    return PgVectorIndex() if connection.vendor == "postgresql" else SqliteVecIndex()
