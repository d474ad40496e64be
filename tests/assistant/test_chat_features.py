"""Branches, edits, regenerate, continue, profiles, language, quota, feedback, export, search, privacy."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import Group

from assistant import generation, profiles, prompting, services
from assistant.models import ChatAccessLog, Conversation, ExpertProfile, Message, MessageFeedback

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chat(user, text_model):
    return Conversation.objects.create(owner=user)


def _reply(chat, user, text, **kwargs):
    _, reply = services.message_send(user=user, conversation=chat, content=text, **kwargs)
    reply.refresh_from_db()
    return reply


@pytest.fixture
def chemist(db, text_model):
    profile = ExpertProfile(
        slug="chemist",
        name_en="Process chemist",
        name_ko="공정 화학자",
        domain="chemistry",
        system_prompt_en="You are a process chemist. canary-system-en",
        system_prompt_ko="당신은 공정 화학자입니다. canary-system-ko",
        default_sampling={"max_new_tokens": 32},
    )
    return profiles.profile_save(profile=profile)


def test_edit_starts_a_branch_and_the_model_sees_only_that_branch(user, chat, inline_jobs):
    first = _reply(chat, user, "first question")
    second = _reply(chat, user, "second question with canary-old-branch")
    question = second.parent

    edited = _reply(chat, user, "second question, edited", edit_of=question.pk)

    chat.refresh_from_db()
    assert edited.parent.parent_id == first.pk  # the edit is a sibling of the old question
    assert edited.parent.pk != question.pk and chat.current_leaf_id == edited.pk
    history = prompting.reply_messages(
        Message.objects.create(conversation=chat, parent=edited, role="assistant", status="queued", language="en"),
        continuing=False,
    )
    sent = "\n".join(turn.content for turn in history)
    assert "second question, edited" in sent and "canary-old-branch" not in sent
    assert Message.objects.filter(pk=question.pk).exists()  # the old branch is kept


def test_regenerate_adds_a_sibling_and_branch_select_switches(user, chat, inline_jobs):
    original = _reply(chat, user, "Name a noble gas.")

    again = services.reply_regenerate(user=user, conversation=chat, message_id=original.pk)
    chat.refresh_from_db()
    siblings = list(chat.messages.filter(parent=original.parent).order_by("id"))
    leaf = services.branch_select(conversation=chat, message_id=original.pk)

    assert [m.pk for m in siblings] == [original.pk, again.pk]
    assert leaf.pk == original.pk
    chat.refresh_from_db()
    assert chat.current_leaf_id == original.pk


def test_branch_id_from_another_conversation_is_refused(user, chat, client, inline_jobs):
    elsewhere = Conversation.objects.create(owner=user)
    foreign = _reply(elsewhere, user, "hello")
    client.force_login(user)

    response = client.post(
        f"/api/conversations/{chat.pk}/branch/", {"message_id": foreign.pk}, content_type="application/json"
    )

    assert response.status_code == 400 and response.json()["code"] == "not_found"


def test_continue_resumes_a_stopped_answer_after_its_text(user, chat, text_model, inline_jobs):
    text_model.options = {"n_parallel": 2}
    text_model.default_sampling = {"temperature": 0.0, "max_new_tokens": 24}
    text_model.save()
    reply = _reply(chat, user, "Write about 5G base stations.")
    Message.objects.filter(pk=reply.pk).update(status="stopped")  # as if Stop was pressed
    before = reply.content

    services.reply_continue(user=user, conversation=chat, message_id=reply.pk)

    reply.refresh_from_db()
    assert reply.status == "done" and reply.content.startswith(before) and len(reply.content) > len(before)
    assert reply.completion_tokens > 24


def test_continue_refuses_a_message_without_text(user, chat, inline_jobs):
    reply = _reply(chat, user, "hello")
    Message.objects.filter(pk=reply.pk).update(status="stopped", content="")

    with pytest.raises(services.ChatError) as caught:
        services.reply_continue(user=user, conversation=chat, message_id=reply.pk)

    assert caught.value.code == "cannot_continue"


def test_reasoning_stays_out_of_later_context(user, chat, inline_jobs):
    reply = _reply(chat, user, "think first")
    Message.objects.filter(pk=reply.pk).update(reasoning="canary-hidden-reasoning")
    follow = _reply(chat, user, "and then?")

    history = prompting.reply_messages(follow, continuing=False)

    assert all("canary-hidden-reasoning" not in turn.content for turn in history)


def test_reply_language_follows_the_user_unless_the_profile_fixes_it(user, chemist, inline_jobs):
    chat = Conversation.objects.create(owner=user, profile=chemist)

    korean = _reply(chat, user, "촉매의 역할을 설명해 주세요.")
    english = _reply(chat, user, "Explain the role of a catalyst.")
    chemist.reply_language = "ko"
    profiles.profile_save(profile=chemist)
    fixed = _reply(chat, user, "Explain it again, in English please.")

    assert (korean.language, english.language, fixed.language) == ("ko", "en", "ko")
    system = prompting.reply_messages(fixed, continuing=False)[0].content
    assert "canary-system-ko" in system and "Reply in Korean" in system


def test_each_message_records_the_profile_version_it_used(user, chemist, inline_jobs):
    chat = Conversation.objects.create(owner=user, profile=chemist)
    first = _reply(chat, user, "q1")
    chemist.system_prompt_en = "You are a senior process chemist."
    profiles.profile_save(profile=chemist)
    second = _reply(chat, user, "q2")

    assert first.profile_version.version == 1 and second.profile_version.version == 2
    assert first.profile_version.snapshot["system_prompt_en"].endswith("canary-system-en")


def test_a_profile_limited_to_a_group_is_refused_to_others(user, other_user, chemist, client):
    lab = Group.objects.create(name="lab")
    chemist.groups.add(lab)
    user.groups.add(lab)
    client.force_login(other_user)

    listed = client.get("/api/profiles/").json()["results"]
    created = client.post("/api/conversations/", {"profile": "chemist"}, content_type="application/json")

    assert listed == []
    assert created.status_code == 400 and created.json()["code"] == "profile_forbidden"
    assert [p.slug for p in profiles.profile_list(user=user)] == ["chemist"]


def test_a_profile_for_other_roles_is_refused(user, chemist):
    chemist.allowed_roles = ["designer"]
    profiles.profile_save(profile=chemist)

    with pytest.raises(services.ChatError) as caught:
        services.conversation_create(user=user, profile_slug="chemist")

    assert caught.value.code == "profile_forbidden"


def test_daily_quota_stops_new_messages_with_a_clear_message(user, chat, inline_jobs):
    _reply(chat, user, "spend some tokens")
    user.daily_token_quota = 10
    user.save()

    with pytest.raises(services.ChatError) as caught:
        services.message_send(user=user, conversation=chat, content="more")

    assert caught.value.code == "quota" and "10" in caught.value.message
    assert chat.messages.count() == 2


def test_feedback_is_saved_per_message_with_profile_and_model(user, chemist, client, inline_jobs):
    chat = Conversation.objects.create(owner=user, profile=chemist)
    reply = _reply(chat, user, "q")
    client.force_login(user)

    response = client.put(
        f"/api/conversations/{chat.pk}/messages/{reply.pk}/feedback/",
        {"rating": -1, "comment": "단위가 틀렸어요"},
        content_type="application/json",
    )

    feedback = MessageFeedback.objects.get(message=reply)
    assert response.status_code == 200
    assert (feedback.rating, feedback.profile_name, feedback.profile_version) == (-1, "Process chemist", 1)
    assert feedback.model_name == "Gemma 3 270M (test)" and feedback.comment == "단위가 틀렸어요"


def test_feedback_on_someone_elses_message_is_404(user, other_user, chat, client, inline_jobs):
    reply = _reply(chat, user, "q")
    client.force_login(other_user)

    response = client.put(
        f"/api/conversations/{chat.pk}/messages/{reply.pk}/feedback/", {"rating": 1}, content_type="application/json"
    )

    assert response.status_code == 404
    assert not MessageFeedback.objects.exists()


def test_export_markdown_follows_the_branch_and_json_keeps_everything(user, chat, client, inline_jobs):
    _reply(chat, user, "원래 질문 canary-old")
    question = chat.messages.get(content="원래 질문 canary-old", role="user")
    _reply(chat, user, "고친 질문", edit_of=question.pk)
    client.force_login(user)

    markdown = client.get(f"/api/conversations/{chat.pk}/export/?format=md")
    exported = client.get(f"/api/conversations/{chat.pk}/export/?format=json")

    assert markdown["Content-Disposition"].startswith("attachment;")
    title, body = markdown.content.decode().split("\n", 1)
    assert title.startswith("# ")  # the title keeps the first question
    assert "고친 질문" in body and "canary-old" not in body
    data = json.loads(exported.content)
    assert {m["content"] for m in data["messages"] if m["role"] == "user"} == {"원래 질문 canary-old", "고친 질문"}
    assert client.get(f"/api/conversations/{chat.pk}/export/?format=exe").status_code == 400


def test_search_finds_korean_in_titles_and_messages_of_the_owner_only(user, other_user, client):
    mine = Conversation.objects.create(owner=user, title="식각 공정 메모")
    Message.objects.create(conversation=mine, role="user", content="플라즈마 식각 조건")
    other = Conversation.objects.create(owner=other_user, title="플라즈마")
    client.force_login(user)

    by_content = client.get("/api/conversations/", {"q": "플라즈마"}).json()["results"]
    by_title = client.get("/api/conversations/", {"q": "식각"}).json()["results"]

    assert [c["id"] for c in by_content] == [mine.pk] and other.pk not in [c["id"] for c in by_title]
    assert [c["id"] for c in by_title] == [mine.pk]


def test_pinned_conversations_come_first(user, client):
    older = Conversation.objects.create(owner=user, title="older")
    Conversation.objects.create(owner=user, title="newer")
    client.force_login(user)

    client.patch(f"/api/conversations/{older.pk}/", {"pinned": True}, content_type="application/json")
    titles = [c["title"] for c in client.get("/api/conversations/").json()["results"]]

    assert titles == ["older", "newer"]


def test_admins_cannot_open_users_chats_by_default(admin_client, user):
    Conversation.objects.create(owner=user, title="private")

    response = admin_client.get("/admin/assistant/conversation/")

    assert response.status_code == 404


def test_allowed_admin_access_is_written_to_the_audit_log(admin_user, user, rf, settings):
    from django.contrib import admin as django_admin

    from assistant.admin import ConversationAdmin

    settings.ADMIN_CAN_READ_CHATS = True
    conversation = Conversation.objects.create(owner=user, title="audited")
    model_admin = ConversationAdmin(Conversation, django_admin.site)
    request = rf.get(f"/admin/assistant/conversation/{conversation.pk}/change/")
    request.user = admin_user

    model_admin.change_view(request, str(conversation.pk))

    entry = ChatAccessLog.objects.get()
    assert (entry.admin, entry.conversation_id, entry.conversation_owner) == (admin_user, conversation.pk, "alice")


def test_first_reply_dispatches_a_title_job(user, chat, inline_jobs):
    _reply(chat, user, "첫 질문입니다")

    assert inline_jobs == ["chat.reply", "chat.title"]


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ('"Catalyst basics"', "Catalyst basics"),
        ("Title: 촉매 기초\nmore", "촉매 기초"),
        ("## **식각**", "식각"),
        ("  \n", ""),
    ],
)
def test_model_titles_are_cleaned(raw, clean):
    assert generation.clean_title(raw) == clean
