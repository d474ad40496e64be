"""/v1/images/generations and /v1/embeddings with no provider registered: keys, scopes, validation and a clear
503 (with the studio's and the knowledge base's providers: test_images_embeddings_wired.py)."""

from __future__ import annotations

import pytest

from apikeys import providers
from apikeys.services import key_create


@pytest.fixture(autouse=True)
def _no_providers(monkeypatch):
    """As on a server where neither the studio nor the knowledge base registered its provider."""
    monkeypatch.setattr(providers, "_providers", {})


def post(client, path: str, body: dict, secret: str):
    return client.post(path, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}")


@pytest.mark.django_db
def test_images_need_the_images_scope_and_say_when_they_are_not_available(client, user):
    chat_key = key_create(user=user, name="chat", scopes=["chat"]).secret
    images_key = key_create(user=user, name="img", scopes=["images"]).secret

    wrong_scope = post(client, "/v1/images/generations", {"prompt": "a red box"}, chat_key)
    not_wired = post(client, "/v1/images/generations", {"prompt": "a red box"}, images_key)

    assert wrong_scope.status_code == 403 and wrong_scope.json()["error"]["code"] == "insufficient_scope"
    assert not_wired.status_code == 503 and not_wired.json()["error"]["code"] == "not_available"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"prompt": "box", "n": 0}, "n"),
        ({"prompt": "box", "n": 99}, "n"),
        ({"prompt": "box", "size": "4096x4096"}, "size"),
        ({"prompt": "box", "size": "big"}, "size"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x" * 5000}, "prompt"),
        ({"prompt": "box", "response_format": "jpeg"}, "response_format"),
    ],
)
def test_image_requests_out_of_range_get_a_400_naming_the_parameter(client, user, body, param):
    secret = key_create(user=user, name="img", scopes=["images"]).secret

    response = post(client, "/v1/images/generations", body, secret)

    assert response.status_code == 400 and response.json()["error"]["param"] == param


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "param", "status"),
    [
        ({"model": "m", "input": []}, "input", 400),
        ({"model": "m", "input": [1, 2, 3]}, "input", 400),
        ({"model": "m", "input": ["x"] * 300}, "input", 400),
        ({"model": "m", "input": "x", "dimensions": 8}, "dimensions", 400),
        ({"input": "x"}, "model", 400),
        ({"model": "m", "input": "hello"}, None, 503),
    ],
)
def test_embedding_requests_are_validated_then_answered_503_until_wired(client, user, body, param, status):
    secret = key_create(user=user, name="emb", scopes=["embeddings"]).secret

    response = post(client, "/v1/embeddings", body, secret)

    assert response.status_code == status and response.json()["error"]["param"] == param
