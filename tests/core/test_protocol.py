"""The GUI ↔ trainer protocol: events survive a round trip; anything else is ignored."""

from __future__ import annotations

import pytest

from core.protocol import (
    Done,
    ErrorEvent,
    MessageEvent,
    ProgressEvent,
    RunCreated,
    RunFinished,
    decode,
    encode,
)


@pytest.mark.parametrize("event", [
    ProgressEvent("video 1", "train", 5, 100, 12.5, {"sup": 0.25}),
    ProgressEvent("video 1", "flow", 1, 100),
    RunCreated(7, 1, "final"), RunFinished(7, 1, "stopped"), Done({"run_id": 7}),
    ErrorEvent("p.sqlite: no such project file"), MessageEvent("stopping"),
])
def test_every_event_round_trips(event):
    assert decode(encode(event)) == event


def test_null_losses_are_left_out():
    assert "losses" not in encode(ProgressEvent("t", "flow", 1, 2))


@pytest.mark.parametrize("line", ["", "not json", "[1, 2]", '{"no": "event"}',
                                  '{"event": "telemetry", "x": 1}',
                                  '{"event": "run_created", "video_id": 1}'])
def test_other_lines_are_ignored(line):
    assert decode(line) is None


def test_a_newer_trainers_extra_fields_are_ignored():
    assert decode('{"event": "run", "run_id": 3, "video_id": 1, "status": "done", '
                  '"gpu": "H200"}') == RunFinished(3, 1, "done")
