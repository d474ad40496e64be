"""The chat websocket in the embedded mode: in-memory layer, in-process jobs, the real Gemma GGUF."""

from __future__ import annotations

import json

import pytest
from channels.db import database_sync_to_async
from support import until

from assistant.models import Conversation, Message

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@database_sync_to_async
def _conversation(user, **fields) -> Conversation:
    return Conversation.objects.create(owner=user, **fields)


@database_sync_to_async
def _messages(conversation) -> list[Message]:
    return list(conversation.messages.order_by("id"))


async def test_korean_message_streams_a_reply_and_saves_it(user, text_model, ws_connect):
    conversation = await _conversation(user)
    socket, connected, _ = await ws_connect(user, conversation.pk)
    assert connected

    await socket.send_json_to({"type": "message.send", "content": "안녕하세요! 촉매가 무엇인지 알려 주세요."})
    done, before = await until(socket, "message.done")

    created = [e for e in before if e["type"] == "message.created"]
    assert [e["message"]["role"] for e in created] == ["user", "assistant"]
    assert created[0]["message"]["content"] == "안녕하세요! 촉매가 무엇인지 알려 주세요."
    deltas = [e for e in before if e["type"] == "message.delta"]
    assert deltas, "the reply must arrive in pieces"
    assert [d["seq"] for d in deltas] == list(range(1, len(deltas) + 1))
    assert done["seq"] == len(deltas) + 1
    final = done["message"]
    assert final["status"] == "done"
    assert "".join(d["text"] for d in deltas) == final["content"]
    assert final["usage"]["completion_tokens"] > 0 and final["usage"]["prompt_tokens"] > 0
    assert final["timings"]["ttft_ms"] is not None
    stored = await _messages(conversation)
    assert [m.role for m in stored] == ["user", "assistant"]
    assert stored[1].content == final["content"] and stored[1].status == Message.Status.DONE
    assert stored[1].parent_id == stored[0].pk
    await socket.disconnect()


async def test_stop_keeps_the_partial_text(user, text_model, ws_connect, settings):
    await database_sync_to_async(_long_answers)(text_model)
    conversation = await _conversation(user)
    socket, _, _ = await ws_connect(user, conversation.pk)

    await socket.send_json_to({"type": "message.send", "content": "Write a long report on 5G core networks."})
    first, before = await until(socket, "message.delta")
    reply_id = first["message_id"]
    await socket.send_json_to({"type": "generation.stop", "message_id": reply_id})
    done, rest = await until(socket, "message.done")

    assert done["message"]["status"] == "stopped"
    streamed = first["text"] + "".join(e["text"] for e in rest if e["type"] == "message.delta")
    assert done["message"]["content"] == streamed
    assert done["message"]["usage"]["completion_tokens"] < 400
    stored = (await _messages(conversation))[-1]
    assert stored.status == Message.Status.STOPPED and stored.content == streamed
    await socket.disconnect()


def _long_answers(model) -> None:
    model.options = {"n_parallel": 4}  # no stop strings: the base model writes until the budget is spent
    model.default_sampling = {"temperature": 0.0, "max_new_tokens": 400}
    model.save()


async def test_reconnect_mid_stream_gets_snapshot_then_the_rest(user, text_model, ws_connect):
    await database_sync_to_async(_long_answers)(text_model)
    conversation = await _conversation(user)
    first_socket, _, _ = await ws_connect(user, conversation.pk)
    await first_socket.send_json_to({"type": "message.send", "content": "Explain photolithography in detail."})
    await until(first_socket, "message.delta")
    await until(first_socket, "message.delta")
    await first_socket.disconnect()  # the tab closes; generation must go on

    second_socket, connected, _ = await ws_connect(user, conversation.pk)
    assert connected
    snapshot = await second_socket.receive_json_from(timeout=10)
    assert snapshot["type"] == "message.snapshot"
    assert snapshot["seq"] >= 2 and snapshot["message"]["content"]
    done, rest = await until(second_socket, "message.done", timeout=120)

    later = [e for e in rest if e["type"] == "message.delta" and e["seq"] > snapshot["seq"]]
    rebuilt = snapshot["message"]["content"] + "".join(e["text"] for e in later)
    assert rebuilt == done["message"]["content"]
    assert done["message"]["status"] == "done"
    await second_socket.disconnect()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "message.send", "content": ""}, "empty"),
        ({"type": "message.send", "content": "   \n  "}, "empty"),
        ({"type": "message.send", "content": 42}, "invalid"),
        ({"type": "message.send", "content": "가" * 16_001}, "too_long"),
        ({"type": "launch.rockets"}, "unknown_type"),
        ({"type": "generation.stop", "message_id": "1"}, "invalid"),
        ({"type": "message.regenerate", "message_id": True}, "invalid"),
        ({"type": "message.send", "content": "hi", "edit_of": "x"}, "invalid"),
        ({"type": "message.send", "content": "hi", "attachments": [999999]}, "attachment_not_found"),
        ({"type": "message.send", "content": "hi", "attachments": [1, 2, 3, 4]}, "too_many_attachments"),
        ({"type": "message.send", "content": "hi", "edit_of": 999999}, "not_found"),
        ({"type": "generation.stop", "message_id": 999999}, "not_found"),
        ([1, 2, 3], "bad_json"),
    ],
)
async def test_bad_frames_get_a_clear_error_and_save_nothing(user, registered_model, ws_connect, frame, code):
    conversation = await _conversation(user)
    socket, _, _ = await ws_connect(user, conversation.pk)

    await socket.send_json_to(frame)
    error = await socket.receive_json_from(timeout=10)

    assert error["type"] == "error" and error["code"] == code and error["message"]
    await socket.send_json_to({"type": "ping"})
    assert (await socket.receive_json_from(timeout=10))["type"] == "pong"  # the socket stays usable
    assert await _messages(conversation) == []
    await socket.disconnect()


