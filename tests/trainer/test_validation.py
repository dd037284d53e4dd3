"""The held-out keyframe check: which keyframes it holds out, when it stops training, the
fusion's trust, and a propagation that uses it end to end (CPU, tiny clips)."""

from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

import numpy as np
import pytest

from core.formats.pts import read_pts
from core.landmarks import mean_shape
from core.propagation import interpolate
from core.propagation.holdout import HeldOutTrack
from core.video import VideoReader
from evaluation.synthetic.clip import make_clip
from trainer.tsal import PRESETS, data, fusion, run, validation
from trainer.tsal.config import MIN_BUDGET, STEPS_PER_FRAME, step_budget
from trainer.tsal.loop import Trainer, train
from trainer.tsal.progress import JobProgress
from trainer.tsal.validation import CHECK_EVERY, PATIENCE, CheckResult, EarlyStop

TINY = replace(PRESETS["fast"], crop=48, width=8, steps=60, batch_labelled=8, clips_per_step=2,
               clip_len=3, lr=4e-3)


def test_step_budget_follows_the_frames_to_label() -> None:
    cfg = PRESETS["fast"]
    assert step_budget(cfg, 30, 4) == MIN_BUDGET  # a short clip: a few seconds
    assert step_budget(cfg, 300, 31) == round(STEPS_PER_FRAME * 269) < cfg.steps
    assert step_budget(cfg, 30_000, 100) == cfg.steps  # never more than the config allows
    assert step_budget(replace(cfg, scale_steps=False), 30, 4) == cfg.steps
    assert step_budget(replace(cfg, steps=8), 30, 4) == 8


def _track(first: int, key: int, last: int) -> HeldOutTrack:
    span = last - first + 1
    points = np.tile(mean_shape()[None] * 50 + 100, (span, 1, 1)).astype(np.float64)
    points += np.arange(span)[:, None, None]
    return HeldOutTrack(first, key, last, points, np.ones((span, 68)), points[key - first] + 1)


def test_pick_holds_out_one_in_three_spread_and_none_when_too_few() -> None:
    tracks = [_track(10 * i, 10 * i + 10, 10 * i + 20) for i in range(12)]
    held = validation.pick(tracks, 14)
    assert len(held) == 4
    keys = [t.keyframe for t in held]
    assert all(b - a > 10 for a, b in pairwise(keys))  # never neighbours
    assert validation.pick(tracks[:8], 10) == []  # 8 // 3 < MIN_VALIDATION
    assert validation.pick(tracks, 6) == []  # would leave too few keyframes to train on
    many = [_track(i, i + 1, i + 2) for i in range(60)]
    assert len(validation.pick(many, 62)) == validation.MAX_VALIDATION


def test_training_prior_follows_the_held_out_track_between_the_neighbours() -> None:
    prior = np.zeros((50, 68, 2))
    track = _track(10, 20, 30)
    out = validation.training_prior(prior, [track])
    np.testing.assert_array_equal(out[11:30], track.points[1:-1])
    assert not out[:11].any() and not out[30:].any()  # the neighbours keep their labels
    assert not prior.any()


def _result(step: int, score: float) -> CheckResult:
    return CheckResult(step, score, score, 1.0)


class _FlatCheck:
    """A check whose score never improves: the real training loop must stop on it."""

    def __init__(self) -> None:
        self.steps: list[int] = []

    def __call__(self, networks, step: int) -> CheckResult:
        assert set(networks) == {"student", "teacher"}
        self.steps.append(step)
        return _result(step, 0.05)


def test_early_stop_waits_for_patience_and_the_minimum() -> None:
    flat = EarlyStop(_FlatCheck(), min_steps=20)
    stops = [flat.update(_result(s, 0.05)) for s in range(10, 200, 10)]
    assert stops.index(True) == PATIENCE  # best at the first check, then PATIENCE without gain
    late = EarlyStop(_FlatCheck(), min_steps=90)
    stops = [late.update(_result(s, 0.05)) for s in range(10, 200, 10)]
    assert (stops.index(True) + 1) * 10 == 90  # never before the minimum
    improving = EarlyStop(_FlatCheck(), min_steps=20)
    assert not any(improving.update(_result(s, 0.05 * 0.9 ** s)) for s in range(10, 200, 10))
    tiny_gains = EarlyStop(_FlatCheck(), min_steps=20)  # gains below IMPROVEMENT count as none
    assert any(tiny_gains.update(_result(s, 0.05 * (1 - 0.0002 * s))) for s in range(10, 200, 10))


