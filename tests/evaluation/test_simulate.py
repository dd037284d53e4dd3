"""simulate-annotator: the simulated person's drag loop in each workflow with exact counts on
constructed clips, a tiny end-to-end run and its report, and the command's options."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.formats.vw300 import import_300vw
from core.landmarks import mean_shape
from core.propagation import interpolate
from core.review_states import ACCEPTED, PLACED
from core.store import Project
from evaluation.classic import cvat_halving, cvat_review, detector_by_frame, seconds_to_target
from evaluation.effort import HEADLINE, TARGETS, Hands, Tally
from evaluation.loop import LoopSettings, run_rounds, start_loop
from evaluation.person import PersonParams
from evaluation.simulate import WORKFLOWS, SimulationSettings
from evaluation.synthetic.clip import make_clip
from main import build_parser, run_command

IOD = 40.0
#: An exact person: no noise in the drags, so the counts are exact.
EXACT = Hands(PersonParams(drag_noise=0.0), shape_aware=False)


def _truth(frames: int, displaced: dict[int, tuple[int, ...]] | None = None) -> np.ndarray:
    """The mean shape (IOD 40 px) moving 1 px a frame to the right, so interpolation between
    any two frames is exact; ``displaced`` {frame: points} moves those points 0.1 IOD down."""
    gt = np.stack([mean_shape() * IOD + [60.0 + t, 50.0] for t in range(frames)])
    for frame, points in (displaced or {}).items():
        gt[frame, list(points), 1] += 0.1 * IOD
    return gt.astype(np.float32)


def test_cvat_review_drags_exactly_what_the_person_sees_off() -> None:
    # keyframes 0, 4, 8 start from the template, which fits the truth exactly: no drag. The
    # review then sees frame 6 two points off (0.1 IOD): 2 drags; frame 6 is now a keyframe
    # holding them, so frame 7 (half-way to 8) shows them 0.05 IOD off: 2 drags more.
    gt = _truth(9, {6: (10, 50)})
    tally = cvat_review("c", gt, 4, EXACT, stop_at_target=False)
    assert (tally.reviewed, tally.drags) == (9, 4)
    assert tally.working_s == pytest.approx(9 * (2.0 + 0.5) + 4 * 1.5)
    assert tally.waiting_s == 0.0
    first, last = tally.points[0], tally.points[-1]
    assert (first.reviewed, first.labelled, first.drags) == (3, 3, 0)
    assert (last.reviewed, last.labelled, last.drags) == (9, 5, 4)
    # frame 5, reviewed before 6 became a keyframe, now shows the two points half-way off:
    # a single pass does not go back
    assert last.nme_percent == pytest.approx(100 * 2 * 0.05 / 68 / 9, rel=1e-3)
    # frame 6 alone was off at the start: its NME is 2 × 0.1 / 68
    assert first.worst_nme_percent == pytest.approx(100 * 0.2 / 68, rel=1e-3)


def test_cvat_halving_opens_the_middles_level_by_level() -> None:
    # order: 0, 8 (template), 4, then 2, 6 (6: 2 drags), then 1, 3, 5, 7 (5 and 7 show the
    # two points half-way: 2 drags each)
    tally = cvat_halving("c", _truth(9, {6: (10, 50)}), EXACT, stop_at_target=False)
    assert (tally.reviewed, tally.drags) == (9, 6)
    assert tally.working_s == pytest.approx(9 * 2.5 + 6 * 1.5)
    assert tally.points[-1].labelled == 9


def test_the_review_stops_when_the_clip_meets_the_target() -> None:
    gt = _truth(13, {5: tuple(range(17))})
    gt[5, :17, 1] += 0.5 * IOD                      # frame 5's jaw 0.6 IOD off: NME 15 %
    tally = cvat_review("c", gt, 4, EXACT)          # keyframes 0, 4, 8, 12
    assert not tally.points[0].meets_target
    # 1, 2, 3 are fine; 5 needs its 17 jaw points, which leaves 6 two thirds of the way off
    # (10 %): 17 more; then 7 lies between exact frames and every frame is exact, so 7 and
    # 9, 10, 11 are never reviewed
    assert (tally.reviewed, tally.drags) == (4 + 5, 34)
    assert tally.points[-1].meets_target and tally.points[-1].labelled == 6
    assert seconds_to_target(tally.points) == pytest.approx(9 * 2.5 + 34 * 1.5)


def test_a_detector_is_corrected_frame_by_frame() -> None:
    gt = _truth(4)
    detections = gt.astype(np.float64).copy()
    detections[1, :3, 0] += 0.2 * IOD              # three points off
    detections[2] = np.nan                          # no face: the template (exact here)
    tally = detector_by_frame("c", gt, detections, EXACT, stop_at_target=False)
    assert (tally.reviewed, tally.drags) == (4, 3)
    assert tally.points[-1].nme_percent == pytest.approx(0.0, abs=1e-4)


def test_faceprop_loop_writes_keyframes_and_corrections_as_the_gui_does(tmp_path: Path) -> None:
    make_clip(tmp_path / "clip", frames=12, stride=11, size=(160, 120))
    gt = _truth(12, {5: (10, 50)})
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        video_id = import_300vw(project, tmp_path / "clip")[0].video_id
        for frame in project.labels.frames(video_id):
            project.labels.delete(video_id, frame)
        tally = Tally("clip", "faceprop")
        start_loop(project, video_id, [0, 11], gt, EXACT, tally, "interpolation")
        # two keyframes from the exact template: reviewed and accepted, no drag
        assert (tally.reviewed, tally.drags, tally.working_s) == (2, 0, 5.0)
        waited = tally.waiting_s
        assert waited > 0
        # only frame 5 is off, a little: the target is met already, and a round stops there
        assert tally.points[-1].meets_target
        settings = LoopSettings("uniform", rounds=1, per_round=1, method="interpolation")
        run_rounds(project, video_id, gt, EXACT, tally, settings)
        assert len(tally.points) == 1
        # uniform presents frame 5 (the middle): its two displaced points are dragged
        run_rounds(project, video_id, gt, EXACT, tally,
                   replace(settings, stop_at_target=False))
        assert (tally.reviewed, tally.drags) == (3, 2)
        assert tally.working_s == pytest.approx(5.0 + 2.5 + 2 * 1.5)
        assert tally.waiting_s > waited
        label = project.labels.get(video_id, 5)
        assert label is not None and label.source == "corrected"
        _frames, states = project.labels.states(video_id)
        assert list(np.flatnonzero(states[1] == PLACED)) == [10, 50]
        assert (states[1] == ACCEPTED).sum() == 66
        assert (states[0] == PLACED).all()          # the template: every point placed
        methods = [r.method for r in project.runs.all(video_id)]
        assert methods == ["interpolation", "resolve", "interpolation"]
    point = tally.points[-1]
    assert (point.round, point.reviewed, point.labelled, point.drags) == (1, 3, 3, 2)
    exact = interpolate(12, {0: gt[0], 5: gt[5], 11: gt[11]}).points
    np.testing.assert_allclose(point.nme_percent,
                               100 * np.mean([np.linalg.norm(exact - gt, axis=-1).mean(-1)
                                              / IOD]), rtol=1e-4)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sim")
    make_clip(root / "clips" / "c0", frames=30, stride=10, difficulty="hard", seed=1,
              size=(240, 180))
    return root / "clips"


def test_one_round_of_every_workflow_end_to_end(clips: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert run_command(["--json", "simulate-annotator", "--clips", str(clips), "--rounds", "1",
                        "--per-round", "2", "--method", "interpolation", "--stride", "10",
                        "--cvat-strides", "10", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    points = report["points"]
    seen = {p["workflow"] for p in points}
    assert seen >= {"faceprop", "faceprop-no-shape", "uniform", "random", "cvat"}
    for workflow in ("faceprop", "faceprop-no-shape", "uniform", "random"):
        mine = [p for p in points if p["workflow"] == workflow]
        assert [p["round"] for p in mine] in ([0], [0, 1])  # round 1 unless round 0 met it
        assert mine[0]["reviewed"] == mine[0]["labelled"] == 4   # keyframes 0, 10, 20, 29
        if len(mine) == 2:
            assert mine[1]["reviewed"] == 6 and mine[1]["drags"] >= mine[0]["drags"]
            assert mine[1]["working_s"] >= mine[0]["working_s"] + 2 * 2.5
        for p in mine:
            assert p["waiting_s"] > 0 and p["worst_nme_percent"] >= p["nme_percent"]
            assert 0 <= p["failure_rate"] <= 1
    # the same hands label the same first keyframes: shape-aware drags are fewer
    start = {p["workflow"]: p for p in points if p["round"] == 0}
    assert start["faceprop"]["drags"] == start["uniform"]["drags"]
    assert start["faceprop"]["drags"] < start["faceprop-no-shape"]["drags"]
    assert {p["note"] for p in points if p["workflow"] == "cvat"} == {"review, k=10",
                                                                       "halving"}
    summary = report["summary"]["c0"]
    assert summary["minutes"] == pytest.approx(30 / 30 / 60)
    assert set(summary["targets"]) == {t.label for t in TARGETS}
    headline = summary["targets"][HEADLINE.label]
    assert {"faceprop", "cvat"} <= set(headline["workflows"])
    assert set(headline["workflows"]["faceprop"]) >= {"seconds", "per_minute", "curve"}
    if "dlib" not in seen:
        assert any("dlib" in note for note in summary["notes"])
    md = (out / "report.md").read_text()
    assert f"## Annotator seconds per minute of video to {HEADLINE.label}" in md
    assert "| faceprop | 0 | 4 | 4 |" in md
    assert (out / "effort_c0.png").stat().st_size > 0
    assert (out / "effort_worst_c0.png").stat().st_size > 0


def test_bad_workflow_is_a_clear_error(clips: Path, tmp_path: Path, capsys) -> None:
    assert run_command(["simulate-annotator", "--clips", str(clips), "--workflows", "best",
                        "--out", str(tmp_path / "o")]) == 2
    assert "unknown workflow 'best'" in capsys.readouterr().err


def test_the_command_defaults_are_the_simulations() -> None:
    args = build_parser().parse_args(["simulate-annotator", "--out", "o"])
    settings, person = SimulationSettings(), PersonParams()
    assert args.workflows == "all"
    assert (args.stride, args.rounds, args.per_round, args.method, args.seed) == (
        settings.stride, settings.rounds, settings.per_round, settings.method, settings.seed)
    assert tuple(int(k) for k in args.cvat_strides.split(",")) == settings.cvat_strides
    assert (args.review_s, args.drag_s, args.accept_s, args.tau, args.noise) == (
        person.review_s, person.drag_s, person.accept_s, person.threshold, person.drag_noise)
    assert args.shape_aware and args.stop_at_target
    from cli.bench_commands import SIMULATION_WORKFLOWS

    assert SIMULATION_WORKFLOWS == WORKFLOWS


def test_a_detected_keyframe_start_carries_its_own_uncertainty() -> None:
    from core.shape_model import BOX_PREDICTION_UNCERTAINTY, PREDICTION_UNCERTAINTY
    from evaluation.effort import new_keyframe_start

    truth = _truth(1, {})[0]
    found = new_keyframe_start(truth, truth + 1.0, BOX_PREDICTION_UNCERTAINTY)
    assert not found.template and found.uncertainty == BOX_PREDICTION_UNCERTAINTY
    np.testing.assert_allclose(found.points, truth + 1.0)
    assert new_keyframe_start(truth, truth + 1.0).uncertainty == PREDICTION_UNCERTAINTY
    missed = new_keyframe_start(truth, np.full_like(truth, np.nan), BOX_PREDICTION_UNCERTAINTY)
    assert missed.template and missed.uncertainty != PREDICTION_UNCERTAINTY
