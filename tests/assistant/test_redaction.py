"""Engine errors reach users without internal URLs, paths or hosts (issue 9, item 14)."""

from __future__ import annotations

import pytest

from assistant.models import Conversation, Message
from assistant.redaction import user_facing_error

pytestmark = pytest.mark.django_db

ENGINE_ERRORS = [
    (
        "Cannot connect to the model server at http://10.1.2.3:8000/v1 (All connection attempts failed). "
        "Start the server or fix the URL in the admin.",
        ["10.1.2.3", "http://", ":8000"],
        "Start the server",
    ),
    (
        "Model file /srv/exaone/models/gemma.gguf does not exist. Run `make setup` (demo models).",
        ["/srv/exaone", "gemma.gguf"],
        "make setup",
    ),
    (
        "Could not load the tokenizer of 'x' from C:\\models\\x (OSError). Check that tokenizer.json was downloaded.",
        ["C:\\models"],
        "tokenizer.json",
    ),
    ("The model server at https://user:pw@vllm.internal:8443/v1 redirects.", ["vllm.internal", "pw@"], "redirects"),
    ("Cannot reach cache.internal:6379 nor [fd00::5]:8000.", ["cache.internal", "fd00::5"], "Cannot reach"),
]


@pytest.mark.parametrize(("raw", "hidden", "kept"), ENGINE_ERRORS)
def test_internal_details_are_hidden_and_the_advice_is_kept(raw, hidden, kept):
    shown = user_facing_error(raw)

    assert not [part for part in hidden if part in shown], shown
    assert kept in shown


def test_ordinary_messages_pass_unchanged():
    for text in (
        "The conversation takes 5000 tokens but gemma holds 2048. Shorten it by 3:45 or at 10:30.",
        "The model server answered 404: Not Found. Check that the URL ends in /v1.",
        "",
    ):
        assert user_facing_error(text) == text


def test_users_get_failed_replies_without_internal_details_in_lists_and_exports(client, user):
    conversation = Conversation.objects.create(owner=user, title="t")
    question = Message.objects.create(conversation=conversation, role="user", content="q")
    Message.objects.create(
        conversation=conversation,
        parent=question,
        role="assistant",
        status="failed",
        error=ENGINE_ERRORS[0][0],
    )
    client.force_login(user)

    listed = client.get(f"/api/conversations/{conversation.pk}/messages/").content.decode()
    markdown = client.get(f"/api/conversations/{conversation.pk}/export/?format=md").content.decode()
    as_json = client.get(f"/api/conversations/{conversation.pk}/export/?format=json").content.decode()

    for shown in (listed, markdown, as_json):
        assert "10.1.2.3" not in shown and "Start the server" in shown


@pytest.mark.django_db(transaction=True)
def test_a_real_engine_error_reaches_the_user_without_the_server_address(client, user, inline_jobs):
    from assistant import services
    from catalog.services import model_register

    model_register(
        name="remote",
        display_name="Remote",
        kind="text",
        engine="openai",
        path="http://127.0.0.1:9/v1",  # the discard port: nothing listens
        options={"allowed_hosts": ["127.0.0.1"], "timeout": 5},
        is_default=True,
    )
    conversation = Conversation.objects.create(owner=user)
    services.message_send(user=user, conversation=conversation, content="hello")
    client.force_login(user)

    (reply,) = [
        m
        for m in client.get(f"/api/conversations/{conversation.pk}/messages/").json()["results"]
        if m["role"] == "assistant"
    ]

    stored = Message.objects.get(pk=reply["id"])
    assert stored.status == "failed" and "127.0.0.1:9" in stored.error  # kept for admins
    assert reply["status"] == "failed" and "Cannot connect" in reply["error"]
    assert "127.0.0.1" not in reply["error"]
