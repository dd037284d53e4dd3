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


def test_the_frames_of_real_gaps_lie_between_two_keyframes_of_one_segment():
    from core.propagation.holdout import gap_frames

    assert gap_frames([0, 3, 6], [(0, 9)]) == [1, 2, 4, 5]  # not 7-9: after the last keyframe
    assert gap_frames([2, 4, 7, 9], [(0, 5), (6, 9)]) == [3, 8]  # never across a segment's end
    assert gap_frames([4], [(0, 9)]) == []


def _confidence_for(error_iod: float, points: np.ndarray) -> np.ndarray:
    """The confidence a tracker gives to points it thinks are ``error_iod`` inter-ocular
    distances off (the inverse of ``sigma_from_confidence``)."""
    from core.propagation.common import CONF_FRACTION

    return np.full(points.shape[:2], np.exp(-error_iod / CONF_FRACTION))


def test_the_estimate_is_scaled_by_the_trackers_own_error_in_the_real_gaps():
    from core.propagation.holdout import HeldOutTrack, estimate, gap_factor, tracker_scale

    truth = face().astype(np.float64)
    iod = inter_ocular_distance(truth)
    points = np.repeat(truth[None], 11, axis=0)
    sigma_k = 0.04 * iod  # the tracker thinks the held-out keyframe is 4 % off ...
    track = HeldOutTrack(0, 5, 10, points + [1.0, 0.0], np.full((11, 68), sigma_k), truth)
    assert np.isclose(track.own_error(), 0.04)
    # ... and the run's real frames 1 % off (two thirds of them; the rest a lost face)
    run_points = np.repeat(truth[None], 30, axis=0)
    conf = _confidence_for(0.01, run_points)
    conf[20:] = 0.05
    scale = tracker_scale([track], run_points, conf, list(range(30)))
    assert np.isclose(scale, 0.25, rtol=1e-3)  # medians: the lost third does not decide it
    scaled = estimate([track], None, scale)
    assert np.isclose(scaled.nme, 1.0 / iod * 0.25, rtol=1e-3)
    # without the run's track it falls back to the random-walk model
    assert np.isclose(estimate([track], None).nme, 1.0 / iod * gap_factor(0, 5, 10))
    assert tracker_scale([track], run_points, conf, []) is None
    assert tracker_scale([], run_points, conf, [1]) is None


def test_a_flow_baselines_keyframes_are_held_out_with_its_own_tracker(tmp_path, monkeypatch):
    """The scale compares the run's confidence with the held-out tracks': a DIS run's must
    come from DIS tracks, not Lucas-Kanade ones."""
    from core.propagation import holdout

    used = []
    real = holdout.track_held_out

    def recording(*args, flow="lk", **kwargs):
        used.append(flow)
        return real(*args, flow=flow, **kwargs)

    monkeypatch.setattr(holdout, "track_held_out", recording)
    _, run, _, _ = _propagated(tmp_path, 40, "flow_dis")
    assert used == ["dis"] and "estimated_nme" in run.metrics
