"""Run › Propagation method: the person picks what Propagate runs (issue 13 §3 made
``final-mfe`` worth a choice); the choice is remembered, and a stale stored name falls back to
the default."""

from __future__ import annotations

from core.methods import DEFAULT_METHOD, USER_METHODS


def _method_actions(window) -> dict:
    run_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Run")
    submenu = next(a.menu() for a in run_menu.actions()
                   if a.menu() is not None and "method" in a.text())
    return {a.data(): a for a in submenu.actions()}


def test_the_chosen_method_is_what_propagate_runs_and_is_remembered(qtbot, window, settings,
                                                                     monkeypatch):
    actions = _method_actions(window)
    expected = [m for m in USER_METHODS if m != "dlib" or window.detector.available]
    assert list(actions) == expected
    assert [m for m, a in actions.items() if a.isChecked()] == [DEFAULT_METHOD]
    assert actions["final-mfe"].statusTip() == USER_METHODS["final-mfe"]
    actions["final-mfe"].trigger()
    assert [m for m, a in actions.items() if a.isChecked()] == ["final-mfe"]
    assert window.propagation.method == "final-mfe"
    assert settings.value("propagate/method") == "final-mfe"
    started = []
    monkeypatch.setattr(window.propagation.runner, "start",
                        lambda path, video_id, method: started.append(method))
    window.propagation.propagate()
    assert started == ["final-mfe"]


def test_a_stored_method_is_checked_and_an_unknown_one_falls_back(qtbot, settings):
    from PySide6.QtWidgets import QWidget

    from app.propagation_controller import PropagationController
    from app.state import LabelSession

    parent = QWidget()
    qtbot.addWidget(parent)
    settings.setValue("propagate/method", "flow")
    assert PropagationController(LabelSession(), settings, parent).method == "flow"
    settings.setValue("propagate/method", "no-such-method")
    assert PropagationController(LabelSession(), settings, parent).method == DEFAULT_METHOD
