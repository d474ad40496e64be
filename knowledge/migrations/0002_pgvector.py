"""In PostgreSQL: the pgvector column beside each chunk's float32 bytes, with an HNSW index (cosine).

The extension must be installable: the compose file uses the pgvector image; on a bare PostgreSQL run
.ci/install-pgvector (it builds pgvector from Debian's source package). SQLite needs nothing here.
"""

from django.db import migrations

from knowledge.vectors import HNSW_DIMS


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS vector")
    schema_editor.execute("ALTER TABLE knowledge_chunk ADD COLUMN embedding_vec vector")
    schema_editor.execute(
        f"CREATE INDEX knowledge_chunk_hnsw ON knowledge_chunk USING hnsw "
        f"((embedding_vec::vector({HNSW_DIMS})) vector_cosine_ops) WHERE vector_dims(embedding_vec) = {HNSW_DIMS}"
    )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS knowledge_chunk_hnsw")
    schema_editor.execute("ALTER TABLE knowledge_chunk DROP COLUMN IF EXISTS embedding_vec")


class Migration(migrations.Migration):
    dependencies = [("knowledge", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
