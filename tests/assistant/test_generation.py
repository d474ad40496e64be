"""The chat.reply job with each kind of outcome, run as a worker runs it."""

from __future__ import annotations

import pytest

from assistant import services
from assistant.models import Conversation, Message
from catalog.services import model_register

pytestmark = pytest.mark.django_db(transaction=True)


def _send(user, text="질문"):
    conversation = Conversation.objects.create(owner=user)
    _, reply = services.message_send(user=user, conversation=conversation, content=text)
    return conversation, reply


@pytest.mark.slow
def test_tiny_exaone_through_transformers_streams_korean_into_the_database(user, tmp_path, settings, inline_jobs):
    from inference.demo.text import build_text_model

    build_text_model(tmp_path / "exaone4-tiny")
    settings.MODELS_DIR = tmp_path
    model_register(
        name="exaone4-tiny-demo",
        display_name="EXAONE 4.0 tiny",
        kind="text",
        engine="transformers",
        path="exaone4-tiny",
        context_length=2048,
        default_sampling={"max_new_tokens": 24, "seed": 3},
        is_default=True,
        demo=True,
    )

    conversation, reply = _send(user, "안녕하세요, 촉매란 무엇인가요?")

    reply.refresh_from_db()
    assert reply.status == Message.Status.DONE, reply.error
    assert reply.completion_tokens and 0 < reply.completion_tokens <= 24
    assert reply.prompt_tokens > 10
    assert "\ufffd" not in reply.content
    assert reply.model_name == "EXAONE 4.0 tiny"


def test_missing_model_file_fails_the_reply_clearly_and_shows_in_healthz(user, admin_client, tmp_path, inline_jobs):
    model_register(
        name="gone",
        display_name="Gone model",
        kind="text",
        engine="llamacpp",
        path=str(tmp_path / "nowhere.gguf"),
        is_default=True,
    )

    _, reply = _send(user)
    health = admin_client.get("/healthz").json()

    reply.refresh_from_db()
    assert reply.status == Message.Status.FAILED
    assert "does not exist" in reply.error and "make setup" in reply.error
    assert "Gone model" in health["engines"]["errors"]


def test_pickle_only_model_is_refused(user, tmp_path, inline_jobs):
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "exaone4"}')
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04not really")
    model_register(
        name="pickled", display_name="Pickled", kind="text", engine="transformers", path=str(folder), is_default=True
    )

    _, reply = _send(user)

    reply.refresh_from_db()
    assert reply.status == Message.Status.FAILED
    assert "pickle" in reply.error


def test_no_model_at_all_is_refused_before_saving(user):
    conversation = Conversation.objects.create(owner=user)

    with pytest.raises(services.ChatError) as caught:
        services.message_send(user=user, conversation=conversation, content="hello")

    assert caught.value.code == "no_model"
    assert conversation.messages.count() == 0


def test_stop_while_queued_ends_the_reply_at_once(user, registered_model, monkeypatch):
    from exaone_web.jobs import backends
    from exaone_web.jobs import services as job_services

    monkeypatch.setattr(job_services, "dispatch", lambda job: None)  # the queue is slow today
    conversation, reply = _send(user)

    services.generation_stop(conversation=conversation, message_id=reply.pk)
    ran = backends.claim_and_run("text")  # a worker gets to the queue late

    reply.refresh_from_db()
    assert reply.status == Message.Status.STOPPED and reply.content == ""
    assert ran is False and reply.job.status == "cancelled"


def test_full_queue_refuses_the_message_before_saving_it(user, registered_model, settings):
    settings.JOBS_MAX_PENDING = 0
    conversation = Conversation.objects.create(owner=user)

    with pytest.raises(services.ChatError) as caught:
        services.message_send(user=user, conversation=conversation, content="hello")

    assert caught.value.code == "busy" and "busy" in caught.value.message
    assert conversation.messages.count() == 0
