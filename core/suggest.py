"""Which frames (and which points in them) an annotator should label next.

Three strategies for ``pick_frames`` (``simulate-annotator``):

- ``score``: the review queue (core.review_queue): greedy picks of the frames whose correction
  removes the most estimated error over the frames it re-solves, each pick re-estimated as if
  corrected before the next and suppressing the frames its correction mostly fixes, so picks
  spread over the video. The estimate is the run's confidence turned into an error
  (``frame_error``). This is DeepLabCut's "extract outlier frames" idea with SLEAP-like
  coverage;
- ``uniform``: the middles of the longest stretches without a keyframe — the classic "label
  every k-th frame", refined one frame at a time;
- ``random``: unlabelled frames drawn at random (SLEAP's random suggestions), ``min_gap``
  apart.

``rank_suggestions`` is the GUI's list: the same queue over a run's frame statistics, with the
signal behind each frame. ``suspect_points`` names the points of a frame that are likely wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import pairwise

import numpy as np

from core.errors import ValidationError
from core.frame_numbers import frame_number
from core.framestats import SCORE_WEIGHTS, robust_scale
from core.propagation.common import CONF_FRACTION
from core.review_queue import (
    CONF_FLOOR,
    MIN_GAP,
    Suggestion,
    contiguous_segments,
    frame_error,
    queue_picks,
    review_queue,
)
from core.review_states import PREDICTED
from core.segments import absent_mask, face_segments, split_at_cuts
from core.store import FrameStats

__all__ = ["ESTIMATES", "MIN_GAP", "REASONS", "STRATEGIES", "SUSPECT_FLOOR", "SUSPECT_TAU",
           "Suggestion", "doubtful_points", "pick_frames", "point_error", "rank_suggestions",
           "review_queue", "shot_change_requests", "suspect_points", "uniform_frames"]

STRATEGIES = ("score", "uniform", "random")
#: Per-frame error estimates ``rank_suggestions`` can queue by.
ESTIMATES = ("score", "confidence")
REASONS = {"jitter": "jitter", "low_confidence": "low confidence",
           "detection_tracking": "disagreement (detection vs tracking)",
           "teacher_student": "disagreement (teacher vs student)",
           "forward_backward": "disagreement (forward vs backward)",
           "face_lost": "face lost? (points off the image or confidence collapsed)"}
#: A point is wrong when its error exceeds this × inter-ocular distance (what a person notices).
SUSPECT_TAU = 0.02
#: The error a run's confidence reports for a point that is right (its floor), × IOD.
SUSPECT_FLOOR = 0.01


def _spaced(order: Iterable[int], frames: np.ndarray, limit: int, min_gap: int) -> list[int]:
    chosen: list[int] = []
    for i in order:
        if len(chosen) == limit:
            break
        if all(abs(int(frames[i]) - int(frames[j])) >= min_gap for j in chosen):
            chosen.append(int(i))
    return chosen


def _stats_arrays(stats: FrameStats, keys: set[int]
                  ) -> tuple[np.ndarray, list[tuple[int, int]], list[int]]:
    """The frame numbers of ``stats``, their runs of consecutive frames (a correction does not
    reach across a frame the run has no result for) and the ``keys`` labelled since the run
    (a run's keyframes have confidence 1)."""
    frames = np.asarray(stats.frames, dtype=np.int64)
    since = frames[np.isin(frames, np.fromiter(keys, dtype=np.int64))
                   & (np.asarray(stats["confidence"]) < 1.0)]
    return frames, contiguous_segments(np.sort(frames)), [int(k) for k in since]


def _signal_shares(stats: FrameStats, n: int, keys: set[int]) -> tuple[list[str], np.ndarray]:
    """Each signal's share of every frame's suggestion score, ``(signals, n)`` (rows sum to 1
    where the frame has any signal)."""
    frames = stats.frames
    score = np.asarray(stats["suggestion_score"], dtype=np.float64)
    signals = {name: np.asarray(stats[name], dtype=np.float64)
               for name in ("jitter", "detection_tracking", "teacher_student",
                            "forward_backward") if name in stats.values}
    signals["low_confidence"] = 1.0 - np.asarray(stats["confidence"], dtype=np.float64)
    names = list(signals)
    unlabelled = ~np.isin(frames, np.fromiter(keys, dtype=np.int64))
    shares = np.zeros((len(names), n))
    for row, name in enumerate(names):
        shares[row, frames] = SCORE_WEIGHTS[name] * robust_scale(signals[name],
                                                                 unlabelled | (score > 0))
    total = shares.sum(axis=0)
    return names, np.divide(shares, total, out=np.zeros_like(shares), where=total > 0)


def rank_suggestions(stats: FrameStats | None, keyframes: Iterable[int], limit: int = 30,
                     min_gap: int = MIN_GAP, estimate: str = "score", *,
                     absences: Iterable[tuple[int, int]] = (), frame_count: int | None = None,
                     cuts: Iterable[int] = (), transitions: Iterable[int] = ()
                     ) -> list[Suggestion]:
    """The review queue over a run's statistics: up to ``limit`` non-keyframes, best first,
    never two within one suggestion's span, each with the signal behind most of the error it
    removes. ``keyframes`` are the labelled frames now (frames labelled since the run count as
    corrected). ``estimate``: ``score`` (the suggestion score, whose signals name the reasons)
    or ``confidence`` (``frame_error`` of the mean confidence, the better predictor of the
    true error on the benchmark). Frames of ``absences`` (no face) are never suggested and no
    correction reaches across them or a shot cut of ``cuts``; given ``frame_count``, each face
    segment without a keyframe comes first, at its middle: nothing there is propagated until
    it has one; then each shot change the run found inside a keyframe gap (its
    ``transitions``) that is not a cut yet: one key (Shift+C) makes it a boundary."""
    if estimate not in ESTIMATES:
        raise ValidationError(f"unknown estimate {estimate!r}: use one of {', '.join(ESTIMATES)}")
    keys = {int(k) for k in keyframes}
    absences, cuts = list(absences), sorted(int(c) for c in cuts)
    needs_key = ([] if frame_count is None else
                 keyframe_requests(frame_count, absences, keys, cuts))
    needs_key += shot_change_requests(transitions, keys, cuts)
    if stats is not None and absences and len(stats.frames):
        present = ~absent_mask(absences, int(stats.frames.max()) + 1)[stats.frames]
        stats = FrameStats(stats.run_id, stats.frames[present],
                           {name: np.asarray(v)[present] for name, v in stats.values.items()})
    if stats is None or len(stats.frames) == 0:
        return needs_key[:limit]
    return (needs_key + _ranked(stats, keys, limit, min_gap, estimate, cuts))[:limit]


def keyframe_requests(frame_count: int, absences: Iterable[tuple[int, int]],
                      keyframes: Iterable[int], cuts: Iterable[int] = ()) -> list[Suggestion]:
    """One suggestion per face segment that holds no keyframe: its middle frame, scored by its
    length (the frames waiting for it)."""
    keys = np.fromiter((int(k) for k in keyframes), dtype=np.int64)
    requests = []
    for first, last in face_segments(frame_count, absences, cuts):
        if not ((keys >= first) & (keys <= last)).any():
            reason = (f"no keyframe in frames {frame_number(first)}–{frame_number(last)}: "
                      "label one")
            requests.append(Suggestion((first + last) // 2, float(last - first + 1), reason,
                                       (first, last), (first, last)))
    return requests


def shot_change_requests(transitions: Iterable[int], keyframes: Iterable[int],
                         cuts: Iterable[int] = ()) -> list[Suggestion]:
    """One suggestion per shot change found while tracking (``core.propagation.transitions``)
    that is not a cut: the frame, scored by the length of the keyframe gap it splits (the
    frames tracked from one side only)."""
    keys = sorted(int(k) for k in keyframes)
    requests = []
    for frame in sorted({int(t) for t in transitions} - {int(c) for c in cuts}):
        before = max((k for k in keys if k < frame), default=frame)
        after = min((k for k in keys if k >= frame), default=frame)
        requests.append(Suggestion(frame, float(after - before),
                                   "shot change? (Shift+C)",
                                   (before, after), (before, after)))
    return requests


def _ranked(stats: FrameStats, keys: set[int], limit: int, min_gap: int, estimate: str,
            cuts: list[int]) -> list[Suggestion]:
    frames, segments, since = _stats_arrays(stats, keys)
    segments = split_at_cuts(segments, cuts)
    n = int(frames.max()) + 1
    error = np.zeros(n)
    if estimate == "score":
        error[frames] = np.asarray(stats["suggestion_score"], dtype=np.float64)
    else:
        error[frames] = frame_error(np.asarray(stats["confidence"], dtype=np.float64))
    names, shares = _signal_shares(stats, n, keys)
    picks = queue_picks(error, keys, limit, min_gap=min_gap, segments=segments,
                        corrected=since)
    lost = np.zeros(n, dtype=bool)
    if "face_lost" in stats.values:
        lost[frames] = np.asarray(stats["face_lost"]) >= 0.5  # stored as 0 or 1
    ranked = []
    for pick in picks:
        a, b = pick.gap
        weight = shares[:, a + 1:b] @ pick.removed
        if weight.any():
            reason = REASONS[names[int(np.argmax(weight))]]
        else:  # no signal behind the estimate (the score's signals are all at their median)
            reason = REASONS["low_confidence"] if estimate == "confidence" else "score"
        s = pick.suggestion
        if lost[s.frame]:
            reason = REASONS["face_lost"]
        ranked.append(Suggestion(s.frame, s.score, reason, s.span, s.reach))
    return ranked


def uniform_frames(n_frames: int, keyframes: Iterable[int], count: int) -> list[int]:
    """``count`` frames, each the middle of the longest stretch without a keyframe at the time
    it is picked (so repeated picks refine the spacing evenly)."""
    labelled = sorted({int(k) for k in keyframes if 0 <= int(k) < n_frames})
    picked: list[int] = []
    for _ in range(count):
        bounds = [-1, *labelled, n_frames]
        gaps = [(b - a, a, b) for a, b in pairwise(bounds)]
        length, a, b = max(gaps)
        if length <= 1:
            break
        if a < 0:
            frame = 0
        elif b >= n_frames:
            frame = n_frames - 1
        else:
            frame = (a + b) // 2
        picked.append(frame)
        labelled = sorted({*labelled, frame})
    return picked


def pick_frames(strategy: str, n_frames: int, keyframes: Iterable[int], count: int, *,
                stats: FrameStats | None = None, seed: int = 0,
                min_gap: int = MIN_GAP) -> list[int]:
    """``count`` frames to label next by ``strategy`` (one of STRATEGIES); ``score`` may give
    fewer when its suppression spans leave no candidate."""
    keys = {int(k) for k in keyframes}
    if strategy == "score":
        if stats is None:
            raise ValidationError("strategy 'score' needs a run's frame statistics: propagate "
                                  "first")
        frames, segments, since = _stats_arrays(stats, keys)
        inside = (frames >= 0) & (frames < n_frames)
        error = np.zeros(n_frames)
        error[frames[inside]] = frame_error(np.asarray(stats["confidence"])[inside])
        segments = [(a, min(b, n_frames - 1)) for a, b in segments if a < n_frames]
        return [s.frame for s in review_queue(error, keys, count, min_gap=min_gap,
                                              segments=segments, corrected=since)]
    if strategy == "uniform":
        return uniform_frames(n_frames, keys, count)
    if strategy == "random":
        rng = np.random.default_rng(seed)
        free = np.setdiff1d(np.arange(n_frames), np.fromiter(keys, dtype=np.int64))
        order = rng.permutation(free)
        return sorted(int(order[i]) for i in _spaced(range(len(order)), order, count, min_gap))
    raise ValidationError(f"unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")


def point_error(confidence: np.ndarray) -> np.ndarray:
    """Each point's estimated error (× IOD) shrunk towards its frame's: the geometric mean of
    the point's −ln(c) × 0.08 and the frame's ``frame_error``. Errors in a frame share a cause
    (a drift moves every point), so the frame's estimate steadies the noisy per-point one
    (measured in docs/MEASUREMENTS.md, issue 11). ``confidence`` is ``(68,)`` or ``(N, 68)``."""
    conf = np.clip(np.asarray(confidence, dtype=np.float64), CONF_FLOOR, 1.0)
    own = -np.log(conf) * CONF_FRACTION
    frame = frame_error(np.atleast_2d(conf)).reshape(own.shape[:-1] + (1,))
    return np.sqrt(own * frame)


def suspect_points(confidence: np.ndarray, tau: float = SUSPECT_TAU,
                   floor: float = SUSPECT_FLOOR, limit: int | None = None) -> np.ndarray:
    """Indices of a frame's points (confidence ``(68,)``) likely wrong by more than ``tau`` ×
    the inter-ocular distance, most doubtful first: those whose ``point_error`` exceeds
    ``tau`` + ``floor`` (the estimate of a point that is right is about 1 % IOD, not 0).
    ``limit`` keeps only the most doubtful few."""
    estimate = point_error(confidence)
    flagged = np.flatnonzero(estimate > tau + floor)
    flagged = flagged[np.argsort(-estimate[flagged], kind="stable")]
    return flagged if limit is None else flagged[:limit]


def doubtful_points(confidence: np.ndarray | None, states: np.ndarray | None = None
                    ) -> np.ndarray:
    """The points of a frame to mark as doubtful: its :func:`suspect_points` that are still
    predicted (``states``, ``core.review_states``; None: all predicted), most doubtful first.
    A point a person placed or accepted is never doubtful; no confidence, no doubt."""
    if confidence is None:
        return np.zeros(0, dtype=np.int64)
    suspects = suspect_points(confidence)
    if states is None:
        return suspects
    return suspects[np.asarray(states)[suspects] == PREDICTED]
