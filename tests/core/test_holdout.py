"""The held-out estimate of a run's accuracy (issue 12 §3): each interior keyframe predicted
from its neighbours by tracking and smoothing; stored in the run's metrics, shown in the GUI."""

from __future__ import annotations

import numpy as np

from core.formats.pts import read_pts
from core.formats.vw300 import import_300vw
from core.landmarks import inter_ocular_distance
from core.propagation.holdout import candidates, holdout_nme
from core.store import Project
from evaluation.synthetic.clip import make_clip
from tests.core.test_review_states import face
from trainer.jobs import propagate_video


def test_interior_keyframes_of_each_segment_are_held_out():
    assert candidates([0, 10, 20, 30, 40], [(0, 40)]) == [(0, 10, 20), (10, 20, 30), (20, 30, 40)]
    assert candidates([0, 10, 20, 30, 40], [(0, 24), (25, 40)]) == [(0, 10, 20)]
    assert candidates([0, 40], [(0, 40)]) == []


def test_a_still_face_is_predicted_exactly_and_nothing_to_hold_out_is_none():
    still = np.full((40, 48, 64, 3), 90, np.uint8)
    keys = {0: face(), 20: face(), 39: face()}
    estimate = holdout_nme(lambda t: still[t], keys, [(0, 39)])
    assert estimate is not None and estimate.count == 1 and estimate.nme < 1e-3
    assert holdout_nme(lambda t: still[t], {0: face(), 39: face()}, [(0, 39)]) is None


def _propagated(tmp_path, frames: int, method: str):
    """A small easy clip propagated with ``method``: the clip's folder, the run, the keyframes
    and the run's pseudo-labels."""
    clip = make_clip(tmp_path / "clip001", None, frames=frames, stride=10, difficulty="easy",
                     seed=1, size=(160, 120)).path
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        [imported] = import_300vw(project, clip)
        run = propagate_video(project, imported.video_id, method)
        keys = set(project.labels.frames(imported.video_id))
        return clip, run, keys, project.runs.pseudo_labels(run.id)


def test_a_run_stores_its_estimate_and_it_tracks_the_true_error(tmp_path):
    clip, run, keys, labels = _propagated(tmp_path, 60, "flow")
    assert run.metrics["held_out_keyframes"] == 5  # keyframes 10 … 50 (0 and 59 end it)
    gt = {t: read_pts(clip / "gt" / f"{t + 1:06d}.pts") for t in range(60)}
    true = np.mean([np.linalg.norm(p - gt[int(f)], axis=1).mean() / inter_ocular_distance(gt[f])
                    for f, p in zip(labels.frames.tolist(), labels.points) if f not in keys])
    # of the same order as the run's true error (how close: bench_motion_prior, bench_holdout)
    assert true / 3 < run.metrics["estimated_nme"] < true * 3


def test_methods_that_never_track_get_no_estimate(tmp_path):
    _, run, _, _ = _propagated(tmp_path, 40, "interpolation")
    assert "estimated_nme" not in (run.metrics or {})


def test_an_unsmoothed_method_is_estimated_from_its_raw_track():
    from core.propagation.holdout import HeldOutTrack, estimate, gap_factor

    truth = face().astype(np.float64)
    wobble = np.zeros((11, 68, 2))
    wobble[1::2, :, 0] = 2.0  # tracking that jitters 2 px every other frame
    track = HeldOutTrack(0, 5, 10, truth + wobble, np.ones((11, 68)), truth + [2.0, 0.0])
    iod = inter_ocular_distance(truth)
    assert np.isclose(track.error(None), 0.0)  # frame 5 lands on the label as tracked
    assert track.error(0.002) > 0.2 / iod  # the smoother takes it half-way off
    raw = estimate([track], None)
    assert raw is not None and np.isclose(raw.nme, 0.0)
    track = HeldOutTrack(0, 5, 10, truth + wobble, np.ones((11, 68)), truth)
    assert np.isclose(estimate([track], None).nme, 2.0 / iod * gap_factor(0, 5, 10))
