"""The CLI's progress output: JSON events with a phase-aware ETA, a terminal bar whose last
line is drawn once."""

from __future__ import annotations

import io
import json

from cli.reporting import Reporter


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_bar_draws_its_last_line_once() -> None:
    err = Terminal()
    report = Reporter(as_json=False, err=err).progress("video 1")
    report(5, 10, phase="train")
    for _ in range(3):  # e.g. the last model's prediction, then a final "done" report
        report(10, 10, phase="predict")
    text = err.getvalue()
    assert text.count("10/10") == 1 and text.endswith("\n")


def test_a_log_file_gets_one_done_line_per_finish() -> None:
    err = io.StringIO()
    report = Reporter(as_json=False, err=err).progress("bench")
    report(3, 3)
    report(3, 3)
    report(1, 3)  # the same task runs again
    report(3, 3)
    assert err.getvalue().count("bench: 3/3 done") == 2


def test_json_events_carry_the_step_total_phase_and_an_eta_that_ends_at_zero() -> None:
    out = io.StringIO()
    report = Reporter(as_json=True, stream=out).progress("video 1")
    report(0, 4, phase="flow")
    report(2, 4, phase="train", losses={"t_loss": 0.5})
    report(4, 4, phase="predict")
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(e["phase"], e["step"], e["total"]) for e in events] == [
        ("flow", 0, 4), ("train", 2, 4), ("predict", 4, 4)]
    assert events[0]["eta_s"] is None and events[1]["eta_s"] >= 0
    assert events[-1]["eta_s"] == 0.0
    assert events[1]["losses"] == {"t_loss": 0.5}


def test_propagate_says_whether_the_learned_motion_field_was_used() -> None:
    from cli.trainer_commands import _tracker_text

    assert _tracker_text("final", {"phi": ["lk"]}) == ""  # nothing was asked of the field
    assert _tracker_text("final-mfe", {"phi": ["mfe"]}).endswith("the learned motion field")
    assert "Lucas-Kanade" in _tracker_text("final-mfe", {"phi": ["lk", "lk"]})
    mixed = _tracker_text("final-mfe", {"phi": ["mfe", "lk", "mfe"]})
    assert mixed.endswith("2 of 3 face segments")
    assert _tracker_text("final-mfe", None) == ""
