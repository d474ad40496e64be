"""Upscaling with a registered upscaling model (the tiny x4 upscaler) and without one (Lanczos), as jobs."""

from __future__ import annotations

import pytest
from django.urls import reverse
from PIL import Image
from refine_support import make_picture

from exaone_web.jobs import backends
from exaone_web.jobs.models import Job
from exaone_web.jobs.runner import JobContext
from studio import storage
from studio.models import StudioImage
from studio.refine import services
from studio.services import StudioError

pytestmark = pytest.mark.django_db(transaction=True)


def result_image(job: Job) -> tuple[StudioImage, Image.Image]:
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    (image_id,) = job.progress["images"]
    row = StudioImage.objects.get(pk=image_id)
    with storage.image_open(row.file) as handle, Image.open(handle) as opened:
        return row, opened.convert("RGB")


@pytest.mark.parametrize("factor", [2, 4])
def test_the_upscaling_model_gives_exact_sizes_and_is_recorded(user, upscaler_model, inline_jobs, factor):
    # 40 x 24 is not a multiple of the model's 8: the engine pads and crops, so the size stays exact.
    picture = make_picture(user, size=(40, 24))
    job = services.refine_submit(user=user, image=picture, data={"mode": "upscale", "factor": factor})

    row, made = result_image(job)
    assert made.size == (40 * factor, 24 * factor)
    assert row.metadata["method"] == "model" and row.metadata["upscaler"] == upscaler_model.display_name
    assert job.progress["method"] == "model" and job.progress["upscaler"] == upscaler_model.display_name
    assert row.metadata["source"] == picture.pk and row.metadata["factor"] == factor


def test_without_an_upscaler_lanczos_is_used_and_recorded(user, picture, inline_jobs):
    job = services.refine_submit(user=user, image=picture, data={"mode": "upscale", "factor": 2})

    row, made = result_image(job)
    assert made.size == (128, 128)
    assert row.metadata["method"] == "lanczos" and row.metadata["upscaler"] == ""
    assert job.params["upscaler"] is None


def test_the_user_may_choose_the_resampler_over_the_model(user, upscaler_model, picture, inline_jobs):
    job = services.refine_submit(user=user, image=picture, data={"mode": "upscale", "factor": 4, "method": "resampler"})

    row, made = result_image(job)
    assert made.size == (256, 256) and row.metadata["method"] == "lanczos"


@pytest.mark.django_db
def test_asking_for_the_model_when_none_is_registered_says_what_to_do(user, picture):
    with pytest.raises(StudioError) as caught:
        services.refine_submit(user=user, image=picture, data={"mode": "upscale", "factor": 2, "method": "model"})
    assert caught.value.code == "no_model" and "Lanczos" in caught.value.message
    assert not Job.objects.exists()


def test_an_image_over_the_models_input_limit_is_refused_with_the_way_out(user, upscaler_model):
    big = make_picture(user, size=(96, 64))  # over the fixture's 64 x 64 limit
    with pytest.raises(StudioError) as caught:
        services.refine_submit(user=user, image=big, data={"mode": "upscale", "factor": 2})
    assert caught.value.code == "too_large" and "Lanczos" in caught.value.message
    assert not Job.objects.exists()
    # The resampler has no such limit.
    assert services.refine_submit(user=user, image=big, data={"mode": "upscale", "factor": 2, "method": "resampler"})


@pytest.mark.parametrize("method", ["", "bicubic", 3])
def test_an_unknown_method_is_refused(user, picture, method):
    with pytest.raises(StudioError) as caught:
        services.refine_submit(user=user, image=picture, data={"mode": "upscale", "factor": 2, "method": method})
    assert caught.value.code == "invalid"


def test_cancel_mid_upscale_stops_and_stores_nothing(user, upscaler_model, picture, monkeypatch):
    from exaone_web.jobs import services as job_services

    monkeypatch.setattr(job_services, "dispatch", lambda job: None)
    upscaler_model.default_sampling = {"steps": 20}
    upscaler_model.save()
    job = services.refine_submit(user=user, image=picture, data={"mode": "upscale", "factor": 4})
    steps_seen: list[int] = []
    original = JobContext.report

    def report(self, **fields):
        if "step" in fields:
            steps_seen.append(fields["step"])
            if fields["step"] == 2:
                services.job_cancel_refine(job=Job.objects.get(pk=job.pk))
        original(self, **fields)

    monkeypatch.setattr(JobContext, "report", report)
    backends.claim_and_run("image")

    job.refresh_from_db()
    assert job.status == Job.Status.CANCELLED
    assert steps_seen and max(steps_seen) <= 3
    assert StudioImage.objects.filter(owner=user).count() == 1  # the source only


def test_the_page_offers_the_model_or_the_resampler_and_says_which_made_an_image(
    client, user, upscaler_model, picture, inline_jobs
):
    client.force_login(user)
    html = client.get(reverse("studio:refine", args=[picture.pk]), HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert 'id="upscale-method"' in html and upscaler_model.display_name in html
    assert "Lanczos 리샘플러" in html  # translated

    job = services.refine_submit(user=user, image=picture, data={"mode": "upscale", "factor": 2})
    row, _made = result_image(job)
    html = client.get(reverse("studio:refine", args=[row.pk])).content.decode()
    assert f"Upscaled ×2 by the upscaling model {upscaler_model.display_name}." in html


def test_without_an_upscaler_the_page_says_lanczos_is_used(client, user, picture):
    client.force_login(user)
    html = client.get(reverse("studio:refine", args=[picture.pk])).content.decode()
    assert 'id="upscale-method"' not in html and 'id="upscale-method-note"' in html


def test_upscaling_another_users_image_is_404(client, user, make_user, upscaler_model, inline_jobs):
    theirs = make_picture(make_user("bob"))
    client.force_login(user)
    data = {"mode": "upscale", "factor": 2, "method": "model"}
    response = client.post(reverse("studio:refine-api-refine", args=[theirs.pk]), data, content_type="application/json")
    assert response.status_code == 404
    assert not Job.objects.exists()


def test_bad_default_sampling_on_the_upscaler_fails_the_job_with_a_message(user, upscaler_model, picture, inline_jobs):
    upscaler_model.default_sampling = {"steps": 0}
    upscaler_model.save()
    job = services.refine_submit(user=user, image=picture, data={"mode": "upscale", "factor": 2})

    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and "Ask an administrator" in job.error
    assert StudioImage.objects.filter(owner=user).count() == 1
