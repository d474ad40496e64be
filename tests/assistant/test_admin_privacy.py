"""Users' chats in the admin (SECURITY.md line 22): invisible by default, visible and audited when allowed.

Every admin page that can show user data is visited with canary strings planted in a user's conversation:
titles, messages, reasoning, errors and attachments.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from assistant.models import Attachment, ChatAccessLog, Conversation, Message, MessageFeedback
from catalog.models import ModelEntry
from knowledge.models import Chunk, Collection, Document
from studio.models import Generation

pytestmark = pytest.mark.django_db

CANARIES = (
    "canary-title-5501",
    "canary-question-5501",
    "canary-answer-5501",
    "canary-document-5501",
    "canary-passage-5501",
    "canary-brief-5501",
    "canary-reasoning-5501",
    "canary-error-5501",
    "canary-file-5501",
    "canary-cell-5501",
)


@pytest.fixture
def private_chat(user):
    conversation = Conversation.objects.create(owner=user, title="canary-title-5501 research")
    question = Message.objects.create(conversation=conversation, role="user", content="canary-question-5501 etching")
    answer = Message.objects.create(
        conversation=conversation,
        parent=question,
        role="assistant",
        content="canary-answer-5501 plasma",
        reasoning="canary-reasoning-5501",
        error="canary-error-5501",
    )
    Attachment.objects.create(
        owner=user,
        conversation=conversation,
        message=question,
        name="canary-file-5501.csv",
        kind="csv",
        table={"columns": ["a"], "rows": [["canary-cell-5501"]]},
    )
    MessageFeedback.objects.create(message=answer, user=user, rating=1, comment="helpful", model_name="gemma")
    # The same user's documents and studio work: admin pages list related objects, never their content.
    collection = Collection.objects.create(owner=user, name="manuals")
    document = Document.objects.create(collection=collection, file="x.pdf", filename="canary-document-5501.pdf")
    Chunk.objects.create(document=document, collection=collection, ordinal=0, text="canary-passage-5501 valve")
    image_model = ModelEntry.objects.create(name="sd-admin-test", display_name="SD", kind="image", engine="diffusers")
    Generation.objects.create(
        owner=user,
        brief="canary-brief-5501",
        prompt="canary-brief-5501",
        model=image_model,
        width=64,
        height=64,
        steps=4,
        guidance=7.0,
        seed=1,
        count=1,
    )
    return conversation


def _admin_pages(user) -> list[tuple[str, str, dict | None]]:
    """(method, url, POST data) for every page the admin offers on every object that exists."""
    pages: list[tuple[str, str, dict | None]] = [("get", reverse("admin:index"), None)]
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        pages.append(("get", reverse(f"admin:{info[0]}_{info[1]}_changelist"), None))
        pages.append(("get", reverse(f"admin:{info[0]}_{info[1]}_add"), None))
        pages.append(("get", reverse("admin:app_list", args=[info[0]]), None))
        for obj in model._default_manager.all():
            for view in ("change", "delete", "history"):
                pages.append(("get", reverse(f"admin:{info[0]}_{info[1]}_{view}", args=[obj.pk]), None))
            # The bulk "delete selected" action shows its own confirmation page.
            action = {"action": "delete_selected", "_selected_action": [obj.pk]}
            pages.append(("post", reverse(f"admin:{info[0]}_{info[1]}_changelist"), action))
    pages.append(("get", reverse("admin:auth_user_password_change", args=[user.pk]), None))
    return pages


def _canaries_in(content: bytes) -> list[str]:
    text = content.decode("utf-8", "replace")
    return [canary for canary in CANARIES if canary in text]


def test_no_admin_page_shows_chat_content_by_default(admin_client, user, private_chat, settings):
    settings.ADMIN_CAN_READ_CHATS = False

    seen = {}
    for method, url, data in _admin_pages(user):
        response = getattr(admin_client, method)(url, data) if data else admin_client.get(url)
        assert response.status_code in (200, 302, 403, 404), (url, response.status_code)
        if found := _canaries_in(response.content):
            seen[url] = found

    assert seen == {}
    assert ChatAccessLog.objects.count() == 0
    assert Message.objects.filter(conversation=private_chat).count() == 2  # no page deleted anything


def test_conversation_pages_are_404_by_default(admin_client, private_chat, settings):
    settings.ADMIN_CAN_READ_CHATS = False

    for view, args in (("changelist", []), ("change", [private_chat.pk]), ("delete", [private_chat.pk])):
        response = admin_client.get(reverse(f"admin:assistant_conversation_{view}", args=args))

        assert response.status_code == 404, view
    assert "assistant/conversation" not in admin_client.get(reverse("admin:index")).content.decode()


def test_user_delete_page_summarises_chats_as_counts(admin_client, user, private_chat):
    response = admin_client.get(reverse("admin:accounts_user_delete", args=[user.pk]))

    page = response.content.decode()
    assert response.status_code == 200
    assert _canaries_in(response.content) == []
    assert "alice" in page
    # The summary still tells the admin what goes with the account.
    assert "Conversations: 1" in page and "Messages: 2" in page


def test_every_admin_page_that_shows_chat_content_is_logged_when_allowed(admin_client, user, private_chat, settings):
    settings.ADMIN_CAN_READ_CHATS = True

    showing = []
    for method, url, data in _admin_pages(user):
        before = ChatAccessLog.objects.count()
        response = getattr(admin_client, method)(url, data) if data else admin_client.get(url)
        if _canaries_in(response.content):
            showing.append(url)
            entries = ChatAccessLog.objects.order_by("-pk")[: ChatAccessLog.objects.count() - before]
            assert entries, f"{url} showed chat content without an access log entry"
            assert {(e.conversation_id, e.conversation_owner) for e in entries} == {(private_chat.pk, "alice")}
            assert all(e.path == url for e in entries)

    # The conversation list and page do show the chat, so the check above ran on them.
    conversation_pages = [
        reverse("admin:assistant_conversation_changelist"),
        reverse("admin:assistant_conversation_change", args=[private_chat.pk]),
    ]
    assert set(conversation_pages) <= set(showing)
    assert Conversation.objects.filter(pk=private_chat.pk).exists()


def test_opening_a_conversations_delete_page_is_logged_when_allowed(admin_client, private_chat, settings):
    settings.ADMIN_CAN_READ_CHATS = True
    url = reverse("admin:assistant_conversation_delete", args=[private_chat.pk])

    response = admin_client.get(url)

    entry = ChatAccessLog.objects.get()
    assert response.status_code == 200
    assert (entry.conversation_id, entry.conversation_owner, entry.path) == (private_chat.pk, "alice", url)


def test_chat_objects_are_named_without_their_content(user, private_chat):
    message = private_chat.messages.first()
    attachment = Attachment.objects.get()

    names = [str(private_chat), str(message), str(attachment)]

    assert _canaries_in(" ".join(names).encode()) == []
    assert names == [f"Conversation #{private_chat.pk}", f"User message #{message.pk}", f"Attachment #{attachment.pk}"]
