"""The OpenAI-compatible API in service mode: daphne and a Celery text worker on PostgreSQL and Redis.

The reply is written by the worker process; its events reach the web process's /v1/ request through the
Redis channel layer, as they reach the chat page's socket.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True), pytest.mark.any_broker]


def test_the_openai_client_streams_a_reply_written_by_a_worker_process(user, worker, live):
    import openai

    from apikeys.services import key_create
    from assistant.models import Message

    secret = key_create(user=user, name="svc", scopes=["chat"]).secret
    client = openai.OpenAI(base_url=live[1] + "/v1", api_key=secret, max_retries=0)

    chunks = list(
        client.chat.completions.create(
            model="gemma-test",
            messages=[{"role": "user", "content": "Explain a heat exchanger."}],
            max_tokens=12,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    completion = client.chat.completions.create(
        model="gemma-test", messages=[{"role": "user", "content": "Explain a heat exchanger."}], max_tokens=12
    )

    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    reply = Message.objects.filter(conversation__owner=user, role="assistant").order_by("id").first()
    assert streamed and streamed == reply.content and reply.status == "done", worker.tail()
    assert chunks[-1].usage.completion_tokens == reply.completion_tokens
    assert completion.choices[0].message.content and completion.usage.total_tokens > 0
    assert worker.saw("jobs.run_next", "succeeded")  # the worker process did the work
