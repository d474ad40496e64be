"""The coalescing event stream: first event at once, later ones batched, nothing held back by a pause."""

from __future__ import annotations

import time

import pytest

from exaone_web import realtime
from exaone_web.jobs.events import EventStream, snapshot_get


@pytest.fixture
def sent(monkeypatch):
    events = []
    monkeypatch.setattr(realtime, "group_send", lambda group, event: events.append((time.monotonic(), event)))
    return events


def _stream(interval_s=0.05):
    return EventStream(
        group="g", snapshot_key="snap:test", event_type="delta", ids={"id": 1}, interval_s=interval_s, text={"text": ""}
    )


def test_the_first_piece_goes_out_at_once_and_later_ones_are_coalesced(sent):
    stream = _stream(interval_s=10)

    stream.append(text="안녕")
    stream.append(text="하세요")
    stream.append(text="!")

    assert [e["text"] for _, e in sent] == ["안녕"]
    stream.flush()
    assert [e["text"] for _, e in sent] == ["안녕", "하세요!"]
    assert [e["seq"] for _, e in sent] == [1, 2]


def test_text_that_arrived_before_a_pause_is_sent_without_waiting_for_more(sent):
    stream = _stream(interval_s=0.05)
    stream.append(text="first")
    stream.append(text=" second")  # held for coalescing

    time.sleep(0.5)  # the engine pauses; nothing else arrives

    assert "".join(e["text"] for _, e in sent) == "first second"


def test_the_snapshot_holds_everything_sent_with_its_sequence_number(sent):
    stream = _stream(interval_s=0)
    stream.append(text="a")
    stream.append(text="b")
    stream.update(step=2)

    snap = snapshot_get("snap:test")

    assert snap["seq"] == 3 and snap["text"] == {"text": "ab"} and snap["fields"] == {"step": 2}


def test_events_outside_the_stream_go_after_pending_pieces(sent):
    stream = _stream(interval_s=10)
    stream.append(text="x")
    stream.append(text="y")

    stream.send("done", final=True)

    assert [e["type"] for _, e in sent] == ["delta", "delta", "done"]
    assert sent[-1][1] == {"type": "done", "id": 1, "final": True}
