"""The studio.generate job on the tiny demo pipeline, run as a worker runs it: lifecycle, events, cancel, seeds."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from studio_support import small

from exaone_web.jobs import backends, scheduling
from exaone_web.jobs.models import Job
from exaone_web.jobs.services import job_waiting_info
from studio import services
from studio.models import Generation, StudioImage
from studio.storage import image_open

pytestmark = pytest.mark.django_db(transaction=True)


def _pixels(image: StudioImage) -> bytes:
    with image_open(image.file) as handle, Image.open(handle) as picture:
        return picture.convert("RGB").tobytes()


def test_a_generation_runs_as_a_job_and_streams_started_progress_and_done(user, image_model, inline_jobs, events):
    generation = services.generation_submit(user=user, data=small(count=2, steps=4))

    generation.refresh_from_db()
    assert inline_jobs == ["studio.generate"]
    assert generation.status == Generation.Status.DONE, generation.error
    assert generation.job.status == Job.Status.SUCCEEDED
    images = list(generation.images.order_by("id"))
    assert [i.seed for i in images] == [42, 43]
    assert all(i.owner == user for i in images)

    payloads = [p for group, p in events if group == f"studio.user.{user.pk}"]
    kinds = [p["type"] for p in payloads]
    assert kinds[0] == "generation.progress" and "generation.started" in kinds and kinds[-1] == "generation.done"
    progress = [p for p in payloads if p["type"] == "generation.progress"]
    assert [p["seq"] for p in progress] == sorted(p["seq"] for p in progress)
    assert max(p.get("step", 0) for p in progress) == 4
    assert all(p.get("total", 4) == 4 for p in progress)
    assert any(str(p.get("preview", "")).startswith("data:image/jpeg;base64,") for p in progress)
    done = payloads[-1]["generation"]
    assert done["status"] == "done" and [i["id"] for i in done["images"]] == [i.pk for i in images]


def test_the_same_settings_and_seed_give_the_same_pixels(user, image_model, inline_jobs):
    first = services.generation_submit(user=user, data=small(seed=7))
    again = services.generation_submit(user=user, data=small(seed=7))
    other = services.generation_submit(user=user, data=small(seed=8))

    (a,), (b,), (c,) = (list(g.images.all()) for g in (first, again, other))
    assert _pixels(a) == _pixels(b)
    assert _pixels(a) != _pixels(c)


def test_a_random_seed_is_chosen_at_submit_so_it_is_shown_and_saved(user, image_model, inline_jobs):
    generation = services.generation_submit(user=user, data=small(seed=""))

    (image,) = generation.images.all()
    assert 0 <= generation.seed < 2**32 and image.seed == generation.seed == image.metadata["seed"]


def test_cancel_while_queued_ends_it_at_once(user, image_model, held_jobs, events):
    generation = services.generation_submit(user=user, data=small())

    services.generation_cancel(generation=generation)

    generation.refresh_from_db()
    assert generation.status == Generation.Status.CANCELLED
    assert generation.job.status == Job.Status.CANCELLED
    assert backends.claim_and_run("image") is False  # nothing left for a worker
    assert events[-1][1]["type"] == "generation.done" and events[-1][1]["generation"]["status"] == "cancelled"
    assert not StudioImage.objects.exists()


def test_cancel_while_running_stops_within_one_step(user, image_model, held_jobs, events, monkeypatch):
    from studio import publisher

    generation = services.generation_submit(user=user, data=small(steps=50))
    steps_seen = []
    original = publisher.GenerationStream.progress

    def progress(self, **fields):
        steps_seen.append(fields["step"])
        if fields["step"] == 2:
            services.generation_cancel(generation=Generation.objects.get(pk=generation.pk))
        original(self, **fields)

    monkeypatch.setattr(publisher.GenerationStream, "progress", progress)
    backends.claim_and_run("image")

    generation.refresh_from_db()
    assert generation.status == Generation.Status.CANCELLED
    assert generation.job.status == Job.Status.CANCELLED
    assert max(steps_seen) <= 3
    assert not StudioImage.objects.exists()


def test_a_user_with_one_job_goes_second_behind_a_user_with_five(user, other_user, image_model, held_jobs):
    mine = [services.generation_submit(user=user, data=small()) for _ in range(5)]
    (theirs,) = [services.generation_submit(user=other_user, data=small())]
    # The page's position and estimate come from the same fair order the workers follow.
    assert job_waiting_info(job=theirs.job)["position"] == 1
    assert scheduling.positions("image")[theirs.job_id] == 1

    ran = 0
    while backends.claim_and_run("image"):
        ran += 1
    order = list(
        Job.objects.filter(kind="studio.generate").order_by("started_at", "id").values_list("subject_id", flat=True)
    )

    assert order[1] == theirs.pk
    assert ran == 6 and sorted(order) == sorted([g.pk for g in mine] + [theirs.pk])
    assert Generation.objects.filter(status="done").count() == 6


def test_each_png_carries_its_settings_and_recall_reads_them_back(user, image_model, inline_jobs):
    generation = services.generation_submit(
        user=user, data=small(brief="봄의 향기 패키지", prompt="spring scent packaging, pastel", negative="text, blur")
    )
    (image,) = generation.images.all()
    with image_open(image.file) as handle:
        data = handle.read()

    values = services.recall_from_upload(data=data)

    assert values == {
        "brief": "봄의 향기 패키지",
        "prompt": "spring scent packaging, pastel",
        "negative": "text, blur",
        "model": "sd-tiny-test",
        "seed": 42,
        "steps": 3,
        "guidance": 5.0,
        "width": 64,
        "height": 64,
        "preset": "",
    }
    assert Image.open(io.BytesIO(data)).text["exaone:brief"] == "봄의 향기 패키지"

    again = services.generation_submit(user=user, data=values)
    (copy,) = again.images.all()
    assert _pixels(copy) == _pixels(image)


def test_a_user_may_not_queue_more_than_their_bound(user, image_model, held_jobs, settings):
    settings.STUDIO_MAX_ACTIVE_PER_USER = 2
    services.generation_submit(user=user, data=small())
    services.generation_submit(user=user, data=small())

    with pytest.raises(services.StudioError) as caught:
        services.generation_submit(user=user, data=small())

    assert caught.value.code == "busy"
    assert Generation.objects.count() == 2


def test_a_model_that_cannot_load_fails_the_generation_clearly_and_the_page_is_told(
    user, inline_jobs, events, tmp_path
):
    from catalog.services import model_register

    model_register(
        name="gone",
        display_name="Gone",
        kind="image",
        engine="diffusers",
        path=str(tmp_path / "nowhere"),
        is_default=True,
    )

    generation = services.generation_submit(user=user, data=small())

    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert "does not exist" in generation.error and generation.job.status == Job.Status.FAILED
    done = [p for _, p in events if p["type"] == "generation.done"]
    assert done and done[-1]["generation"]["status"] == "failed" and done[-1]["generation"]["error"] == generation.error
    assert not StudioImage.objects.exists()