async def test_non_json_frame_gets_an_error(user, registered_model, ws_connect):
    conversation = await _conversation(user)
    socket, _, _ = await ws_connect(user, conversation.pk)

    await socket.send_to(text_data="{not json")
    error = await socket.receive_json_from(timeout=10)
    await socket.send_to(bytes_data=b"\x00\x01")
    binary = await socket.receive_json_from(timeout=10)

    assert error["code"] == "bad_json"
    assert binary["code"] == "bad_frame"
    await socket.disconnect()


async def test_megabyte_frame_is_refused_and_closed(user, registered_model, ws_connect):
    conversation = await _conversation(user)
    socket, _, _ = await ws_connect(user, conversation.pk)

    await socket.send_to(text_data=json.dumps({"type": "message.send", "content": "x" * 1_000_000}))
    error = await socket.receive_json_from(timeout=10)
    closed = await socket.receive_output(timeout=10)

    assert error["code"] == "too_large"
    assert closed == {"type": "websocket.close", "code": 1009}
    assert await _messages(conversation) == []


async def test_per_user_stream_cap(user, text_model, ws_connect, settings):
    settings.CHAT_MAX_CONCURRENT_PER_USER = 1
    await database_sync_to_async(_long_answers)(text_model)
    first, second = await _conversation(user), await _conversation(user)
    socket, _, _ = await ws_connect(user, first.pk)
    other_tab, _, _ = await ws_connect(user, second.pk)

    await socket.send_json_to({"type": "message.send", "content": "First question"})
    await until(socket, "message.created")
    await other_tab.send_json_to({"type": "message.send", "content": "Second question elsewhere"})
    error, _ = await until(other_tab, "error")

    assert error["code"] == "busy"
    assert await _messages(second) == []
    reply = next(m for m in await _messages(first) if m.role == "assistant")
    await socket.send_json_to({"type": "generation.stop", "message_id": reply.pk})
    await until(socket, "message.done")
    await socket.disconnect()
    await other_tab.disconnect()


async def test_second_message_while_a_reply_streams_is_refused(user, text_model, ws_connect):
    await database_sync_to_async(_long_answers)(text_model)
    conversation = await _conversation(user)
    socket, _, _ = await ws_connect(user, conversation.pk)

    await socket.send_json_to({"type": "message.send", "content": "First question"})
    await until(socket, "message.created")
    await socket.send_json_to({"type": "message.send", "content": "Second question"})
    error, _ = await until(socket, "error")

    assert error["code"] == "busy"
    reply = next(m for m in await _messages(conversation) if m.role == "assistant")
    await socket.send_json_to({"type": "generation.stop", "message_id": reply.pk})
    await until(socket, "message.done")
    assert len(await _messages(conversation)) == 2
    await socket.disconnect()


async def test_regenerate_and_continue_over_the_socket(user, text_model, ws_connect):
    await database_sync_to_async(_long_answers)(text_model)
    conversation = await _conversation(user)
    socket, _, _ = await ws_connect(user, conversation.pk)
    await socket.send_json_to({"type": "message.send", "content": "Describe a wafer fab."})
    first, _ = await until(socket, "message.delta")
    await socket.send_json_to({"type": "generation.stop", "message_id": first["message_id"]})
    stopped, _ = await until(socket, "message.done")

    await socket.send_json_to({"type": "message.continue", "message_id": first["message_id"]})
    await until(socket, "message.started")
    await until(socket, "message.delta")
    await socket.send_json_to({"type": "generation.stop", "message_id": first["message_id"]})
    continued, _ = await until(socket, "message.done")
    await socket.send_json_to({"type": "message.regenerate", "message_id": first["message_id"]})
    created, _ = await until(socket, "message.created")

    assert continued["message"]["content"].startswith(stopped["message"]["content"])
    assert len(continued["message"]["content"]) > len(stopped["message"]["content"])
    assert created["message"]["parent_id"] == stopped["message"]["parent_id"]
    assert created["message"]["id"] != first["message_id"]
    await socket.send_json_to({"type": "generation.stop", "message_id": created["message"]["id"]})
    await until(socket, "message.done")
    await socket.disconnect()


async def test_unauthenticated_socket_is_refused_at_handshake(user, ws_connect):
    conversation = await _conversation(user)

    _, connected, code = await ws_connect(None, conversation.pk)

    assert not connected and code == 4401


@pytest.mark.parametrize("origin", [b"https://evil.example", b"null", None])
async def test_foreign_null_or_missing_origin_is_refused(user, ws_connect, origin):
    conversation = await _conversation(user)

    _, connected, _ = await ws_connect(user, conversation.pk, origin=origin)

    assert not connected


async def test_other_users_conversation_socket_is_refused(user, other_user, ws_connect):
    conversation = await _conversation(user)

    _, connected, code = await ws_connect(other_user, conversation.pk)

    assert not connected and code == 4404
