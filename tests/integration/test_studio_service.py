"""The studio in service mode: PostgreSQL, Redis, a broker, a real web server and a real image worker process.

A designer's request goes over HTTP to daphne, the job over the broker to `manage.py jobworker -Q image`, the
progress back over Redis to the studio socket, the PNG into the shared studio folder, and out again through
the permission-checked view.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image
from support import LiveClient, free_port, start_web, start_worker, tiny_image_model
from test_service_mode import pytestmark  # noqa: F401  (service mode only, the same skip rule)

from catalog.services import model_register
from studio.models import Generation


@pytest.fixture
def studio_env(env, tmp_path):
    return {**env, "STUDIO_ROOT": str(tmp_path / "studio")}


@pytest.fixture
def image_entry(db):
    folder = tiny_image_model(Path(__file__).resolve().parents[2] / "var" / "test-models" / "sd-tiny-studio")
    return model_register(
        name="sd-tiny-service",
        display_name="SD tiny",
        kind="image",
        engine="diffusers",
        path=str(folder),
        is_default=True,
    )


@pytest.fixture
def image_worker(studio_env, image_entry):
    process = start_worker(studio_env, queues="image")
    yield process
    process.stop()


@pytest.fixture
def studio_web(studio_env, image_entry):
    port = free_port()
    web = start_web(studio_env, port)
    yield f"http://127.0.0.1:{port}"
    web.stop()


async def test_an_image_worker_process_generates_end_to_end(user, other_user, client, image_worker, studio_web):
    import asyncio

    import websockets
    from asgiref.sync import sync_to_async

    await sync_to_async(client.force_login)(user)
    designer = LiveClient(studio_web, client.cookies["sessionid"].value)
    socket = await websockets.connect(
        studio_web.replace("http://", "ws://") + "/ws/studio/",
        origin=studio_web,
        additional_headers={"Cookie": f"sessionid={designer.cookies['sessionid']}"},
        open_timeout=20,
    )
    try:
        page = await asyncio.to_thread(designer.http.get, "/studio/")
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        created = await asyncio.to_thread(
            designer.http.post,
            "/studio/api/generations/",
            json={
                "brief": "봄의 향기",
                "prompt": "spring perfume box",
                "width": 64,
                "height": 64,
                "steps": 4,
                "seed": 11,
            },
            headers={"X-CSRFToken": csrf, "Referer": studio_web + "/studio/"},
        )
        assert created.status_code == 201, created.text
        generation_id = created.json()["id"]
        seen = []
        while True:
            event = json.loads(await asyncio.wait_for(socket.recv(), 120))
            seen.append(event)
            if event["type"] == "generation.done":
                break
    finally:
        await socket.close()

    done = seen[-1]["generation"]
    assert done["id"] == generation_id and done["status"] == "done", image_worker.tail()
    steps = [e["step"] for e in seen if e["type"] == "generation.progress" and "step" in e]
    assert steps and max(steps) == 4
    assert image_worker.saw("jobs.run_next", "succeeded")
    generation = await Generation.objects.aget(pk=generation_id)
    assert generation.status == Generation.Status.DONE

    (image,) = done["images"]
    served = await asyncio.to_thread(designer.http.get, image["url"])
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(served.content)).text["exaone:brief"] == "봄의 향기"

    await sync_to_async(client.force_login)(other_user)
    stranger = LiveClient(studio_web, client.cookies["sessionid"].value)
    assert (await asyncio.to_thread(stranger.http.get, image["url"])).status_code == 404
