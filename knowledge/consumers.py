"""The collection socket: a page hears its documents' progress (docs/protocol.md, "Knowledge events")."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.http import Http404

from exaone_web.sockets import CLOSE_NOT_FOUND, LiveSocket

from . import selectors


@database_sync_to_async
def _collection(user, collection_id):
    try:
        return selectors.collection_get(user=user, collection_id=collection_id)
    except Http404:
        return None


class CollectionConsumer(LiveSocket):
    async def authorise(self) -> bool:
        collection = await _collection(self.user, self.scope["url_route"]["kwargs"]["collection_id"])
        if collection is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return False
        await self.join(collection.group_name)
        return True

    async def knowledge_event(self, event: dict[str, Any]) -> None:
        await self.send_json(event["payload"])
