"""Instant local re-solve in the window: after an edit on a propagated video the frames between
its neighbouring constraints are recomputed off the GUI thread and shown as a ``resolve``
revision of the latest run; edits made meanwhile are coalesced into one more re-solve; nothing
is re-solved without a finished run, while a propagation runs, or for a visibility toggle; a
failure is one status-bar line."""

from __future__ import annotations

import re
import threading

import numpy as np
import pytest
from PySide6.QtCore import Qt

import app.resolve_controller as resolve_module
from core.propagation.resolve import RESOLVE_METHOD
from tests.app.conftest import CLIP_FRAMES, wait_frame
from tests.app.test_shape_drag import CORNER, _drag

EDITED = 15  # between the keyframes 10 and 20 (0-based)


def _propagate(qtbot, window, method: str = "interpolation") -> None:
    window.method = method
    with qtbot.waitSignal(window.runner.run_finished, timeout=60_000) as finished:
        qtbot.keyClick(window.view, Qt.Key.Key_P)
    assert finished.args[0] == "done"


@pytest.fixture
def propagated(qtbot, window):
    """The window after an interpolation run (through the trainer CLI, as a user runs it)."""
    _propagate(qtbot, window)
    assert window.session.run.method == "interpolation"
    return window


def _show(qtbot, window, frame: int) -> None:
    window.session.seek(frame)
    wait_frame(qtbot, window, frame)
    window.view.zoom_to_points(window.editor.current_shape())
    qtbot.wait(20)


def _resolver(window):
    return window.propagation.resolver


def _accept(window, frame: int) -> None:
    window.session.seek(frame)
    assert window.editor.accept()


def test_an_edit_is_re_solved_off_the_gui_thread_between_its_neighbouring_constraints(
        qtbot, propagated, monkeypatch):
    window = propagated
    s = window.session
    base_run = s.run
    before = s.pseudo.points.copy()
    threads: list[int] = []
    real = resolve_module.resolve_edit

    def recording(project, video_id, frames, **kwargs):
        threads.append(threading.get_ident())
        return real(project, video_id, frames, **kwargs)

    monkeypatch.setattr(resolve_module, "resolve_edit", recording)
    _show(qtbot, window, EDITED)
    with qtbot.waitSignal(_resolver(window).resolved, timeout=20_000) as done:
        _drag(qtbot, window, CORNER)
        assert _resolver(window).busy  # started at once, and the GUI thread went on
    outcome = done.args[0]
    assert threads and threads[0] != threading.main_thread().ident
    assert outcome.frames == (EDITED,) and outcome.spans == [(10, 20)]
    # the latest run is now a resolve revision of the interpolation run, and the session shows it
    run = s.project.runs.latest(s.video.id)
    assert run.method == RESOLVE_METHOD and run.parent_run_id == base_run.id
    assert s.run.id == run.id and s.pseudo.run_id == run.id
    assert f"run {run.id} {RESOLVE_METHOD}: done" in window.run_label.text()
    assert re.fullmatch(r"Re-solved frames 11–21 \(\d+\.\d\d s\)",
                        window.statusBar().currentMessage())
    # only the frames between the neighbouring constraints changed
    after = s.pseudo.points
    changed = np.flatnonzero(np.abs(after - before).reshape(CLIP_FRAMES, -1).max(axis=1) > 0)
    assert changed.size and set(changed.tolist()) <= set(range(11, 20))
    assert set(s.pseudo.run_ids[10:21].tolist()) == {run.id}
    assert set(np.delete(s.pseudo.run_ids, range(10, 21)).tolist()) == {base_run.id}
    assert window.timeline.strip.pseudo is not None and len(window.timeline.strip.pseudo)


def test_edits_during_a_re_solve_are_coalesced_into_one_more(qtbot, propagated):
    window = propagated
    s, resolver = window.session, _resolver(window)
    base_run = s.run
    outcomes = []
    resolver.resolved.connect(outcomes.append)
    _accept(window, 5)
    assert resolver.busy
    _accept(window, 15)  # while the first runs: both wait for one more
    _accept(window, 25)
    assert resolver.pending == {s.video.id: [15, 25]}
    qtbot.waitUntil(lambda: len(outcomes) == 2 and not resolver.busy, timeout=30_000)
    qtbot.wait(200)
    assert len(outcomes) == 2 and not resolver.pending
    assert [o.frames for o in outcomes] == [(5,), (15, 25)]
    first, second = (o.run for o in outcomes)
    # revisions never stack: each sits on the whole run and says which revision it revises
    assert first.parent_run_id == base_run.id and second.parent_run_id == base_run.id
    assert second.config["revises"] == first.id
    assert s.run.id == second.id and second.config["edited"] == [15, 25]


def test_undo_and_redo_are_re_solved_and_a_visibility_toggle_is_not(qtbot, propagated):
    window = propagated
    resolver = _resolver(window)
    with qtbot.waitSignal(resolver.resolved, timeout=20_000):
        _accept(window, EDITED)
    for step in (window.undo_stack.undo, window.undo_stack.redo):
        with qtbot.waitSignal(resolver.resolved, timeout=20_000) as done:
            step()
        assert done.args[0].frames == (EDITED,) and done.args[0].run is not None
    qtbot.waitUntil(lambda: not resolver.busy, timeout=5000)
    runs = len(window.session.project.runs.all())
    window.view.layer.select_group("right_eye")
    window.editor.toggle_visibility()
    assert window.undo_stack.count() == 2 and not resolver.busy and not resolver.pending
    qtbot.wait(200)
    assert len(window.session.project.runs.all()) == runs


def test_no_re_solve_without_a_finished_run(qtbot, window):
    window.session.seek(4)
    window.editor.place_template()
    assert window.undo_stack.count() == 1
    assert not _resolver(window).busy and not _resolver(window).pending


def test_no_re_solve_while_a_propagation_runs_and_propagate_waits_for_one(qtbot, propagated):
    window = propagated
    s, resolver = window.session, _resolver(window)
    with qtbot.waitSignal(window.runner.run_finished, timeout=60_000):
        qtbot.keyClick(window.view, Qt.Key.Key_P)
        assert window.runner.running
        _accept(window, EDITED)  # the running trainer will not see it: nothing to re-solve
        assert not resolver.busy and not resolver.pending
    assert s.run.method == "interpolation"
    # P during a re-solve starts once it ends, so the new run stays the latest
    _accept(window, 5)
    assert resolver.busy
    with qtbot.waitSignal(window.runner.run_finished, timeout=60_000) as finished:
        qtbot.keyClick(window.view, Qt.Key.Key_P)
        assert not window.runner.running
        assert window.statusBar().currentMessage().startswith("Propagating as soon as")
    assert finished.args[0] == "done"
    runs = s.project.runs.all(s.video.id)
    assert runs[-1].method == "interpolation" and runs[-2].method == RESOLVE_METHOD
    assert s.run.id == runs[-1].id


def test_a_failed_re_solve_is_one_status_bar_line(qtbot, propagated, monkeypatch):
    window = propagated

    def broken(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(resolve_module, "resolve_edit", broken)
    _accept(window, EDITED)
    qtbot.waitUntil(lambda: not _resolver(window).busy, timeout=20_000)
    assert window.statusBar().currentMessage() == (
        "Re-solving after the edit failed: RuntimeError: boom")
    assert window.last_error == ""  # no dialog
    assert window.session.run.method == "interpolation"
