"""Lists that scale: the active branch in pages, conversations in pages, constant queries on hot pages."""

from __future__ import annotations

import pytest

from assistant.models import Conversation, Message

pytestmark = pytest.mark.django_db


def _chain(conversation, n, *, parent=None):
    """``n`` alternating user / assistant messages, each the child of the one before."""
    made = []
    for i in range(n):
        role = "user" if i % 2 == 0 else "assistant"
        parent = Message.objects.create(
            conversation=conversation,
            parent=parent,
            role=role,
            content=f"{role} {i}",
            content_html=f"<p>{role} {i}</p>" if role == "assistant" else "",
        )
        made.append(parent)
    conversation.current_leaf = made[-1]
    conversation.save()
    return made


def test_the_message_list_returns_the_newest_page_of_the_active_branch_only(client, user):
    conversation = Conversation.objects.create(owner=user)
    chain = _chain(conversation, 120)
    other_branch = Message.objects.create(conversation=conversation, parent=chain[9], role="user", content="alt")
    client.force_login(user)

    first = client.get(f"/api/conversations/{conversation.pk}/messages/").json()
    older = client.get(f"/api/conversations/{conversation.pk}/messages/?before={first['next_before']}").json()
    oldest = client.get(f"/api/conversations/{conversation.pk}/messages/?before={older['next_before']}").json()

    assert [m["id"] for m in first["results"]] == [m.pk for m in chain[-50:]]
    assert first["has_more"] and older["has_more"] and not oldest["has_more"]
    assert [m["id"] for m in oldest["results"] + older["results"]] == [m.pk for m in chain[:70]]
    tenth = next(m for m in oldest["results"] if m["id"] == chain[10].pk)
    assert tenth["siblings"] == [chain[10].pk, other_branch.pk]  # the ‹ 1 / 2 › switch
    assert all(m["id"] != other_branch.pk for m in first["results"] + older["results"] + oldest["results"])


def test_the_tree_endpoint_lists_every_branch_without_contents(client, user):
    conversation = Conversation.objects.create(owner=user)
    chain = _chain(conversation, 4)
    Message.objects.create(conversation=conversation, parent=chain[0], role="assistant", content="secret alt")
    client.force_login(user)

    tree = client.get(f"/api/conversations/{conversation.pk}/messages/tree/").json()["results"]

    assert len(tree) == 5 and set(tree[0]) == {"id", "parent_id", "role", "status"}


def test_the_message_list_takes_the_same_queries_for_ten_or_a_thousand_messages(
    client, user, django_assert_num_queries
):
    small, big = Conversation.objects.create(owner=user), Conversation.objects.create(owner=user)
    _chain(small, 10)
    _chain(big, 1000)
    client.force_login(user)
    client.get(f"/api/conversations/{small.pk}/messages/")  # warm the session

    with django_assert_num_queries(6):
        assert client.get(f"/api/conversations/{small.pk}/messages/").status_code == 200
    with django_assert_num_queries(6):
        assert client.get(f"/api/conversations/{big.pk}/messages/").status_code == 200


def test_conversations_page_with_a_cursor_and_none_is_lost_or_repeated(client, user, other_user):
    made = [Conversation.objects.create(owner=user, title=f"c{i}", pinned=i % 7 == 0) for i in range(130)]
    Conversation.objects.create(owner=other_user, title="not yours")
    client.force_login(user)

    seen, cursor = [], ""
    while True:
        page = client.get(f"/api/conversations/?limit=50&cursor={cursor}").json()
        seen += [c["id"] for c in page["results"]]
        cursor = page["next"]
        if not cursor:
            break

    assert sorted(seen) == sorted(c.pk for c in made) and len(seen) == len(set(seen))
    pinned = [c.pk for c in made if c.pinned]
    assert set(seen[: len(pinned)]) == set(pinned)  # pinned first


def test_the_conversation_list_and_chat_page_take_constant_queries(client, user, django_assert_num_queries):
    for i in range(60):
        conversation = Conversation.objects.create(owner=user, title=f"c{i}")
    _chain(conversation, 6)
    client.force_login(user)
    client.get("/api/conversations/")

    with django_assert_num_queries(3):
        assert client.get("/api/conversations/").status_code == 200
    with django_assert_num_queries(3):
        assert client.get("/api/conversations/?q=assistant").status_code == 200
    with django_assert_num_queries(6):
        assert client.get(f"/chat/{conversation.pk}/").status_code == 200


def test_the_export_takes_constant_queries(client, user, django_assert_num_queries):
    small, big = Conversation.objects.create(owner=user), Conversation.objects.create(owner=user)
    _chain(small, 4)
    _chain(big, 200)
    client.force_login(user)
    client.get(f"/api/conversations/{small.pk}/export/?format=md")

    for conversation in (small, big):  # each count includes the export's audit-log row
        with django_assert_num_queries(7):
            assert client.get(f"/api/conversations/{conversation.pk}/export/?format=md").status_code == 200
        with django_assert_num_queries(6):
            assert client.get(f"/api/conversations/{conversation.pk}/export/?format=json").status_code == 200
