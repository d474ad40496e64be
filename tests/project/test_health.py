"""/healthz and the production profile."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def test_healthz_tells_the_public_only_ok_or_not(client, user):
    anonymous = client.get("/healthz")
    client.force_login(user)  # signed in, but not staff
    member = client.get("/healthz")

    assert anonymous.status_code == member.status_code == 200
    assert anonymous.json() == member.json() == {"status": "ok"}


def test_healthz_hides_paths_and_errors_from_the_public(client, admin_client, tmp_path):
    from catalog.services import model_register
    from inference.errors import ModelLoadError
    from inference.registry import ModelSpec, get_engine

    entry = model_register(
        name="missing", display_name="Missing", kind="text", engine="llamacpp", path=str(tmp_path / "x.gguf")
    )
    with pytest.raises(ModelLoadError):
        get_engine(ModelSpec.from_dict(entry.to_spec()))

    public = client.get("/healthz").content.decode()
    staff = admin_client.get("/healthz").content.decode()

    assert str(tmp_path) not in public and "Missing" not in public and "pid" not in public
    assert "Missing" in staff  # staff still see what failed


def test_healthz_reports_database_channel_layer_and_engines_to_staff(admin_client):
    response = admin_client.get("/healthz")

    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["channel_layer"]["ok"]
    assert body["broker"] is None and body["jobs"] == "inprocess"
    assert body["engines"]["mode"] == "inprocess" and isinstance(body["engines"]["models"], list)


def test_healthz_lists_a_model_once_it_is_loaded(admin_client, user, text_model):
    from catalog.models import ModelEntry
    from inference.registry import ModelSpec, get_engine

    get_engine(ModelSpec.from_dict(ModelEntry.objects.get(name="gemma-test").to_spec()))

    models = admin_client.get("/healthz").json()["engines"]["models"]

    assert "Gemma 3 270M (test)" in [m["name"] for m in models]


def test_production_settings_pass_the_deploy_check():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "exaone_web.settings.production",
        "DJANGO_SECRET_KEY": "k" * 20 + "Q7!x-Z" * 8,
        "DJANGO_ALLOWED_HOSTS": "chat.example.com",
    }

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def _production_setting(name: str, **env: str) -> str:
    environment = {
        **{key: value for key, value in os.environ.items() if key != "TRUSTED_PROXIES"},
        "DJANGO_SETTINGS_MODULE": "exaone_web.settings.production",
        "DJANGO_SECRET_KEY": "k" * 20 + "Q7!x-Z" * 8,
        "DJANGO_ALLOWED_HOSTS": "chat.example.com",
        **env,
    }
    code = f"import exaone_web.settings.production as p; print(repr(getattr(p, {name!r}, None)))"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=environment, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_forwarded_proto_is_trusted_only_when_a_proxy_is_configured():
    assert _production_setting("SECURE_PROXY_SSL_HEADER") == "None"
    assert _production_setting("SECURE_PROXY_SSL_HEADER", TRUSTED_PROXIES="172.16.0.0/12") == repr(
        ("HTTP_X_FORWARDED_PROTO", "https")
    )


def test_production_settings_refuse_a_missing_secret():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "exaone_web.settings.production", "DJANGO_SECRET_KEY": ""}
    env["DJANGO_ALLOWED_HOSTS"] = "chat.example.com"

    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_migrations_are_up_to_date():
    result = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout
