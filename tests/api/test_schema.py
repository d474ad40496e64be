"""The REST API's OpenAPI schema: served to key holders, browsable, and no generated request makes a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings

from apikeys.services import key_create


@pytest.fixture
def key_headers(db, make_user, registered_model):
    from assistant.models import Conversation, Message

    owner = make_user("schema-owner")
    stranger = make_user("schema-stranger")
    mine = Conversation.objects.create(owner=owner, title="mine")
    Message.objects.create(conversation=mine, role="user", content="hello")
    theirs = Conversation.objects.create(owner=stranger, title="theirs")
    Message.objects.create(conversation=theirs, role="user", content="canary 9917")
    _studio_and_knowledge(owner, "mine")
    _studio_and_knowledge(stranger, "canary 9917")
    secret = key_create(user=owner, name="schema", scopes=["chat", "read"]).secret
    return {"Authorization": f"Bearer {secret}"}


def _studio_and_knowledge(user, name: str) -> None:
    """A collection with a document, an image and a board holding it, so their operations meet real rows."""
    from knowledge.models import Collection, Document
    from studio.models import Board, StudioImage

    collection = Collection.objects.create(owner=user, name=name)
    Document.objects.create(collection=collection, file="x.pdf", filename=f"{name}.pdf", status="ready")
    board = Board.objects.create(owner=user, name=name)
    board.images.add(StudioImage.objects.create(owner=user, file=f"{user.pk}/x.png", seed=1))


@pytest.fixture
def api_schema(key_headers):
    """The schema, loaded from the app in this process (WSGI), on the test's database connection."""
    from django.core.signals import request_finished, request_started
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    # As Django's test client does: a request must not close the test transaction's connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application(), headers=key_headers)
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def test_no_generated_request_makes_a_server_error(api_schema, key_headers):
    # Each operation by hand: schemathesis' pytest integration does not run under pytest 9 yet.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def no_server_error(case):
            case.call_and_validate(headers=key_headers, checks=[schemathesis.checks.not_a_server_error])

        no_server_error()


def test_the_schema_and_its_docs_page_are_served_to_key_holders_only(client, key_headers):
    from accounts.models import User

    anonymous = client.get("/api/schema/")
    schema_doc = client.get("/api/schema/", HTTP_AUTHORIZATION=key_headers["Authorization"])
    client.force_login(User.objects.get(username="schema-owner"))
    docs = client.get("/api/docs/")

    assert anonymous.status_code == 403
    paths = yaml.safe_load(schema_doc.content)["paths"]
    assert "/api/conversations/" in paths and "/api/jobs/{job_id}/" in paths
    for resource in ("collections/{collection_id}/documents/", "documents/{document_id}/", "images/", "boards/"):
        assert f"/api/{resource}" in paths
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()
