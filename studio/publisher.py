"""Every event of a generation goes out through here, to its owner's studio group, numbered.

Progress (step, total, elapsed, estimate, a small preview) streams through an
:class:`exaone_web.jobs.events.EventStream` as ``generation.progress``; the state so far is kept as a snapshot
that a (re)connecting studio socket replays (docs/studio.md).
"""

from __future__ import annotations

import base64
import io
from typing import Any

from django.conf import settings
from PIL import Image

from exaone_web import realtime
from exaone_web.jobs.events import EventStream, snapshot_get

from .models import Generation, studio_group
from .payloads import generation_payload


def snapshot_key(generation_id: int) -> str:
    return f"studio:generation:{generation_id}"


def generation_snapshot(generation_id: int) -> dict[str, Any] | None:
    """``{"seq", "fields"}`` of a generation being made, if its worker published one."""
    snap = snapshot_get(snapshot_key(generation_id))
    return None if snap is None else {"seq": snap["seq"], "fields": snap.get("fields", {})}


def publish(user_id: int, payload: dict[str, Any]) -> None:
    realtime.group_send(studio_group(user_id), {"type": "studio.event", "payload": payload})


def finished(generation: Generation) -> None:
    """The generation ended (done, cancelled, failed): its whole state, images included."""
    snap = generation_snapshot(generation.pk)
    publish(
        generation.owner_id,
        {
            "type": "generation.done",
            "generation_id": generation.pk,
            "seq": (snap["seq"] if snap else 0) + 1,
            "generation": generation_payload(generation),
        },
    )


def preview_data_url(picture: Image.Image) -> str:
    buffer = io.BytesIO()
    picture.convert("RGB").save(buffer, format="JPEG", quality=70)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _wrap(event: dict[str, Any]) -> dict[str, Any]:
    return {"type": "studio.event", "payload": event}


class GenerationStream:
    """The events of one generation while a worker makes it."""

    def __init__(self, generation: Generation) -> None:
        self.generation = generation
        self.stream = EventStream(
            group=studio_group(generation.owner_id),
            snapshot_key=snapshot_key(generation.pk),
            event_type="generation.progress",
            ids={"generation_id": generation.pk},
            interval_s=settings.STUDIO_STREAM_FLUSH_MS / 1000,
            wrap=_wrap,
        )

    def started(self) -> None:
        self.stream.update(step=0, total=self.generation.steps, elapsed_s=0.0, eta_s=None)
        self.stream.flush()
        self.stream.send("generation.started", status=Generation.Status.RUNNING)

    def progress(self, *, step: int, total: int, elapsed_s: float, preview: Image.Image | None) -> None:
        eta = elapsed_s / step * (total - step) if step else None
        fields: dict[str, Any] = {
            "step": step,
            "total": total,
            "elapsed_s": round(elapsed_s, 2),
            "eta_s": eta and round(eta, 2),
        }
        if preview is not None:
            fields["preview"] = preview_data_url(preview)
        self.stream.update(**fields)

    def finished(self, generation: Generation) -> None:
        self.stream.flush()
        self.stream.send("generation.done", seq=self.stream.seq + 1, generation=generation_payload(generation))
        self.stream.drop_snapshot()
