"""Frame suggestion strategies, the review queue and the suspect points."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ValidationError
from core.review_queue import Suggestion, frame_error, hat, review_queue
from core.store import FrameStats
from core.suggest import (
    pick_frames,
    rank_suggestions,
    shot_change_requests,
    suspect_points,
    uniform_frames,
)


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


def test_unknown_strategy() -> None:
    with pytest.raises(ValidationError, match="unknown strategy"):
        pick_frames("best", 10, [0], 1)


def test_suspect_points_flag_the_doubtful_points_of_a_doubtful_frame_most_doubtful_first(
        ) -> None:
    conf = np.full(68, np.exp(-0.1))  # every point "0.8 % off": the floor of a right point
    assert suspect_points(conf).size == 0
    conf[[5, 40, 12]] = [0.3, 0.1, 0.6]  # estimated 9.6, 18 and 4.1 % off
    assert suspect_points(conf).tolist() == [40, 5]  # 12 alone in a good frame: noise
    assert suspect_points(conf, limit=1).tolist() == [40]
    # the same point estimate in a frame whose other points are doubtful too: a drift
    drift = np.full(68, np.exp(-0.5))  # every point 4 % off
    drift[12] = 0.6
    assert 12 in suspect_points(drift) and len(suspect_points(drift)) == 68
    # a stricter threshold flags fewer
    assert suspect_points(conf, tau=0.03).tolist() == [40]


# -- the review queue ------------------------------------------------------------------------


def _hump(n: int, first: int, last: int, height: float) -> np.ndarray:
    """An error estimate that rises to ``height`` in the middle of first..last (a drift)."""
    error = np.zeros(n)
    t = np.arange(first, last + 1)
    error[t] = height * np.sin(np.pi * (t - first + 1) / (last - first + 2))
    return error


def _within_spans(queue: list[Suggestion]) -> list[tuple[int, int]]:
    return [(s.frame, o.frame) for s in queue for o in queue
            if o is not s and s.span[0] <= o.frame <= s.span[1]]


@pytest.mark.parametrize("seed", range(40))
def test_queue_never_suggests_two_frames_within_its_suppression_span(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 400))
    error = rng.gamma(0.5, 1.0, n) * (rng.random(n) < rng.uniform(0.2, 1.0))
    for _ in range(int(rng.integers(0, 4))):  # a few drifts
        first = int(rng.integers(0, n))
        error += _hump(n, first, min(n - 1, first + int(rng.integers(1, 60))), rng.uniform(1, 9))
    keys = sorted(set(rng.integers(0, n, int(rng.integers(0, max(2, n // 8)))).tolist()))
    cut = int(rng.integers(1, n)) if rng.random() < 0.5 else None
    segments = None if cut is None else [(0, cut - 1), (cut, n - 1)]
    span = None if rng.random() < 0.7 else int(rng.integers(0, 12))
    min_gap = int(rng.integers(1, 6))
    queue = review_queue(error, keys, int(rng.integers(1, 40)), span=span, min_gap=min_gap,
                         segments=segments)
    assert _within_spans(queue) == []
    frames = [s.frame for s in queue]
    assert len(set(frames)) == len(frames) and not set(frames) & set(keys)
    assert all(abs(a - b) >= min_gap for i, a in enumerate(frames) for b in frames[i + 1:])
    assert all(s.span[0] <= s.frame <= s.span[1] and s.reach[0] <= s.frame <= s.reach[1]
               for s in queue)
    if segments is not None:  # a correction never reaches across a segment's end
        assert all((s.reach[1] < cut) or (s.reach[0] >= cut) for s in queue)
    scores = [s.score for s in queue]
    assert all(s > 0 for s in scores) and scores == sorted(scores, reverse=True)


def test_a_pick_suppresses_what_its_correction_fixes_and_its_neighbour_does_not_replace_it(
        ) -> None:
    # the demo's case: one 15-frame gap with a big drift, smaller drifts elsewhere
    keys = [0, 15, 30, 45, 60, 75]
    error = _hump(76, 16, 29, 10.0) + _hump(76, 31, 44, 4.0) + _hump(76, 61, 74, 3.0)
    queue = review_queue(error, keys, 7)
    first = queue[0]
    assert 20 <= first.frame <= 25 and first.reach == (16, 29)
    in_gap = [s.frame for s in queue if 16 <= s.frame <= 29]
    assert in_gap == [first.frame]  # not 23, 26, 20 and 17 together
    assert queue[1].frame in range(31, 45) and queue[2].frame in range(61, 75)
    # after the correction, the queue recomputed from the same (stale) run moves on: the
    # corrected frame's neighbour does not take its place
    after = review_queue(error, keys, 7, corrected=[first.frame])
    assert after[0].frame == queue[1].frame
    frames = [s.frame for s in after]
    assert all(abs(f - first.frame) > 2 for f in frames)
    assert frames.index(queue[2].frame) < min(
        [i for i, f in enumerate(frames) if 16 <= f <= 29], default=99)
    # the GUI's list does the same from a run's statistics: a keyframe whose confidence is not
    # 1 was labelled after the run
    conf = np.exp(-error / 100 / 0.08)  # an estimated NME of up to 10 %
    conf[keys] = 1.0
    stats = FrameStats(run_id=1, frames=np.arange(76), values={
        "jitter": np.zeros(76), "confidence": conf, "suggestion_score": error})
    for estimate in ("score", "confidence"):
        ranked = rank_suggestions(stats, keys, 7, estimate=estimate)
        assert [s.frame for s in ranked][:3] == [s.frame for s in queue][:3]
        assert all(s.reason == "low confidence" for s in ranked)
        later = rank_suggestions(stats, {*keys, first.frame}, 7, estimate=estimate)
        assert later[0].frame == queue[1].frame


def test_gains_are_re_estimated_as_if_each_pick_were_corrected() -> None:
    error, t = np.ones(21), np.arange(21)  # one gap (0, 20) with an even error mass
    queue = review_queue(error, [0, 20], 3, span=2, min_gap=1)  # a narrow span: 2 in one gap
    assert queue[0].frame == 10 and queue[0].score == pytest.approx(10.0)  # the hat's area
    assert queue[0].reach == (1, 19) and queue[0].span == (8, 12)
    # the second pick's gain is its hat's share of what the first left behind
    residual = error * (1 - hat(10, 0, 20, t))
    second = queue[1]
    a, b = (0, 10) if second.frame < 10 else (10, 20)
    assert second.score == pytest.approx(float((hat(second.frame, a, b, t) * residual).sum()))
    assert second.score < queue[0].score / 2
    # a frame labelled since the estimate counts as corrected: the same queue either way
    stale = review_queue(error, [0, 20], 3, span=2, min_gap=1, corrected=[10])
    fresh = review_queue(np.where(t == 10, 0.0, residual), [0, 10, 20], 3, span=2, min_gap=1)
    assert stale == fresh and stale[0].frame == second.frame


def test_an_open_end_fades_as_far_as_the_constraint_on_the_other_side() -> None:
    error = np.zeros(40)
    error[[21, 22, 23, 38]] = [1.0, 2.0, 1.0, 1.0]
    first, second = review_queue(error, [20], 5)  # frames 21..39 run to the segment's end
    assert first.frame == 22 and first.reach == (21, 23)  # its hat falls to zero at 24
    assert first.score == pytest.approx(3.0)
    # the queue then still offers frame 38, which that correction does not reach
    assert second.frame == 38 and second.reach == (23, 39)
    # with no constraint on either side the hat spans the segment
    assert review_queue(error, [], 1)[0].reach == (0, 39)


def test_frame_error_inverts_the_confidence() -> None:
    conf = np.full((2, 68), np.exp(-0.25))  # an estimated error of 0.25 × 0.08 = 2 % IOD
    conf[1, :34] = 1.0  # the mean is taken before the logarithm
    assert frame_error(conf) == pytest.approx([0.02, -0.08 * np.log((1 + np.exp(-0.25)) / 2)])
    assert frame_error(np.array([1.0, 0.0]))[0] == 0.0


def test_the_gui_list_names_the_signal_behind_the_error_each_correction_removes() -> None:
    n = 41
    jitter, confidence, score = np.zeros(n), np.ones(n), np.zeros(n)
    jitter[5] = score[5] = 9.0  # a jump in the first gap
    confidence[[29, 30, 31]] = 0.2  # doubt in the middle of the second
    score[[29, 30, 31]] = 6.0
    stats = FrameStats(run_id=1, frames=np.arange(n), values={
        "jitter": jitter, "confidence": confidence, "suggestion_score": score})
    ranked = rank_suggestions(stats, [0, 20, 40])
    assert [(s.frame, s.reason) for s in ranked] == [(30, "low confidence"), (5, "jitter")]
    assert ranked[0].score == pytest.approx(6 + 2 * 6 * 0.9)  # its hat over 29..31
    assert rank_suggestions(None, [0]) == [] and rank_suggestions(stats, range(n)) == []
    with pytest.raises(ValidationError, match="unknown estimate"):
        rank_suggestions(stats, [0], estimate="best")


def test_no_face_frames_are_never_suggested_and_a_segment_without_keyframe_comes_first():
    frames = np.arange(40)
    score = np.zeros(40)
    score[[12, 13, 30]] = [9.0, 9.0, 4.0]  # 12 and 13 will be marked "no face"
    stats = FrameStats(run_id=1, frames=frames, values={
        "jitter": np.zeros(40), "confidence": np.ones(40), "suggestion_score": score})
    ranked = rank_suggestions(stats, [0, 20], absences=[(10, 14), (25, 26)], frame_count=40)
    assert not {s.frame for s in ranked} & {10, 11, 12, 13, 14, 25, 26}
    first = ranked[0]  # frames 27..39 have no keyframe: nothing there is propagated
    assert (first.frame, first.span) == (33, (27, 39))
    assert first.reason == "no keyframe in frames 28–40: label one"
    assert rank_suggestions(None, [0], absences=[(5, 9)], frame_count=20)[0].frame == 14
    assert rank_suggestions(None, [0, 15], absences=[(5, 9)], frame_count=20) == []


def test_shot_changes_found_while_tracking_come_first_unless_they_are_cuts() -> None:
    [change] = shot_change_requests([25, 40], keyframes=[0, 20, 30, 59], cuts=[40])
    assert (change.frame, change.score, change.reach) == (25, 10.0, (20, 30))
    assert change.reason == "shot change? (Shift+C)"
    assert rank_suggestions(None, [0, 20, 30, 59], transitions=[25])[0] == change
    assert rank_suggestions(None, [0, 20, 30, 59], transitions=[25], cuts=[25]) == []
