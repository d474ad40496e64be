"""Variations, inpainting, outpainting, upscaling, image to text and print export as jobs on the tiny models."""

from __future__ import annotations

import base64
import io

import pikepdf
import pytest
from PIL import Image, ImageDraw
from refine_support import make_picture

from exaone_web.jobs.models import Job
from studio import storage
from studio.models import StudioImage
from studio.refine import services
from studio.services import StudioError

pytestmark = pytest.mark.django_db(transaction=True)


def pixels(image: StudioImage) -> Image.Image:
    with storage.image_open(image.file) as handle, Image.open(handle) as opened:
        return opened.convert("RGB")


def result_image(job: Job) -> StudioImage:
    job.refresh_from_db()
    assert job.status == Job.Status.SUCCEEDED, job.error
    (image_id,) = job.progress["images"]
    return StudioImage.objects.get(pk=image_id)


def mask_url(size=(64, 64), box: tuple[int, int, int, int] | None = (8, 8, 24, 24)) -> str:
    mask = Image.new("RGBA", size, (0, 0, 0, 0))
    if box is not None:
        ImageDraw.Draw(mask).rectangle(box, fill=(255, 255, 255, 255))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_a_variation_keeps_the_size_and_records_its_source(user, sd_model, picture, inline_jobs):
    job = services.refine_submit(user=user, image=picture, data={"mode": "variation", "strength": 0.5, "seed": 3})

    made = result_image(job)
    assert inline_jobs == ["studio.refine"]
    assert pixels(made).size == (64, 64)
    assert made.metadata["source"] == picture.pk and made.metadata["mode"] == "variation"
    assert made.metadata["strength"] == 0.5 and made.metadata["prompt"] == "a red and blue box"
    assert made.owner == user and made.seed == 3
    with storage.image_open(made.file) as handle, Image.open(handle) as png:
        assert "exaone:parameters" in png.text  # recall reads these
    assert pixels(made).tobytes() != pixels(picture).tobytes()


def test_inpainting_changes_only_the_masked_area(user, sd_model, picture, inline_jobs):
    job = services.refine_submit(
        user=user,
        image=picture,
        data={"mode": "inpaint", "mask": mask_url(), "feather": 4, "strength": 1.0, "seed": 1},
    )

    made, before = pixels(result_image(job)), pixels(picture)
    assert made.size == before.size
    changed = [(x, y) for x in range(64) for y in range(64) if made.getpixel((x, y)) != before.getpixel((x, y))]
    assert changed, "the masked area should be repainted"
    assert all(8 <= x <= 24 and 8 <= y <= 24 for x, y in changed)
    assert not StudioImage.objects.filter(file__contains="mask").exists()
    assert len(list(storage.studio_storage().listdir(str(user.pk))[1])) == 2  # source + result; the mask is gone


def test_outpainting_extends_the_canvas_and_keeps_the_original(user, sd_model, picture, inline_jobs):
    job = services.refine_submit(
        user=user, image=picture, data={"mode": "outpaint", "side": "right", "amount": 32, "seed": 1}
    )

    made, before = pixels(result_image(job)), pixels(picture)
    assert made.size == (96, 64)
    # Left of the overlap band the original is untouched.
    assert made.crop((0, 0, 64 - 16, 64)).tobytes() == before.crop((0, 0, 64 - 16, 64)).tobytes()


@pytest.mark.parametrize("factor", [2, 4])
def test_upscale_sizes_and_says_how(user, picture, inline_jobs, factor):
    job = services.refine_submit(user=user, image=picture, data={"mode": "upscale", "factor": factor})

    made = result_image(job)
    assert pixels(made).size == (64 * factor, 64 * factor)
    assert job.progress["method"] == "lanczos" and made.metadata["method"] == "lanczos"
    assert made.metadata["source"] == picture.pk


