"""Refine in service mode: PostgreSQL, Redis, a broker and real worker processes for the image and default
queues. An inpaint and a carton export go over the broker to `manage.py jobworker`, which reads the source
from and writes the results to the shared studio folder."""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path

import pikepdf
import pytest
from django.conf import settings
from PIL import Image, ImageDraw
from support import start_worker

from catalog.services import model_register
from exaone_web.jobs.models import Job
from studio import pngmeta, storage
from studio.models import StudioImage
from studio.refine import services

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not (
            settings.REDIS_URL
            and settings.CELERY_BROKER_URL
            and "postgresql" in settings.DATABASES["default"]["ENGINE"]
        ),
        reason="service mode needs DATABASE_URL (PostgreSQL), REDIS_URL and CELERY_BROKER_URL: run make test-services",
    ),
]


@pytest.fixture
def shared_folder(env, tmp_path, settings):
    """The folder the worker and this test process both use as the studio storage."""
    folder = tmp_path / "studio"
    settings.STUDIO_ROOT = folder
    storage.studio_storage.cache_clear()
    yield {**env, "STUDIO_ROOT": str(folder)}
    storage.studio_storage.cache_clear()


@pytest.fixture
def workers(shared_folder, db):
    from inference.demo.image import build_image_model

    folder = Path(__file__).resolve().parents[2] / "var" / "test-models" / "sd-tiny-studio"
    if not (folder / "model_index.json").is_file():
        build_image_model(folder, seed=0)
    model_register(name="sd-tiny-refine-service", display_name="SD tiny", kind="image", engine="diffusers",
                   path=str(folder), is_default=True)  # fmt: skip
    process = start_worker(shared_folder, queues="image,default")
    yield process
    process.stop()


def _finished(job: Job, timeout: float = 180) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.finished:
            return job
        time.sleep(0.3)
    raise AssertionError(f"job {job.pk} did not finish: {job.status}")


def test_a_worker_process_inpaints_and_exports(cmyk_profile, user, workers):
    picture = Image.new("RGB", (64, 64), (200, 40, 40))
    values = {"prompt": "a red box", "model": "sd-tiny-refine-service", "seed": 1, "steps": 4, "guidance": 5.0,
              "width": 64, "height": 64}  # fmt: skip
    name = storage.image_save(owner_id=user.pk, data=pngmeta.png_with_metadata(picture, values))
    source = StudioImage.objects.create(owner=user, file=name, seed=1, metadata=values)
    mask = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    ImageDraw.Draw(mask).rectangle((40, 40, 60, 60), fill=(255, 255, 255, 255))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    url = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()

    inpaint = _finished(services.refine_submit(user=user, image=source, data={"mode": "inpaint", "mask": url}))
    export = _finished(
        services.export_submit(
            user=user, image=source, data={"shape": "carton", "length_mm": 40, "depth_mm": 20, "height_mm": 60}
        )
    )

    assert inpaint.status == Job.Status.SUCCEEDED, (inpaint.error, workers.tail())
    (made_id,) = inpaint.progress["images"]
    with storage.image_open(StudioImage.objects.get(pk=made_id).file) as handle, Image.open(handle) as made:
        assert made.convert("RGB").crop((0, 0, 40, 40)).tobytes() == picture.crop((0, 0, 40, 40)).tobytes()
    assert export.status == Job.Status.SUCCEEDED, (export.error, workers.tail())
    with storage.studio_storage().open(export.progress["files"]["pdf"]) as handle:
        data = handle.read()
    with pikepdf.open(io.BytesIO(data)) as pdf:
        assert str(pdf.Root.OCProperties.OCGs[0].Name) == "Dieline"
    assert workers.saw("jobs.run_next", "succeeded")
