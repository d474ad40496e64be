"""The refine API and pages over HTTP: owners only (404 for anyone else's image, job or export), bad input."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from PIL import Image
from refine_support import make_picture

from exaone_web.jobs.models import Job

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def alice_client(client, user):
    client.force_login(user)
    return client


def test_the_refine_page_shows_the_image_and_its_tools(alice_client, picture):
    page = alice_client.get(reverse("studio:refine", args=[picture.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    for marker in ('id="mask-canvas"', 'id="export-form"', 'id="describe-button"', 'data-upscale="4"'):
        assert marker in html


def test_another_users_image_job_and_export_are_404(cmyk_profile, alice_client, user, make_user, inline_jobs):
    bob = make_user("bob")
    theirs = make_picture(bob)
    for name in ("refine", "describe", "export", "print-preview"):
        url = reverse(f"studio:refine-api-{'preview' if name == 'print-preview' else name}", args=[theirs.pk])
        assert alice_client.post(url, {}, content_type="application/json").status_code == 404, name
    assert alice_client.get(reverse("studio:refine", args=[theirs.pk])).status_code == 404

    from studio.refine import services

    job = services.export_submit(user=bob, image=theirs, data={"width_mm": 50, "height_mm": 50})
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert alice_client.get(reverse("studio:refine-api-job", args=[job.pk])).status_code == 404
    assert alice_client.post(reverse("studio:refine-api-job-cancel", args=[job.pk])).status_code == 404
    assert alice_client.get(reverse("studio:refine-export-file", args=[job.pk, "pdf"])).status_code == 404


def test_export_through_the_api_then_download(cmyk_profile, alice_client, picture, inline_jobs):
    answer = alice_client.post(
        reverse("studio:refine-api-export", args=[picture.pk]),
        {"shape": "label", "width_mm": 60, "height_mm": 40, "corner_radius_mm": 4},
        content_type="application/json",
    )
    assert answer.status_code == 202, answer.content
    job = alice_client.get(answer.json()["url"]).json()
    assert job["status"] == "succeeded", job["error"]
    pdf = alice_client.get(job["downloads"]["pdf"])
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert b"".join(pdf.streaming_content).startswith(b"%PDF")
    tiff = alice_client.get(job["downloads"]["tiff"])
    assert tiff["Content-Type"] == "image/tiff" and tiff["X-Content-Type-Options"] == "nosniff"


def test_print_preview_answers_at_once_with_the_page_size_and_a_warning(alice_client, picture):
    answer = alice_client.post(
        reverse("studio:refine-api-preview", args=[picture.pk]),
        {"shape": "carton", "length_mm": 148, "depth_mm": 50, "height_mm": 210, "placement": "wrap"},
        content_type="application/json",
    )
    assert answer.status_code == 200, answer.content
    data = answer.json()
    assert data["preview"].startswith("data:image/png;base64,")
    assert data["warnings"] and data["effective_dpi"] < 150


@pytest.mark.parametrize(
    "body",
    [{"width_mm": 0}, {"width_mm": 2000}, {"shape": "carton", "length_mm": 40, "depth_mm": 1, "height_mm": 60}],
)
def test_bad_export_sizes_get_a_translated_400(cmyk_profile, alice_client, picture, body):
    with_ko = alice_client.post(
        reverse("studio:refine-api-preview", args=[picture.pk]),
        body,
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="ko",
    )
    assert with_ko.status_code == 400
    detail = with_ko.json()["detail"]
    assert "mm" in detail and any("\uac00" <= c <= "\ud7a3" for c in detail), detail
    assert not Job.objects.exists()


def test_strength_outside_0_1_is_a_400_and_nothing_is_queued(alice_client, picture, sd_model):
    answer = alice_client.post(
        reverse("studio:refine-api-refine", args=[picture.pk]),
        {"mode": "variation", "strength": 2},
        content_type="application/json",
    )
    assert answer.status_code == 400 and answer.json()["code"] == "out_of_range"
    assert not Job.objects.exists()


def test_upload_an_image_and_refuse_a_non_image(alice_client):
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (9, 9, 9)).save(buffer, "PNG")
    buffer.seek(0)
    buffer.name = "photo.png"
    ok = alice_client.post(reverse("studio:refine-api-upload"), {"file": buffer})
    assert ok.status_code == 201 and ok.json()["metadata"]["mode"] == "upload"
    fake = io.BytesIO(b"<svg xmlns='http://www.w3.org/2000/svg'></svg>")
    fake.name = "x.png"
    refused = alice_client.post(reverse("studio:refine-api-upload"), {"file": fake})
    assert refused.status_code == 400 and refused.json()["code"] == "not_image"
    assert alice_client.post(reverse("studio:refine-api-upload"), {}).status_code == 400


def test_only_the_last_five_exports_keep_their_files(cmyk_profile, alice_client, user, picture, inline_jobs):
    from studio.refine import services

    jobs = [services.export_submit(user=user, image=picture, data={"width_mm": 20, "height_mm": 20}) for _ in range(6)]
    first, *rest = jobs
    assert alice_client.get(reverse("studio:refine-export-file", args=[first.pk, "pdf"])).status_code == 404
    for job in rest:
        assert alice_client.get(reverse("studio:refine-export-file", args=[job.pk, "pdf"])).status_code == 200
    first.refresh_from_db()
    assert first.progress["pruned"] is True and first.progress["files"] == {}
