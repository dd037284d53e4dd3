"""Frame suggestion strategies."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ValidationError
from core.store import FrameStats
from core.suggest import pick_frames, suspect_points, uniform_frames


def _stats(n: int, bad: dict[int, float]) -> FrameStats:
    confidence = np.full(n, 0.9)
    for frame, value in bad.items():
        confidence[frame] = value
    return FrameStats(run_id=1, frames=np.arange(n), values={
        "jitter": np.zeros(n), "confidence": confidence, "suggestion_score": 1 - confidence})


def test_score_goes_where_the_estimated_error_is_and_spreads_out() -> None:
    keys = [0, 10, 20, 30, 39]
    stats = _stats(40, dict.fromkeys(range(24, 30), 0.05))  # a doubtful stretch
    picks = pick_frames("score", 40, keys, 3, stats=stats)
    assert 23 <= picks[0] <= 29
    assert len(set(picks)) == 3 and not set(picks) & set(keys)
    assert all(abs(x - y) >= 3 for i, x in enumerate(picks) for y in picks[i + 1:])
    # with no doubt anywhere, the error mass is even: the longest gap is halved, as uniform does
    assert pick_frames("score", 41, [0, 40], 1, stats=_stats(41, {})) == [20]
    with pytest.raises(ValidationError, match="propagate first"):
        pick_frames("score", 40, [0], 2)


def test_uniform_halves_the_longest_gaps() -> None:
    assert sorted(uniform_frames(41, [0, 40], 3)) == [10, 20, 30]
    assert uniform_frames(41, [0, 10, 40], 1) == [25]
    assert uniform_frames(3, [0, 1, 2], 2) == []
    assert pick_frames("uniform", 30, [], 1) == [0]


def test_random_is_reproducible_spaced_and_skips_keyframes() -> None:
    keys = [0, 10, 20]
    a = pick_frames("random", 30, keys, 4, seed=3)
    assert a == pick_frames("random", 30, keys, 4, seed=3)
    assert len(a) == 4 and not set(a) & set(keys)
    assert all(abs(x - y) >= 3 for i, x in enumerate(a) for y in a[i + 1:])


def test_unknown_strategy_and_suspect_points() -> None:
    with pytest.raises(ValidationError, match="unknown strategy"):
        pick_frames("best", 10, [0], 1)
    conf = np.full(68, 0.9)
    conf[[5, 40, 12]] = [0.3, 0.1, 0.45]
    assert suspect_points(conf).tolist() == [40, 5, 12]
