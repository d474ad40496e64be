"""The studio over HTTP: pages, serving permissions (owner, shared group, stranger), bad input, boards, recall."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from django.contrib.auth.models import Group
from django.utils import translation
from PIL import Image
from studio_support import small

from exaone_web.jobs.models import Job
from studio import services
from studio.models import Board, Generation, StudioImage, StylePreset

pytestmark = pytest.mark.django_db(transaction=True)


def _client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def made(user, image_model, inline_jobs):
    """Alice's finished generation with one image."""
    generation = services.generation_submit(user=user, data=small())
    return generation, generation.images.get()


def _png_bytes(made_image) -> bytes:
    from studio.storage import image_open

    with image_open(made_image.file) as handle:
        return handle.read()


# ------------------------------------------------------------------------------------------ pages


def test_the_studio_and_gallery_pages_render_with_the_nav_link(client, user, image_model):
    c = _client(client, user)
    page = c.get("/studio/").content.decode()
    assert 'href="/studio/"' in page and 'aria-current="page"' in page and "sd-tiny-test" in page
    assert c.get("/studio/gallery/").status_code == 200


def test_pages_need_a_sign_in(client):
    assert client.get("/studio/").status_code == 302
    assert client.get("/studio/api/images/").status_code == 403


# ------------------------------------------------------------------------------------------ serving


def test_the_owner_gets_the_png_with_safe_headers(client, user, made):
    _, image = made
    response = _client(client, user).get(f"/studio/images/{image.pk}/file/")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png" and response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content) == _png_bytes(image)
    download = client.get(f"/studio/images/{image.pk}/file/?download=1")
    assert (
        download["Content-Disposition"].startswith("attachment")
        and f"studio-{image.pk}-" in download["Content-Disposition"]
    )


def test_the_file_is_not_under_any_public_url(settings, made):
    _, image = made
    from studio.storage import studio_storage

    with pytest.raises(ValueError):
        studio_storage().url(image.file)
    assert not str(settings.STUDIO_ROOT).startswith(str(settings.MEDIA_ROOT))
    assert not str(settings.STUDIO_ROOT).startswith(str(settings.STATIC_ROOT))


def test_a_stranger_gets_404_for_every_object_of_another_user(client, user, other_user, made):
    generation, image = made
    board = Board.objects.create(owner=user, name="spring")
    board.images.add(image)
    rewrite_job = Job.objects.create(kind="studio.rewrite", queue="text", owner=user, params={"brief": "봄"})
    c = _client(client, other_user)
    checks = [
        ("get", f"/studio/images/{image.pk}/file/"),
        ("get", f"/studio/api/images/{image.pk}/"),
        ("patch", f"/studio/api/images/{image.pk}/"),
        ("delete", f"/studio/api/images/{image.pk}/"),
        ("get", f"/studio/api/generations/{generation.pk}/"),
        ("post", f"/studio/api/generations/{generation.pk}/cancel/"),
        ("patch", f"/studio/api/boards/{board.pk}/"),
        ("delete", f"/studio/api/boards/{board.pk}/"),
        ("put", f"/studio/api/boards/{board.pk}/images/{image.pk}/"),
        ("delete", f"/studio/api/boards/{board.pk}/images/{image.pk}/"),
        ("get", f"/studio/api/rewrites/{rewrite_job.pk}/"),
        ("get", f"/studio/api/images/?board={board.pk}"),
    ]
    for verb, url in checks:
        response = getattr(c, verb)(
            url, {"starred": True, "name": "x"} if verb == "patch" else None, content_type="application/json"
        )
        assert response.status_code == 404, (verb, url, response.status_code)
    assert c.get("/studio/api/images/").json()["results"] == []
    assert c.get("/studio/api/generations/").json()["results"] == []
    assert (
        StudioImage.objects.filter(pk=image.pk, starred=False).exists() and Board.objects.filter(pk=board.pk).exists()
    )