def test_image_to_text_gives_caption_keywords_and_answer(user, vision_model, picture, inline_jobs):
    job = services.describe_submit(user=user, image=picture, data={"language": "ko", "questions": ["무슨 색인가요?"]})

    job.refresh_from_db()
    assert job.queue == "vision" and job.status == Job.Status.SUCCEEDED, job.error
    described = job.progress["description"]
    assert described["language"] == "ko"
    assert isinstance(described["caption"], str)
    assert described["keywords_wanted"] == 10 and described["keywords_found"] == len(described["keywords"]) <= 10
    assert [a["question"] for a in described["answers"]] == ["무슨 색인가요?"]


def test_export_job_writes_a_carton_pdf_and_tiff(cmyk_profile, user, picture, inline_jobs):
    data = {"shape": "carton", "length_mm": 40, "depth_mm": 20, "height_mm": 60, "placement": "wrap"}
    job = services.export_submit(user=user, image=picture, data=data)

    job.refresh_from_db()
    assert job.queue == "default" and job.status == Job.Status.SUCCEEDED, job.error
    files = job.progress["files"]
    with storage.studio_storage().open(files["pdf"]) as handle, pikepdf.open(io.BytesIO(handle.read())) as pdf:
        assert str(pdf.Root.OCProperties.OCGs[0].Name) == "Dieline"
    with storage.studio_storage().open(files["tiff"]) as handle, Image.open(handle) as tiff:
        assert tiff.mode == "CMYK"
    assert job.progress["warnings"]  # a 64 px image on a carton prints soft: warned, not refused


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"mode": "variation", "strength": 1.5}, "out_of_range"),
        ({"mode": "variation", "strength": -0.1}, "out_of_range"),
        ({"mode": "variation", "strength": 0}, "out_of_range"),
        ({"mode": "inpaint", "mask": ""}, "mask_missing"),
        ({"mode": "inpaint", "mask": mask_url(size=(32, 32))}, "mask_size"),
        ({"mode": "inpaint", "mask": mask_url(box=None)}, "mask_empty"),
        ({"mode": "inpaint", "mask": "data:image/png;base64,bm90IGFuIGltYWdl"}, "mask_invalid"),
        ({"mode": "outpaint", "side": "diagonal"}, "invalid"),
        ({"mode": "upscale", "factor": 3}, "out_of_range"),
        ({"mode": "sharpen"}, "invalid"),
    ],
)
def test_bad_refine_input_is_refused_and_nothing_is_queued(user, sd_model, picture, data, code):
    with pytest.raises(StudioError) as caught:
        services.refine_submit(user=user, image=picture, data=data)
    assert caught.value.code == code
    assert not Job.objects.exists()


@pytest.mark.parametrize(
    "data",
    [
        {"width_mm": 0},
        {"width_mm": 2000},
        {"shape": "carton", "length_mm": 40, "depth_mm": 5, "height_mm": 60},
        {"intent": "vivid"},
        {"width_mm": "wide"},
    ],
)
def test_bad_export_input_is_refused(cmyk_profile, user, picture, data):
    with pytest.raises(StudioError):
        services.export_submit(user=user, image=picture, data=data)
    assert not Job.objects.exists()


def test_uploads_that_are_not_images_or_bombs_are_refused(user):
    with pytest.raises(StudioError) as caught:
        services.upload_store(user=user, data=b"%PDF-1.4 not an image")
    assert caught.value.code == "not_image"
    bomb = io.BytesIO()
    Image.new("L", (8000, 8000)).save(bomb, "PNG")  # 64 megapixels of zeros compress to a tiny file
    with pytest.raises(StudioError) as caught:
        services.upload_store(user=user, data=bomb.getvalue())
    assert caught.value.code == "not_image" and "megapixels" in caught.value.message
    assert not StudioImage.objects.exists()


def test_an_upload_becomes_a_gallery_image_to_vary(user, make_user):
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (1, 2, 3)).save(buffer, "JPEG")
    image = services.upload_store(user=user, data=buffer.getvalue())
    assert image.owner == user and image.metadata["mode"] == "upload"
    assert make_picture(make_user("bob")).owner.username == "bob"
