"""The studio websocket: one per signed-in user, carrying the events of that user's generations only."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.http import Http404
from django.utils.translation import gettext as _

from exaone_web.jobs.services import job_waiting_info
from exaone_web.sockets import CLOSE_NOT_FOUND, LiveSocket, is_id

from . import selectors, services
from .models import studio_group
from .payloads import generation_payload
from .publisher import generation_snapshot


@database_sync_to_async
def _active_snapshots(user) -> list[dict[str, Any]]:
    """A ``generation.snapshot`` for each generation still waiting or running (where it is now)."""
    events = []
    for generation in selectors.generation_active_list(user=user):
        snap = generation_snapshot(generation.pk) or {"seq": 0, "fields": {}}
        event: dict[str, Any] = {
            "type": "generation.snapshot",
            "seq": snap["seq"],
            "generation": generation_payload(generation),
            **snap["fields"],
        }
        if generation.status == generation.Status.QUEUED and generation.job is not None:
            info = job_waiting_info(job=generation.job)
            event.update(queue_position=info["position"], wait_s=info["estimate_s"])
        events.append(event)
    return events


@database_sync_to_async
def _cancel(user, generation_id: int) -> None:
    services.generation_cancel(generation=selectors.generation_get(user=user, generation_id=generation_id))


class StudioConsumer(LiveSocket):
    async def authorise(self) -> bool:
        # Joined before the snapshots are read, so no progress event can fall between the two.
        await self.join(studio_group(self.user.pk))
        return True

    async def joined(self) -> None:
        for event in await _active_snapshots(self.user):
            await self.send_json(event)

    async def resubscribed(self) -> None:
        await self.send_json({"type": "resync"})
        await self.joined()

    async def handle(self, frame: dict[str, Any]) -> None:
        if frame.get("type") != "generation.cancel":
            await super().handle(frame)
            return
        if not is_id(frame.get("generation_id")):
            await self.error("invalid", _("generation.cancel needs a numeric generation_id."))
            return
        try:
            await _cancel(self.user, frame["generation_id"])
        except Http404:
            await self.close(code=CLOSE_NOT_FOUND)

    async def studio_event(self, event: dict[str, Any]) -> None:
        await self.send_json(event["payload"])
