"""After KNOWLEDGE_EMBEDDING_MODEL changed: queue a re-embedding job for each collection with stale chunks."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from knowledge import services
from knowledge.embedding import current_spec
from knowledge.models import Chunk, Collection


class Command(BaseCommand):
    help = "Queue knowledge.reembed jobs for collections whose chunks were embedded by another model."

    def handle(self, *args, **options) -> None:
        model = current_spec().name
        stale = Chunk.objects.exclude(embedding_model=model).values("collection_id").distinct()
        count = 0
        for collection in Collection.objects.filter(pk__in=stale).select_related("owner"):
            services.reembed_submit(user=collection.owner, collection=collection)
            count += 1
        self.stdout.write(f"Queued re-embedding with {model} for {count} collection(s).")
