"""The studio websocket: a reload mid-job sees where the job is, cancel over the socket, and no one else's jobs."""

from __future__ import annotations

import asyncio
import threading

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from studio_support import small

from exaone_web.asgi import application
from exaone_web.jobs import backends
from studio import publisher, services
from studio.models import Generation

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def studio_socket(client):
    async def connect(user, *, origin=b"http://127.0.0.1:8000"):
        headers = [(b"host", b"127.0.0.1:8000"), (b"origin", origin)]
        if user is not None:
            await sync_to_async(client.force_login)(user)
            headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
        socket = WebsocketCommunicator(application, "/ws/studio/", headers=headers)
        connected, code = await socket.connect(timeout=10)
        return socket, connected, code

    return connect


async def _until(socket, kind, timeout=60):
    while True:
        event = await socket.receive_json_from(timeout=timeout)
        if event["type"] == kind:
            return event


async def test_a_page_that_opens_mid_job_sees_its_step_and_preview_then_cancels_it(
    user, image_model, held_jobs, studio_socket, monkeypatch
):
    generation = await sync_to_async(services.generation_submit)(user=user, data=small(steps=40))
    at_step_3, resume = threading.Event(), threading.Event()
    original = publisher.GenerationStream.progress

    def progress(self, **fields):
        original(self, **fields)
        if fields["step"] == 3:
            self.stream.flush()
            at_step_3.set()
            resume.wait(30)

    monkeypatch.setattr(publisher.GenerationStream, "progress", progress)
    worker = threading.Thread(target=backends.claim_and_run, args=("image",))
    worker.start()
    try:
        assert await asyncio.to_thread(at_step_3.wait, 60)
        socket, connected, _ = await studio_socket(user)
        assert connected
        snapshot = await _until(socket, "generation.snapshot")
        assert snapshot["generation"]["id"] == generation.pk and snapshot["generation"]["status"] == "running"
        assert snapshot["step"] == 3 and snapshot["total"] == 40 and snapshot["seq"] >= 1
        assert snapshot["preview"].startswith("data:image/jpeg;base64,")

        await socket.send_json_to({"type": "generation.cancel", "generation_id": generation.pk})
        await asyncio.sleep(0.3)
    finally:
        resume.set()
        await asyncio.to_thread(worker.join, 60)
    done = await _until(socket, "generation.done")
    assert done["generation"]["status"] == "cancelled" and done["seq"] > snapshot["seq"]
    assert (await Generation.objects.aget(pk=generation.pk)).status == Generation.Status.CANCELLED
    await socket.disconnect()


async def test_a_waiting_generation_shows_its_queue_position_on_connect(
    user, other_user, image_model, held_jobs, studio_socket
):
    await sync_to_async(services.generation_submit)(user=other_user, data=small())
    mine = await sync_to_async(services.generation_submit)(user=user, data=small())

    socket, connected, _ = await studio_socket(user)
    snapshot = await _until(socket, "generation.snapshot")

    assert snapshot["generation"]["id"] == mine.pk and snapshot["queue_position"] == 1
    await socket.disconnect()


async def test_another_users_generation_cannot_be_cancelled_or_seen(
    user, other_user, image_model, held_jobs, studio_socket
):
    theirs = await sync_to_async(services.generation_submit)(user=other_user, data=small())

    socket, connected, _ = await studio_socket(user)
    assert connected
    assert await socket.receive_nothing(timeout=0.3)  # no snapshot of someone else's job
    await socket.send_json_to({"type": "generation.cancel", "generation_id": theirs.pk})
    closed = await socket.receive_output(timeout=5)

    assert closed == {"type": "websocket.close", "code": 4404}
    assert (await Generation.objects.aget(pk=theirs.pk)).status == Generation.Status.QUEUED


async def test_the_socket_refuses_strangers_and_foreign_origins(user, studio_socket):
    _, connected, code = await studio_socket(None)
    assert not connected and code == 4401
    _, connected, _ = await studio_socket(user, origin=b"https://evil.example")
    assert not connected
