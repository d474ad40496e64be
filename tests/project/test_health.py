"""/healthz and the production profile."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def test_healthz_reports_database_channel_layer_and_engines(client):
    response = client.get("/healthz")

    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["channel_layer"]["ok"]
    assert body["broker"] is None and body["jobs"] == "inprocess"
    assert body["engines"]["mode"] == "inprocess" and isinstance(body["engines"]["models"], list)


def test_healthz_lists_a_model_once_it_is_loaded(client, user, text_model):
    from catalog.models import ModelEntry
    from inference.registry import ModelSpec, get_engine

    get_engine(ModelSpec.from_dict(ModelEntry.objects.get(name="gemma-test").to_spec()))

    models = client.get("/healthz").json()["engines"]["models"]

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