@pytest.mark.parametrize("min_steps", [20, 70])
def test_training_stops_when_the_check_stops_improving(min_steps: int, tmp_path) -> None:
    make_clip(tmp_path, frames=30, stride=10, difficulty="easy", seed=3, size=(320, 240))
    keys = {int(p.stem) - 1: read_pts(p) for p in sorted((tmp_path / "annot").glob("*.pts"))}
    with VideoReader(tmp_path / "vid.avi") as reader:
        frames = [reader.frame(i) for i in range(30)]
    cfg = replace(TINY, steps=100)
    prior = interpolate(30, keys).points.astype(np.float64)
    affines = data.align_affines(prior, cfg.crop, cfg.margin)
    crops = data.CropStore(30, cfg.crop)
    assert crops.fill(data.FrameReader(frames.__getitem__, 30), affines)
    sampler = data.Sampler(crops, keys, prior, affines, cfg, np.random.default_rng(0))
    trainer, check = Trainer(cfg), _FlatCheck()
    stopped = train(trainer, sampler, cfg, JobProgress({"train": cfg.steps}, None),
                    early=EarlyStop(check, min_steps))
    assert not stopped  # not a stop request
    expected = max(min_steps, (1 + PATIENCE) * CHECK_EVERY)
    assert trainer.step_count == expected < cfg.steps
    assert check.steps == list(range(CHECK_EVERY, expected + 1, CHECK_EVERY))


def test_trust_moves_the_fusion_between_network_and_flow() -> None:
    iod = np.full(3, 60.0)
    net, flow = np.zeros((3, 68, 2)), np.ones((3, 68, 2))
    err = np.full((3, 68), 2.0)
    typical = np.zeros(68)
    trusting = fusion.combine(net, fusion.model_error(err, typical, iod, 0.5), flow, err, iod)[0]
    ignoring = fusion.combine(net, fusion.model_error(err, typical, iod, 1e3), flow, err, iod)[0]
    assert np.all(trusting < 0.5) and np.allclose(ignoring, 1.0, atol=1e-4)


def test_a_propagation_with_enough_keyframes_checks_and_reports_it(tmp_path) -> None:
    make_clip(tmp_path, frames=61, stride=4, difficulty="easy", seed=4, size=(320, 240))
    keys = {int(p.stem) - 1: read_pts(p) for p in sorted((tmp_path / "annot").glob("*.pts"))}
    with VideoReader(tmp_path / "vid.avi") as reader:
        frames = [reader.frame(i) for i in range(61)]
    cfg = replace(TINY, steps=50, min_steps=20, scale_steps=False)
    info = run(frames.__getitem__, 61, keys, cfg)["final"].info
    checks = info["checks"]
    assert checks and [c[0] for c in checks] == list(range(10, 10 * len(checks) + 1, 10))
    assert 20 <= info["steps"] <= 50 and info["steps"] == checks[-1][0]
    assert info["trust"] == [checks[-1][3]] and checks[-1][3] in validation.TRUST_GRID
    assert all(len(c) == 5 for c in checks)  # step, network, best fused, trust, its fused
    without = run(frames.__getitem__, 61, keys, replace(cfg, stop_early=False))["final"].info
    assert without["checks"] == [] and without["steps"] == 50 and without["trust"] == [1.0]
    # the estimate describes tracking, scaled by what the networks did on the validation frames
    (gain,) = info["network_gain"]
    assert 0 < gain <= 1 and without["network_gain"] == [1.0]
    np.testing.assert_allclose(info["held_out_errors"],
                               np.asarray(without["held_out_errors"]) * gain, atol=2e-6)


def test_the_gain_is_fused_over_tracked_and_never_above_one() -> None:
    check = object.__new__(validation.Check)  # only the scores matter here
    check.flow_nme = 0.04
    assert check.gain(CheckResult(10, 0.05, 0.01, 1.0)) == pytest.approx(0.25)
    assert check.gain(CheckResult(10, 0.09, 0.06, 1e3)) == 1.0  # fusion worse: tracking's
    assert check.gain(None) == 1.0
    # a run that completes its points with the shape model: both sides completed, so what the
    # completion mends (here most of tracking's error) is not credited to the networks too
    check.flow_completed_nme = 0.02
    result = CheckResult(10, 0.05, 0.01, 1.0, 0.01, completed_nme=0.016)
    assert check.gain(result) == pytest.approx(0.25)
    assert check.gain(result, completed=True) == pytest.approx(0.8)


def test_an_output_takes_the_gain_measured_as_it_is_made():
    """One cached training serves outputs with and without the shape completion: each takes
    the gain measured on points like its own."""
    from trainer.tsal.propagate import estimate_gain

    info = {"network_gain": 0.7, "network_gain_completed": 0.95}
    assert estimate_gain(info, replace(TINY, shape_complete=True)) == 0.95
    assert estimate_gain(info, replace(TINY, shape_complete=False)) == 0.7
    assert estimate_gain({}, TINY) == 1.0  # no check ran


def test_a_trust_other_than_the_networks_own_needs_the_keyframes_to_agree():
    from trainer.tsal.validation import DEFAULT_TRUST, supported_trust

    own = np.array([0.020, 0.021, 0.019, 0.030, 0.022])
    # ignoring the network wins on four keyframes by a little and loses one by a lot: the
    # median prefers it, the keyframes on average do not
    ignore = np.array([0.0195, 0.0205, 0.0185, 0.060, 0.0215])
    assert np.median(ignore) < np.median(own)
    assert supported_trust({DEFAULT_TRUST: own, 1e3: ignore}, 1e3) == DEFAULT_TRUST
    # a consistent gain on every keyframe is taken
    assert supported_trust({DEFAULT_TRUST: own, 1e3: own - 0.004}, 1e3) == 1e3
    assert supported_trust({DEFAULT_TRUST: own}, DEFAULT_TRUST) == DEFAULT_TRUST
