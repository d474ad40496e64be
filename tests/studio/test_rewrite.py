"""A Korean brief becomes an English prompt through the text engine (studio.rewrite on the text queue)."""

from __future__ import annotations

import pytest

from exaone_web.jobs.models import Job
from studio import services
from studio.generation import clean_prompt
from studio.models import DEFAULT_REWRITE_INSTRUCTION, ImageModelSettings

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_korean_brief_is_rewritten_by_the_demo_text_model(client, user, text_model, image_model, inline_jobs, events):
    client.force_login(user)

    started = client.post(
        "/studio/api/rewrites/",
        {"brief": "봄의 향기를 담은 향수 패키지", "model": "sd-tiny-test"},
        content_type="application/json",
    )

    assert started.status_code == 202 and inline_jobs == ["studio.rewrite"]
    job = Job.objects.get(pk=started.json()["job"])
    assert job.status == Job.Status.SUCCEEDED and job.queue == "text"
    result = client.get(f"/studio/api/rewrites/{job.pk}/").json()
    # The tiny base model's English is poor; either it gave a usable line, or the brief stands and the page says so.
    assert result["prompt"]
    if result["fallback"]:
        assert result["prompt"] == "봄의 향기를 담은 향수 패키지" and result["note"]
    else:
        assert result["prompt"] == clean_prompt(result["prompt"], instruction=DEFAULT_REWRITE_INSTRUCTION)
        assert len(result["prompt"].split()) >= 2
    assert job.progress["ms"] > 0  # the text engine really ran
    (event,) = [p for _, p in events if p["type"] == "rewrite.done"]
    assert event["job_id"] == job.pk and event["prompt"] == result["prompt"]

    # The user edits the English prompt; both are saved with the generation and in every PNG.
    generation = services.generation_submit(
        user=user,
        data={
            "brief": "봄의 향기를 담은 향수 패키지",
            "prompt": "spring perfume box, pastel",
            "width": 64,
            "height": 64,
            "steps": 2,
            "seed": 1,
        },
    )
    assert generation.brief == "봄의 향기를 담은 향수 패키지" and generation.prompt == "spring perfume box, pastel"
    assert generation.images.get().metadata["brief"] == "봄의 향기를 담은 향수 패키지"


def test_an_admin_can_turn_the_rewrite_off_for_a_model(client, user, image_model, inline_jobs):
    ImageModelSettings.objects.create(model=image_model, rewrite_enabled=False)
    client.force_login(user)

    response = client.post(
        "/studio/api/rewrites/", {"brief": "봄의 향기", "model": "sd-tiny-test"}, content_type="application/json"
    )

    assert response.status_code == 200 and response.json()["job"] is None and response.json()["prompt"] == "봄의 향기"
    assert not Job.objects.exists()
    # And a Korean brief then goes to the image model as it is.
    generation = services.generation_submit(
        user=user, data={"brief": "봄의 향기", "width": 64, "height": 64, "steps": 2}
    )
    assert generation.prompt == "봄의 향기"


def test_an_english_brief_needs_no_rewrite(client, user, image_model):
    client.force_login(user)
    response = client.post("/studio/api/rewrites/", {"brief": "a pastel perfume box"}, content_type="application/json")
    assert response.json() == {"job": None, "prompt": "a pastel perfume box", "note": response.json()["note"]}


def test_the_admins_instruction_is_what_the_model_reads(user, text_model, image_model, monkeypatch, inline_jobs):
    from inference import registry

    ImageModelSettings.objects.create(model=image_model, rewrite_instruction="Translate to English: canary-7781")
    seen = []
    real = registry.get_engine

    def spy(spec):
        engine = real(spec)
        original = engine.stream

        def stream(request):
            seen.append(request.messages[0].content)
            return original(request)

        monkeypatch.setattr(engine, "stream", stream)
        return engine

    monkeypatch.setattr("studio.generation.get_engine", spy)
    services.rewrite_submit(user=user, brief="봄의 향기", model_name="sd-tiny-test")

    assert seen and seen[0].startswith("Translate to English: canary-7781") and "봄의 향기" in seen[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Prompt: pastel perfume bottle, soft light\nmore", "pastel perfume bottle, soft light"),
        ('"spring flowers, glass bottle"', "spring flowers, glass bottle"),
        ("봄의 향기", ""),
        ("", ""),
        ("\n\n", ""),
    ],
)
def test_clean_prompt_keeps_one_usable_english_line(text, expected):
    assert clean_prompt(text, instruction=DEFAULT_REWRITE_INSTRUCTION) == expected