def test_a_board_shared_with_a_group_is_read_only_for_its_members(
    client, user, other_user, make_user, made, image_model
):
    _, image = made
    stranger = make_user("carol")
    designers = Group.objects.create(name="designers")
    user.groups.add(designers)
    other_user.groups.add(designers)
    flagged = StudioImage.objects.create(owner=user, file=image.file, seed=1, flagged=True, flag_reason="flagged")
    board = Board.objects.create(owner=user, name="spring")
    board.images.add(image, flagged)

    owner = _client(client, user)
    assert (
        owner.patch(
            f"/studio/api/boards/{board.pk}/", {"groups": [designers.pk]}, content_type="application/json"
        ).status_code
        == 200
    )

    member = _client(client, other_user)
    assert member.get(f"/studio/images/{image.pk}/file/").status_code == 200
    listed = member.get(f"/studio/api/images/?board={board.pk}").json()["results"]
    assert [i["id"] for i in listed] == [image.pk]  # flagged images stay out of shared boards
    assert member.get(f"/studio/images/{flagged.pk}/file/").status_code == 404
    assert (
        member.patch(f"/studio/api/images/{image.pk}/", {"starred": True}, content_type="application/json").status_code
        == 404
    )
    assert member.delete(f"/studio/api/images/{image.pk}/").status_code == 404
    assert (
        member.patch(f"/studio/api/boards/{board.pk}/", {"name": "mine"}, content_type="application/json").status_code
        == 404
    )
    assert any(not b["own"] for b in member.get("/studio/api/boards/").json()["results"])

    outsider = _client(client, stranger)
    assert outsider.get(f"/studio/images/{image.pk}/file/").status_code == 404
    assert outsider.get(f"/studio/api/images/?board={board.pk}").status_code == 404


def test_a_board_can_only_be_shared_with_the_owners_own_groups(client, user):
    board = Board.objects.create(owner=user, name="b")
    elsewhere = Group.objects.create(name="not mine")
    response = _client(client, user).patch(
        f"/studio/api/boards/{board.pk}/", {"groups": [elsewhere.pk]}, content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["code"] == "group_forbidden"
    assert not board.shared_with_groups.exists()


# ------------------------------------------------------------------------------------------ gallery


def test_star_filter_and_delete_remove_the_row_and_the_file(client, user, made):
    _, image = made
    from studio.storage import studio_storage

    c = _client(client, user)
    assert c.patch(f"/studio/api/images/{image.pk}/", {"starred": True}, content_type="application/json").json()[
        "starred"
    ]
    assert [i["id"] for i in c.get("/studio/api/images/?starred=1").json()["results"]] == [image.pk]
    assert c.get("/studio/api/images/?q=perfume").json()["results"]
    assert not c.get("/studio/api/images/?q=nothing-like-this").json()["results"]
    assert c.get("/studio/api/images/?model=sd-tiny-test").json()["results"]
    assert not c.get("/studio/api/images/?model=other").json()["results"]
    assert c.get("/studio/api/images/?from=2000-01-01&to=2999-01-01").json()["results"]
    assert c.get("/studio/api/images/?from=yesterday").status_code == 400

    board = c.post("/studio/api/boards/", {"name": "봄 컬렉션"}, content_type="application/json").json()
    assert c.put(f"/studio/api/boards/{board['id']}/images/{image.pk}/").json()["image_ids"] == [image.pk]
    assert [i["id"] for i in c.get(f"/studio/api/images/?board={board['id']}").json()["results"]] == [image.pk]
    assert c.delete(f"/studio/api/boards/{board['id']}/images/{image.pk}/").json()["image_ids"] == []

    assert c.delete(f"/studio/api/images/{image.pk}/").status_code == 204
    assert not StudioImage.objects.filter(pk=image.pk).exists()
    assert not studio_storage().exists(image.file)


# ------------------------------------------------------------------------------------------ bad input


def _bomb_png() -> bytes:
    """A valid 1x1 PNG whose header claims 20000 x 20000 pixels."""
    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    ihdr = bytearray(data[12:29])
    ihdr[4:12] = struct.pack(">II", 20000, 20000)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"brief": "x" * 1001}, "too_long"),
        ({"brief": "   "}, "empty"),
        ({"brief": ["not", "text"]}, "invalid"),
        ({"steps": 0}, "out_of_range"),
        ({"steps": 10000}, "out_of_range"),
        ({"steps": "many"}, "invalid"),
        ({"guidance": -1}, "out_of_range"),
        ({"guidance": 99}, "out_of_range"),
        ({"guidance": "NaN"}, "out_of_range"),
        ({"width": 8}, "out_of_range"),
        ({"height": 4096}, "out_of_range"),
        ({"width": 100}, "invalid"),
        ({"seed": "abc"}, "invalid"),
        ({"seed": -5}, "out_of_range"),
        ({"seed": 2**40}, "out_of_range"),
        ({"count": 0}, "out_of_range"),
        ({"count": 5}, "out_of_range"),
        ({"model": "gemma-or-anything"}, "unknown_model"),
        ({"preset": "admins-only"}, "preset_forbidden"),
        ({"preset": "no-such-preset"}, "preset_forbidden"),
        ({"brief": "봄의 향기", "prompt": ""}, "needs_prompt"),
    ],
)
def test_bad_generation_input_is_refused_clearly_and_nothing_is_stored(
    client, user, image_model, inline_jobs, change, code
):
    StylePreset.objects.create(slug="admins-only", name_en="Admins", name_ko="관리자", roles=["admin"])
    c = _client(client, user)

    response = c.post("/studio/api/generations/", small(**change), content_type="application/json")

    assert response.status_code == 400 and response.json()["code"] == code
    assert response.json()["detail"]
    assert not Generation.objects.exists() and not Job.objects.exists()
    # The worker is still up: a good request right after goes through.
    assert c.post("/studio/api/generations/", small(), content_type="application/json").status_code == 201
    assert Generation.objects.get().status == Generation.Status.DONE


