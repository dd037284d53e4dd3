"""Which frames (and which points in them) an annotator should label next.

Three strategies, used by the GUI's Suggestions panel and by ``simulate-annotator``:

- ``score``: the frames whose labelling is expected to remove the most error. A frame's
  estimated error is −ln(confidence) of the run (the trainer's confidence already fuses the
  disagreement between sources, forward-backward disagreement and heatmap evidence); a
  candidate's gain is the estimated error summed over the frames around it, up to half the way
  to the neighbouring keyframes (a new keyframe corrects its neighbourhood, not just itself).
  Picks are greedy: each pick becomes a keyframe before the next is chosen. This is
  DeepLabCut's "extract outlier frames" idea with SLEAP-like coverage; the GUI's list ranks the
  run's suggestion score with the signal behind each frame;
- ``uniform``: the middles of the longest stretches without a keyframe — the classic "label
  every k-th frame", refined one frame at a time;
- ``random``: unlabelled frames drawn at random (SLEAP's random suggestions).

Picked frames keep ``min_gap`` frames apart (neighbours share their cause), and
``suspect_points`` names the points of a frame that look wrong (lowest confidence first).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from core.errors import ValidationError
from core.framestats import SCORE_WEIGHTS, robust_scale
from core.store import FrameStats

STRATEGIES = ("score", "uniform", "random")
MIN_GAP = 3
REASONS = {"jitter": "jitter", "low_confidence": "low confidence",
           "detection_tracking": "disagreement (detection vs tracking)",
           "teacher_student": "disagreement (teacher vs student)",
           "forward_backward": "disagreement (forward vs backward)"}


@dataclass(frozen=True)
class Suggestion:
    frame: int
    score: float
    reason: str


def _spaced(order: Iterable[int], frames: np.ndarray, limit: int, min_gap: int) -> list[int]:
    chosen: list[int] = []
    for i in order:
        if len(chosen) == limit:
            break
        if all(abs(int(frames[i]) - int(frames[j])) >= min_gap for j in chosen):
            chosen.append(int(i))
    return chosen


def rank_suggestions(stats: FrameStats | None, keyframes: Iterable[int], limit: int = 30,
                     min_gap: int = MIN_GAP) -> list[Suggestion]:
    """The ``limit`` best-scoring non-keyframes (score > 0), best first, with their reason;
    a frame within ``min_gap`` of a better-ranked suggestion is left out."""
    if stats is None or len(stats.frames) == 0:
        return []
    frames = stats.frames
    score = np.asarray(stats["suggestion_score"], dtype=np.float64)
    keep = (score > 0) & ~np.isin(frames, np.fromiter(keyframes, dtype=np.int64))
    signals = {name: np.asarray(stats[name], dtype=np.float64)
               for name in ("jitter", "detection_tracking", "teacher_student",
                            "forward_backward") if name in stats.values}
    signals["low_confidence"] = 1.0 - np.asarray(stats["confidence"], dtype=np.float64)
    names = list(signals)
    contributions = np.stack([SCORE_WEIGHTS[n] * robust_scale(signals[n], keep | (score > 0))
                              for n in names])
    order = np.flatnonzero(keep)[np.argsort(-score[keep], kind="stable")]
    chosen = _spaced(order, frames, limit, min_gap)
    return [Suggestion(int(frames[i]), float(score[i]),
                       REASONS[names[int(np.argmax(contributions[:, i]))]]) for i in chosen]


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


def error_weighted_frames(error: np.ndarray, keyframes: Iterable[int], count: int,
                          min_gap: int = MIN_GAP) -> list[int]:
    """Greedy picks maximising the estimated error summed over each candidate's reach: the
    frames of its keyframe interval within half the interval's length of it."""
    error = np.asarray(error, dtype=np.float64).copy()
    n = len(error)
    labelled = sorted({int(k) for k in keyframes if 0 <= int(k) < n})
    error[labelled] = 0.0
    picked: list[int] = []
    for _ in range(count):
        best_gain, best_frame = 0.0, None
        for a, b in pairwise([-1, *labelled, n]):
            if b - a <= 1:
                continue
            lo, hi = a + 1, b  # candidates lo..hi-1
            reach = max(1, (b - a) // 2)
            cumsum = np.concatenate([[0.0], np.cumsum(error[lo:hi])])
            t = np.arange(lo, hi)
            left = np.maximum(t - reach, lo) - lo
            right = np.minimum(t + reach + 1, hi) - lo
            # ties (an even error mass) go to the middle of the interval
            gain = cumsum[right] - cumsum[left] - 1e-9 * np.abs(t - (a + b) / 2)
            away = [i for i in range(len(t)) if any(abs(int(t[i]) - p) < min_gap
                                                   for p in picked)]
            gain[away] = -1.0
            i = int(np.argmax(gain))
            if gain[i] > best_gain:
                best_gain, best_frame = float(gain[i]), int(t[i])
        if best_frame is None:
            break
        picked.append(best_frame)
        labelled = sorted({*labelled, best_frame})
        error[best_frame] = 0.0
    return picked


def pick_frames(strategy: str, n_frames: int, keyframes: Iterable[int], count: int, *,
                stats: FrameStats | None = None, seed: int = 0,
                min_gap: int = MIN_GAP) -> list[int]:
    """``count`` frames to label next by ``strategy`` (one of STRATEGIES)."""
    keys = {int(k) for k in keyframes}
    if strategy == "score":
        if stats is None:
            raise ValidationError("strategy 'score' needs a run's frame statistics: propagate "
                                  "first")
        error = np.zeros(n_frames)
        conf = np.clip(np.asarray(stats["confidence"], dtype=np.float64), 1e-3, 1.0)
        inside = (stats.frames >= 0) & (stats.frames < n_frames)
        error[stats.frames[inside]] = -np.log(conf[inside])
        return error_weighted_frames(error, keys, count, min_gap)
    if strategy == "uniform":
        return uniform_frames(n_frames, keys, count)
    if strategy == "random":
        rng = np.random.default_rng(seed)
        free = np.setdiff1d(np.arange(n_frames), np.fromiter(keys, dtype=np.int64))
        order = rng.permutation(free)
        return sorted(int(order[i]) for i in _spaced(range(len(order)), order, count, min_gap))
    raise ValidationError(f"unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}")


def suspect_points(confidence: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Indices of a frame's points whose confidence (68,) is below ``threshold``, least
    confident first — the points the annotator should look at."""
    conf = np.asarray(confidence, dtype=np.float64)
    below = np.flatnonzero(conf < threshold)
    return below[np.argsort(conf[below], kind="stable")]
