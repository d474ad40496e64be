"""The unmodified official ``openai`` client against a live server: chat streaming and not, and its errors."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_the_openai_client_lists_the_models_it_may_use(live):
    client = live.client()

    models = [m.id for m in client.models.list()]

    assert "gemma-test" in models


def test_a_non_streaming_completion_answers_with_usage_and_appears_in_the_history(live):
    client = live.client()

    completion = client.chat.completions.create(
        model="gemma-test",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello"}],
        max_tokens=8,
        temperature=0,
        seed=3,
    )

    choice = completion.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert completion.usage.completion_tokens <= 8 and completion.usage.prompt_tokens > 0
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    stored = live.manage(
        "from assistant.models import Message\n"
        "print(Message.objects.filter(conversation__owner__username='alice', "
        f"content={choice.message.content!r}).count())"
    )
    assert stored.strip() == "1"


def test_a_streamed_completion_sends_chunks_then_a_finish_reason_then_usage(live):
    client = live.client()

    chunks = list(
        client.chat.completions.create(
            model="gemma-test",
            messages=[{"role": "user", "content": "hello"}],
            max_completion_tokens=12,
            stream=True,
            stream_options={"include_usage": True},
        )
    )

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert text
    assert finishes == ["length"] or finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    assert chunks[0].choices[0].delta.role == "assistant"


def test_store_false_keeps_nothing_in_the_history(live):
    client = live.client()
    before = live.manage("from assistant.models import Conversation\nprint(Conversation.objects.count())")

    client.chat.completions.create(
        model="gemma-test", messages=[{"role": "user", "content": "Say hi."}], max_tokens=4, store=False
    )

    after = live.manage("from assistant.models import Conversation\nprint(Conversation.objects.count())")
    assert before == after


@pytest.mark.parametrize(
    ("who", "status"),
    [("expired", 401), ("revoked", 401), ("alice_read", 403)],
)
def test_expired_revoked_and_wrong_scope_keys_are_refused_in_openai_shape(live, who, status):
    import openai

    client = live.client(who)

    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="gemma-test", messages=[{"role": "user", "content": "hi"}])

    assert caught.value.status_code == status
    error = caught.value.body
    assert set(error) == {"message", "type", "param", "code"} and error["message"]


def test_an_unknown_model_is_a_404_naming_the_parameter(live):
    import openai

    with pytest.raises(openai.NotFoundError) as caught:
        live.client().chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])

    assert caught.value.body["param"] == "model" and caught.value.body["code"] == "model_not_found"


def test_a_streaming_client_that_goes_away_stops_the_generation(live):
    import httpx

    body = {"model": "gemma-test", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 1000}
    headers = {"Authorization": f"Bearer {live.keys['bob']}"}

    http = httpx.Client(base_url=live.base, timeout=60, trust_env=False)
    with http, http.stream("POST", "/v1/chat/completions", json={**body, "stream": True}, headers=headers) as stream:
        lines = stream.iter_lines()
        assert next(lines).startswith("data: ")  # the role chunk: the reply is queued
        next(line for line in lines if '"content"' in line and '"content": ""' not in line)

    status = live.manage(
        "import time\n"
        "from assistant.models import Message\n"
        "for _ in range(300):\n"
        "    m = Message.objects.filter(conversation__owner__username='bob', role='assistant').latest('id')\n"
        "    if m.status not in ('queued', 'streaming'): break\n"
        "    time.sleep(0.1)\n"
        "print(m.status, m.completion_tokens)"
    )
    state, tokens = status.split()
    assert state == "stopped" and int(tokens) < 1000


def test_the_errors_of_a_wrong_request_reach_the_client_in_openai_shape(live):
    import openai

    with pytest.raises(openai.BadRequestError) as caught:
        live.client().chat.completions.create(model="gemma-test", messages=[{"role": "user", "content": "hi"}], n=3)

    assert caught.value.body["param"] == "n"


def test_a_body_over_the_limit_is_a_413_the_client_reads(live):
    import openai

    huge = "x" * (2 * 1024 * 1024)

    with pytest.raises(openai.APIStatusError) as caught:
        live.client().chat.completions.create(model="gemma-test", messages=[{"role": "user", "content": huge}])

    assert caught.value.status_code == 413
    assert caught.value.body["code"] == "request_too_large" and caught.value.body["message"]


def test_a_stop_sequence_cuts_the_answer_and_ends_it(live):
    client = live.client()
    full = client.chat.completions.create(
        model="gemma-test", messages=[{"role": "user", "content": "hello"}], max_tokens=16
    ).choices[0]
    stop = full.message.content.strip()[3:6]

    cut = client.chat.completions.create(
        model="gemma-test", messages=[{"role": "user", "content": "hello"}], max_tokens=16, stop=[stop]
    ).choices[0]

    assert len(stop) == 3 and stop not in cut.message.content
    assert full.message.content.startswith(cut.message.content) and cut.finish_reason == "stop"
