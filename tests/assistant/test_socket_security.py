"""The chat socket against abuse: exact origins, other users' existing messages, floods, signed-out users."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from support import until

from assistant.models import Conversation, Message

pytestmark = [pytest.mark.django_db(transaction=True)]


@database_sync_to_async
def _conversation(user, **fields) -> Conversation:
    return Conversation.objects.create(owner=user, **fields)


@database_sync_to_async
def _bobs_finished_exchange(bob) -> tuple[Conversation, Message, Message]:
    conversation = Conversation.objects.create(owner=bob, title="bob's canary")
    question = Message.objects.create(conversation=conversation, role="user", content="BOB-CANARY question")
    answer = Message.objects.create(
        conversation=conversation, parent=question, role="assistant", content="BOB-CANARY answer", status="stopped"
    )
    conversation.current_leaf = answer
    conversation.save()
    return conversation, question, answer


@pytest.mark.parametrize(
    "origin", [b"http://127.0.0.1:9999", b"https://127.0.0.1:8000", b"http://127.0.0.1:8000.evil.example", b"ws://x"]
)
async def test_an_origin_with_another_port_or_scheme_is_refused(user, ws_connect, origin):
    conversation = await _conversation(user)

    _, refused, _ = await ws_connect(user, conversation.pk, origin=origin)
    socket, accepted, _ = await ws_connect(user, conversation.pk)

    assert not refused and accepted
    await socket.disconnect()


@pytest.mark.parametrize(
    "frame",
    [
        lambda q, a: {"type": "generation.stop", "message_id": a.pk},
        lambda q, a: {"type": "message.regenerate", "message_id": a.pk},
        lambda q, a: {"type": "message.continue", "message_id": a.pk},
        lambda q, a: {"type": "message.send", "content": "mine now", "edit_of": q.pk},
    ],
    ids=["stop", "regenerate", "continue", "edit_of"],
)
async def test_another_users_existing_messages_cannot_be_touched_over_the_socket(
    user, other_user, registered_model, ws_connect, frame
):
    bobs, question, answer = await _bobs_finished_exchange(other_user)
    mine = await _conversation(user)
    socket, _, _ = await ws_connect(user, mine.pk)

    await socket.send_json_to(frame(question, answer))
    error, before = await until(socket, "error")

    assert error["code"] == "not_found"
    assert not any("BOB-CANARY" in str(event) for event in before + [error])
    bob_rows = await database_sync_to_async(lambda: list(bobs.messages.order_by("id").values("content", "status")))()
    assert bob_rows == [
        {"content": "BOB-CANARY question", "status": "done"},
        {"content": "BOB-CANARY answer", "status": "stopped"},
    ]
    assert await database_sync_to_async(mine.messages.count)() == 0
    await socket.disconnect()


async def test_a_frame_flood_is_rate_limited_and_the_socket_stays_usable(user, ws_connect, settings):
    settings.WS_FRAME_BURST = 10
    settings.WS_FRAMES_PER_SECOND = 5
    conversation = await _conversation(user)
    socket, _, _ = await ws_connect(user, conversation.pk)

    for _ in range(30):
        await socket.send_json_to({"type": "ping"})
    replies = [await socket.receive_json_from(timeout=10) for _ in range(30)]
    await asyncio.sleep(1)
    await socket.send_json_to({"type": "ping"})

    assert sum(r["type"] == "pong" for r in replies) <= 11
    assert any(r.get("code") == "rate_limited" for r in replies)
    assert (await socket.receive_json_from(timeout=10))["type"] == "pong"
    await socket.disconnect()


async def test_one_user_cannot_open_unbounded_sockets(user, ws_connect, settings):
    settings.WS_MAX_SOCKETS_PER_USER = 2
    conversation = await _conversation(user)
    first, _, _ = await ws_connect(user, conversation.pk)
    second, _, _ = await ws_connect(user, conversation.pk)

    _, third_opened, code = await ws_connect(user, conversation.pk)
    await first.disconnect()
    fourth, fourth_opened, _ = await ws_connect(user, conversation.pk)

    assert not third_opened and code == 4429
    assert fourth_opened
    await second.disconnect()
    await fourth.disconnect()


async def test_signing_out_closes_the_users_open_sockets(user, ws_connect, client):
    conversation = await _conversation(user)
    socket, _, _ = await ws_connect(user, conversation.pk)

    await sync_to_async(client.post)("/accounts/logout/")
    closed = await socket.receive_output(timeout=10)

    assert closed == {"type": "websocket.close", "code": 4401}


async def test_deactivating_a_user_closes_their_sockets(user, ws_connect):
    conversation = await _conversation(user)
    socket, _, _ = await ws_connect(user, conversation.pk)

    user.is_active = False
    await database_sync_to_async(user.save)()
    closed = await socket.receive_output(timeout=10)

    assert closed == {"type": "websocket.close", "code": 4401}


async def test_a_frame_after_the_session_ended_is_refused_and_saves_nothing(user, registered_model, ws_connect):
    from django.contrib.sessions.models import Session

    conversation = await _conversation(user)
    socket, _, _ = await ws_connect(user, conversation.pk)
    await database_sync_to_async(Session.objects.all().delete)()  # expired, or removed by an admin

    await socket.send_json_to({"type": "message.send", "content": "still there?"})
    closed = await socket.receive_output(timeout=10)

    assert closed == {"type": "websocket.close", "code": 4401}
    assert await database_sync_to_async(conversation.messages.count)() == 0
