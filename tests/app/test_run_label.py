"""The status bar's run label names the run's held-out estimate (issue 12 §3)."""

from __future__ import annotations

from types import SimpleNamespace

from app.status_bar import run_text


def test_the_status_bar_names_the_estimate():
    run = SimpleNamespace(id=3, method="final", status="done",
                          metrics={"estimated_nme": 0.0213, "held_out_keyframes": 14})
    text, tip = run_text(run)
    assert text == "run 3 final: done · est. NME ≈ 2.1 %"
    assert "14 keyframes" in tip and "smoother" not in tip
    run.metrics["smooth_accel"] = [0.002, 0.032]
    assert "chosen from them too: 0.002, 0.032 (per face segment)" in run_text(run)[1]
    assert run_text(None) == ("no run", "")


def test_the_status_bar_names_a_shot_change_found_while_tracking():
    run = SimpleNamespace(id=4, method="flow", status="done", metrics={"transitions": [59]})
    text, tip = run_text(run)
    assert text == "run 4 flow: done · shot change? 60"  # frames as a person reads them
    assert "frame 60:" in tip and "Shift+C" in tip
    run.metrics.update(estimated_nme=0.0213, held_out_keyframes=14, transitions=[59, 119])
    text, tip = run_text(run)
    assert text.endswith("est. NME ≈ 2.1 % · shot change? 60, 120")
    assert "14 keyframes" in tip and "frames 60, 120:" in tip
