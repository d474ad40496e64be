"""A live embedded server (daphne, as `make run` starts it) with users, keys and the Gemma model, for the
official ``openai`` client and raw HTTP against ``/v1/``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import REPO, free_port, start_web

SETUP = r"""
import json
from datetime import timedelta
from django.utils import timezone
from django.contrib.auth import get_user_model
from catalog.services import model_register
from assistant.models import Conversation, Message
from apikeys.models import UsageLimits
from apikeys.services import key_create

args = json.loads(ARGS)
model_register(
    name="gemma-test", display_name="Gemma test", kind="text", engine="llamacpp", path=args["gguf"],
    context_length=2048, options={"n_parallel": 4},
    default_sampling={"temperature": 0.0, "max_new_tokens": 24, "seed": 7}, is_default=True,
)
User = get_user_model()
alice = User.objects.create_user("alice", password="s3cret-pass-phrase")
bob = User.objects.create_user("bob", password="s3cret-pass-phrase")
carol = User.objects.create_user("carol", password="s3cret-pass-phrase")
staff = User.objects.create_user("ops", password="s3cret-pass-phrase", is_staff=True)
UsageLimits.objects.create(user=carol, requests_per_minute=2)
bob_chat = Conversation.objects.create(owner=bob, title="bob's secret plans")
Message.objects.create(conversation=bob_chat, role="user", content="bob canary 7731")
keys = {
    "alice": key_create(user=alice, name="script", scopes=["chat"]).secret,
    "alice_read": key_create(user=alice, name="reader", scopes=["read"]).secret,
    "bob": key_create(user=bob, name="bob", scopes=["chat", "read"]).secret,
    "carol": key_create(user=carol, name="carol", scopes=["chat"]).secret,
}
expired = key_create(user=alice, name="old", scopes=["chat"])
expired.key.expires_at = timezone.now() - timedelta(seconds=1)
expired.key.save()
keys["expired"] = expired.secret
revoked = key_create(user=alice, name="gone", scopes=["chat"])
from apikeys.services import key_revoke
key_revoke(key=revoked.key, by=alice)
keys["revoked"] = revoked.secret
print("SETUP=" + json.dumps({"keys": keys, "bob_chat": bob_chat.pk}))
"""


@dataclass
class Live:
    base: str
    keys: dict[str, str]
    bob_chat: int
    env: dict[str, str]
    web: object

    def manage(self, script: str) -> str:
        """Run ``script`` in `manage.py shell` on the server's database; returns its output."""
        out = subprocess.run(
            [sys.executable, "manage.py", "shell", "-v", "0", "-c", script],
            cwd=REPO,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout

    def client(self, who: str = "alice", **kwargs):
        import openai

        return openai.OpenAI(base_url=self.base + "/v1", api_key=self.keys[who], max_retries=0, **kwargs)


@pytest.fixture(scope="module")
def live(gemma_path: Path, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("api-live")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE="exaone_web.settings.base",
        EXAONE_VAR_DIR=str(tmp / "var"),
        MODELS_DIR=str(gemma_path.parent),
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="WARNING",
        CHAT_STREAM_FLUSH_MS="20",
        METRICS_TOKEN="metrics-secret-token",
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run(manage + ["migrate", "-v0"], cwd=REPO, env=env, check=True)
    script = f"ARGS = {json.dumps(json.dumps({'gguf': str(gemma_path)}))}\n" + SETUP
    out = subprocess.run(manage + ["shell", "-c", script], cwd=REPO, env=env, check=True, capture_output=True)
    line = next(x for x in out.stdout.decode().splitlines() if x.startswith("SETUP="))
    data = json.loads(line.removeprefix("SETUP="))
    port = free_port()
    web = start_web(env, port)
    try:
        yield Live(f"http://127.0.0.1:{port}", data["keys"], data["bob_chat"], env, web)
    finally:
        web.stop()