def test_errors_come_in_the_users_language(client, user, image_model):
    c = _client(client, user)
    with translation.override("ko"):
        response = c.post(
            "/studio/api/generations/", small(steps=0), content_type="application/json", HTTP_ACCEPT_LANGUAGE="ko"
        )
    assert response.status_code == 400
    assert any("\uac00" <= ch <= "\ud7a3" for ch in response.json()["detail"]), response.json()


def test_a_preset_adds_its_fragments_and_a_role_it_allows_may_use_it(user, image_model, inline_jobs):
    preset = StylePreset.objects.create(
        slug="pastel",
        name_en="Pastel",
        name_ko="파스텔",
        prompt_fragment="pastel colours",
        negative="dark",
        roles=["expert"],
    )
    generation = services.generation_submit(user=user, data=small(preset="pastel"))
    generation.refresh_from_db()
    from studio.generation import full_prompts

    assert generation.preset == preset and generation.status == Generation.Status.DONE
    assert full_prompts(generation) == ("a glass perfume bottle, pastel colours", "dark")
    assert generation.images.get().metadata["preset"] == "pastel"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"just some text, not an image", "not_image"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "svg"),
        (b"GIF89a" + b"\x00" * 40, "not_image"),
        (_bomb_png(), "too_large"),
        (b"", "empty"),
    ],
)
def test_recall_refuses_what_is_not_a_studio_png(client, user, payload, code):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = _client(client, user).post("/studio/api/recall/", {"file": SimpleUploadedFile("x.png", payload)})

    assert response.status_code == 400 and response.json()["code"] == code, response.json()
    assert not StudioImage.objects.exists()


def test_recall_refuses_a_png_html_polyglot_and_a_png_without_settings(client, user, made):
    from django.core.files.uploadedfile import SimpleUploadedFile

    _, image = made
    c = _client(client, user)
    good = _png_bytes(image)
    polyglot = good + b"<html><script>alert(document.cookie)</script></html>"
    response = c.post("/studio/api/recall/", {"file": SimpleUploadedFile("x.png", polyglot)})
    assert response.status_code == 400 and response.json()["code"] == "polyglot"

    plain = io.BytesIO()
    Image.new("RGB", (8, 8)).save(plain, format="PNG")
    response = c.post("/studio/api/recall/", {"file": SimpleUploadedFile("x.png", plain.getvalue())})
    assert response.status_code == 400 and response.json()["code"] == "no_settings"

    response = c.post("/studio/api/recall/", {"file": SimpleUploadedFile("../../etc/passwd", good)})
    assert response.status_code == 200 and response.json()["seed"] == 42
    assert StudioImage.objects.count() == 1


# ------------------------------------------------------------------------------------------ waiting


def test_a_queued_generation_shows_its_position_and_an_estimate(client, user, other_user, image_model, held_jobs):
    services.generation_submit(user=user, data=small())
    mine = services.generation_submit(user=other_user, data=small())
    services.generation_submit(user=user, data=small())

    data = _client(client, other_user).get(f"/studio/api/generations/{mine.pk}/").json()

    assert data["status"] == "queued" and data["queue_position"] == 1
    assert "wait_s" in data
