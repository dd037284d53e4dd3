"""The simulated annotator: two rounds end to end on a tiny synthetic clip, and the reference
effort of the classic workflows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evaluation.simulate import RoundResult, effort_reference, frames_to_target
from evaluation.synthetic.clip import make_clip
from main import run_command


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sim")
    make_clip(root / "clips" / "c0", frames=40, stride=10, difficulty="hard", seed=1,
              size=(240, 180))
    return root / "clips"


def test_two_rounds_of_every_strategy_end_to_end(clips: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert run_command(["--json", "simulate-annotator", "--clips", str(clips), "--rounds", "2",
                        "--per-round", "2", "--method", "flow", "--stride", "13", "--no-dlib",
                        "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    rows = report["results"]
    assert {r["strategy"] for r in rows} == {"score", "uniform", "random"}
    for strategy in ("score", "uniform", "random"):
        mine = sorted((r for r in rows if r["strategy"] == strategy), key=lambda r: r["round"])
        assert [r["round"] for r in mine] == [0, 1, 2]
        # --stride 13 on 40 frames: 0, 13, 26, 39; then two frames a round
        assert [r["labelled"] for r in mine] == [4, 6, 8]
        assert all(np.isfinite(r["nme_percent"]) and r["worst_nme_percent"] >= r["nme_percent"]
                   for r in mine)
    # every strategy starts from the same first propagation
    assert len({r["nme_percent"] for r in rows if r["round"] == 0}) == 1
    assert (out / "effort_c0.png").stat().st_size > 0
    assert "| uniform | 2 | 8 |" in (out / "report.md").read_text()
    assert "c0" in report["summary"]


def test_bad_strategy_is_a_clear_error(clips: Path, tmp_path: Path, capsys) -> None:
    assert run_command(["simulate-annotator", "--clips", str(clips), "--strategy", "best",
                        "--out", str(tmp_path / "o")]) == 2
    assert "unknown strategy 'best'" in capsys.readouterr().err


def test_effort_reference_for_interpolation_and_a_detector() -> None:
    t = np.arange(21, dtype=float)[:, None, None]
    from core.landmarks import mean_shape

    gt = mean_shape()[None] * 40 + 100 + np.concatenate([t * 2, np.sin(t / 3) * 10], axis=-1)
    ref = effort_reference(gt, detector=gt + np.where(t % 5 == 0, 30.0, 0.0))
    assert ref["detector_corrections"] == 5  # frames 0, 5, 10, 15, 20 are off
    # the motion is not linear, so interpolation needs more than the two end frames
    assert 2 < ref["interpolation_every_k"] <= 21
    rows = [RoundResult("c", "score", r, 4 + 2 * r, nme, 0.0, worst, 1.0, "warm")
            for r, nme, worst in ((0, 3.0, 9.0), (1, 1.5, 7.0), (2, 1.0, 4.0))]
    assert frames_to_target(rows) == 6
