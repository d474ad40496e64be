"""The REST API's collections, documents, images and boards: the owner and shared groups read them, a key of
another user gets 404 for each of them (tested with that user's existing objects)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from apikeys.services import key_create
from knowledge.models import Collection, Document
from studio.models import Board, StudioImage

pytestmark = pytest.mark.django_db


@pytest.fixture
def bobs(other_user):
    """Bob's existing objects: a collection with a document, an image, a board holding it."""
    collection = Collection.objects.create(owner=other_user, name="bob's manuals")
    document = Document.objects.create(collection=collection, file="x.pdf", filename="bob-secret.pdf", status="ready")
    image = StudioImage.objects.create(owner=other_user, file="7/x.png", seed=3)
    board = Board.objects.create(owner=other_user, name="bob's board")
    board.images.add(image)
    return {"collection": collection, "document": document, "image": image, "board": board}


def _get(client, path: str, secret: str):
    return client.get(path, HTTP_AUTHORIZATION=f"Bearer {secret}")


def _paths(objects) -> list[str]:
    return [
        f"/api/collections/{objects['collection'].pk}/",
        f"/api/collections/{objects['collection'].pk}/documents/",
        f"/api/documents/{objects['document'].pk}/",
        f"/api/images/{objects['image'].pk}/",
        f"/api/boards/{objects['board'].pk}/",
    ]


def test_a_key_of_user_a_cannot_read_user_bs_resources(client, user, bobs):
    secret = key_create(user=user, name="read", scopes=["read"]).secret

    answers = {path: _get(client, path, secret).status_code for path in _paths(bobs)}
    listings = [_get(client, f"/api/{what}/", secret).json() for what in ("collections", "images", "boards")]

    assert set(answers.values()) == {404}, answers
    assert all(listing["count"] == 0 for listing in listings)


def test_the_owner_reads_them_with_a_signed_image_link(client, other_user, bobs):
    secret = key_create(user=other_user, name="read", scopes=["read"]).secret

    answers = {path: _get(client, path, secret) for path in _paths(bobs)}
    board = answers[f"/api/boards/{bobs['board'].pk}/"].json()

    assert {a.status_code for a in answers.values()} == {200}
    assert answers[f"/api/documents/{bobs['document'].pk}/"].json()["filename"] == "bob-secret.pdf"
    assert board["own"] and board["images"][0]["url"].startswith("http://testserver/studio/images/signed/")


def test_a_group_a_board_and_a_collection_are_shared_with_reads_them(client, user, bobs, other_user):
    team = Group.objects.create(name="team")
    user.groups.add(team)
    other_user.groups.add(team)
    bobs["board"].shared_with_groups.add(team)
    bobs["collection"].shared_with_groups.add(team)
    secret = key_create(user=user, name="read", scopes=["read"]).secret

    board = _get(client, f"/api/boards/{bobs['board'].pk}/", secret).json()
    image = _get(client, f"/api/images/{bobs['image'].pk}/", secret)
    documents = _get(client, f"/api/collections/{bobs['collection'].pk}/documents/", secret).json()

    assert board["own"] is False and [i["id"] for i in board["images"]] == [bobs["image"].pk]
    assert image.status_code == 200 and image.json()["own"] is False
    assert [d["filename"] for d in documents["results"]] == ["bob-secret.pdf"]
    assert _get(client, "/api/images/", secret).json()["count"] == 0  # listed through the board, not as own


def test_a_flagged_image_on_a_shared_board_stays_hidden(client, user, bobs, other_user):
    team = Group.objects.create(name="team")
    user.groups.add(team)
    bobs["board"].shared_with_groups.add(team)
    StudioImage.objects.filter(pk=bobs["image"].pk).update(flagged=True)
    secret = key_create(user=user, name="read", scopes=["read"]).secret

    board = _get(client, f"/api/boards/{bobs['board'].pk}/", secret).json()

    assert board["images"] == []
    assert _get(client, f"/api/images/{bobs['image'].pk}/", secret).status_code == 404


def test_the_studio_pages_own_endpoints_take_no_api_key(client, user):
    # An images key goes through /v1/images/generations (its scope and images-a-day limit); the studio page's
    # JSON endpoints, which that limit does not cover, answer it as if no one had signed in.
    secret = key_create(user=user, name="all", scopes=["chat", "images", "embeddings"]).secret
    for method, path in (
        ("post", "/studio/api/generations/"),
        ("get", "/studio/api/generations/"),
        ("get", "/studio/api/images/"),
        ("post", "/studio/api/boards/"),
    ):
        response = getattr(client, method)(
            path, data={}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}"
        )
        assert response.status_code == 403, (method, path, response.status_code)

    # The same user's browser session still reaches them.
    client.force_login(user)
    assert client.get("/studio/api/images/").status_code == 200
