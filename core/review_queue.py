"""The review queue: the frames whose correction removes the most estimated error, spread in time.

The model. Frames are grouped in *gaps*: the runs of frames between two neighbouring
constraints (labelled or corrected frames). Correcting frame ``c`` of gap ``(a, b)`` re-solves
the gap: the correction's offset is spread linearly to zero at ``a`` and ``b``, so it removes
the fraction

    w_c(t) = (t − a)/(c − a) for a < t ≤ c,   (b − t)/(b − c) for c ≤ t < b,   0 elsewhere

of frame t's error (a "hat"; exact when the error is a drift that is coherent across the gap).
A gap that runs to the end of its segment has no constraint on that side: there the hat falls
to zero as far from ``c`` as the constraint on the other side is (the drift it removes built up
over that distance), and never past the segment. A candidate's *gain* is the estimated error
its correction removes, Σ_t w_c(t)·e(t), with e the per-frame error estimate.

The queue picks greedily: take the best gain (ties: the frame itself most wrong, then the one
nearest its gap's middle), re-estimate as if that frame were corrected (e ← e·(1 − w_c); the
gap splits at c) and suppress the pick's *span*: the frames its correction re-solves (where
w_c > 0), and never fewer than ``min_gap`` − 1 either side. No later pick lies in an earlier
pick's span and none of their spans holds another pick, so the queue never offers two frames
one correction fixes. Frames corrected since the estimate was made (a stale run) are applied
first in the same way, so a queue recomputed after a correction moves on rather than to the
corrected frame's neighbour.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from core.errors import ValidationError
from core.propagation.common import CONF_FRACTION

#: Suggestions keep at least this many frames apart, whatever their gaps.
MIN_GAP = 3
#: Confidence floor before the logarithm (an error estimate of −ln(1e-3)·0.08 ≈ 0.55 IOD).
CONF_FLOOR = 1e-3


@dataclass(frozen=True)
class Suggestion:
    """A frame to review: ``score`` is the estimated error its correction removes (the
    estimate's units times frames), ``reason`` the signal behind it, ``span`` the first and last
    frame no other suggestion may take, ``reach`` the first and last frame its correction
    changes."""

    frame: int
    score: float
    reason: str = ""
    span: tuple[int, int] | None = None
    reach: tuple[int, int] | None = None


def frame_error(confidence: np.ndarray) -> np.ndarray:
    """Estimated NME (inter-ocular units) per frame from a run's confidence, ``(N, 68)`` per
    point or ``(N,)`` per frame (the frame statistics' mean): −ln(mean confidence) ×
    CONF_FRACTION, since a point's confidence is exp(−error / (CONF_FRACTION × IOD)).

    The mean is taken before the logarithm, so one hopeless point cannot dominate its frame; with
    the default method this tracked the true NME better than the mean of per-point −ln or the
    suggestion score (docs/MEASUREMENTS.md, issue 11).
    """
    conf = np.asarray(confidence, dtype=np.float64)
    if conf.ndim == 2:
        conf = conf.mean(axis=1)
    return -np.log(np.clip(conf, CONF_FLOOR, 1.0)) * CONF_FRACTION


def hat(c: int, a: int, b: int, t: np.ndarray) -> np.ndarray:
    """w_c(t): the fraction of frame t's error a correction at ``c`` removes when the hat falls
    to zero at ``a`` and ``b``."""
    t = np.asarray(t, dtype=np.float64)
    left = (t - a) / (c - a)
    right = (b - t) / (b - c)
    return np.where((t > a) & (t <= c), left, np.where((t > c) & (t < b), right, 0.0))


def contiguous_segments(frames: np.ndarray) -> list[tuple[int, int]]:
    """First and last frame of each run of consecutive frame numbers in sorted ``frames``."""
    frames = np.asarray(frames, dtype=np.int64)
    if len(frames) == 0:
        return []
    breaks = np.flatnonzero(np.diff(frames) != 1)
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [len(frames) - 1]])
    return [(int(frames[s]), int(frames[e])) for s, e in zip(starts, ends)]


class QueueState:
    """The residual error estimate and, per frame, the gap it lies in, as picks are made.

    ``gap_a``/``gap_b`` hold each candidate's gap bounds, ``open_a``/``open_b`` whether a bound
    is a segment's end rather than a constraint; ``gain`` every candidate's current gain.
    """

    def __init__(self, error: np.ndarray, constrained: Iterable[int],
                 segments: Sequence[tuple[int, int]] | None = None,
                 corrected: Iterable[int] = ()) -> None:
        error = np.asarray(error, dtype=np.float64)
        if error.ndim != 1:
            raise ValidationError(f"the error estimate must be one value per frame, got shape "
                                  f"{error.shape}")
        n = len(error)
        self.error = np.where(np.isfinite(error), np.maximum(error, 0.0), 0.0)
        stale = sorted({int(k) for k in corrected if 0 <= int(k) < n})
        fresh = np.array(sorted({int(k) for k in constrained if 0 <= int(k) < n} - set(stale)),
                         dtype=np.int64)
        self.error[fresh] = 0.0
        self.candidate = np.zeros(n, dtype=bool)
        self.gap_a = np.zeros(n, dtype=np.int64)
        self.gap_b = np.zeros(n, dtype=np.int64)
        self.open_a = np.zeros(n, dtype=bool)
        self.open_b = np.zeros(n, dtype=bool)
        whole = [(0, n - 1)] if n else []
        for first, last in whole if segments is None else segments:
            if not 0 <= first <= last < n:
                raise ValidationError(f"segment {first}..{last} is outside 0..{n - 1}")
            inner = fresh[(fresh >= first) & (fresh <= last)]
            bounds = np.concatenate([[first - 1], inner, [last + 1]])
            free = np.ones(last + 1 - first, dtype=bool)
            free[inner - first] = False
            t = first + np.flatnonzero(free)
            i = np.searchsorted(bounds, t)
            self.candidate[t] = True
            self.gap_a[t], self.gap_b[t] = bounds[i - 1], bounds[i]
            self.open_a[t], self.open_b[t] = bounds[i - 1] == first - 1, bounds[i] == last + 1
        self.gain = np.zeros(n)
        self._update(0, n - 1)
        for k in stale:
            self.correct(k)
            self.candidate[k] = False

    def anchors(self, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where the hat of each candidate ``c`` falls to zero (see the module docstring)."""
        a, b = self.gap_a[c], self.gap_b[c]
        only_a = self.open_a[c] & ~self.open_b[c]
        only_b = self.open_b[c] & ~self.open_a[c]
        lo = np.where(only_a, np.maximum(a, 2 * c - b), a)
        hi = np.where(only_b, np.minimum(b, 2 * c - a), b)
        return lo, hi

    def _update(self, first: int, last: int) -> None:
        """Recompute the gains Σ_t w_c(t)·error(t) of the candidates in frames first … last,
        whole gaps, from prefix sums (in each gap's own coordinates, for precision)."""
        c = first + np.flatnonzero(self.candidate[first:last + 1])
        if len(c) == 0:
            return
        e = self.error[first:last + 1]
        u = np.where(self.candidate[first:last + 1],
                     np.arange(first, last + 1) - self.gap_a[first:last + 1], 0)
        q0 = np.concatenate([[0.0], np.cumsum(e)])
        qu = np.concatenate([[0.0], np.cumsum(e * u)])
        lo, hi = self.anchors(c)
        a = self.gap_a[c]
        i, j, k = c + 1 - first, lo + 1 - first, hi - first
        left = (qu[i] - qu[j] + (a - lo) * (q0[i] - q0[j])) / (c - lo)
        right = ((hi - a) * (q0[k] - q0[i]) - (qu[k] - qu[i])) / (hi - c)
        self.gain[c] = left + right

    def correct(self, c: int) -> tuple[int, int, np.ndarray] | None:
        """Treat ``c`` as corrected: take the error its hat removes, split its gap, update the
        gains; return where the hat falls to zero (lo, hi) and the error removed per frame of
        lo+1 … hi−1 (None when ``c`` lies in no gap)."""
        if not self.candidate[c]:
            return None
        lo, hi = (int(x[0]) for x in self.anchors(np.array([c])))
        removed = hat(c, lo, hi, np.arange(lo + 1, hi)) * self.error[lo + 1:hi]
        self.error[lo + 1:hi] -= removed
        self.error[c] = 0.0
        self.candidate[c] = False
        a, b = int(self.gap_a[c]), int(self.gap_b[c])
        self.gap_b[a + 1:c], self.open_b[a + 1:c] = c, False
        self.gap_a[c + 1:b], self.open_a[c + 1:b] = c, False
        self.gain[c] = 0.0
        self._update(a + 1, b - 1)
        return lo, hi, removed

    def best(self, allowed: np.ndarray) -> int | None:
        """The allowed candidate with the largest positive gain; ties go to the frame itself
        most wrong, then to the one nearest its gap's middle (an even error mass is halved, as
        "label every k-th frame" would), then to the earliest."""
        mask = allowed & self.candidate & (self.gain > 0)
        if not mask.any():
            return None
        ties = np.flatnonzero(mask & _near_max(self.gain, mask))
        if len(ties) > 1:
            ties = ties[_near_max(self.error[ties], np.ones(len(ties), dtype=bool))]
        off_middle = np.abs(2 * ties - self.gap_a[ties] - self.gap_b[ties])
        return int(ties[np.argmin(off_middle)])


def _near_max(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Where ``values`` (under ``mask``) equal their maximum up to rounding."""
    top = float(values[mask].max())
    return mask & (values >= top - 1e-7 * max(abs(top), 1e-12))


def suppression_span(c: int, lo: int, hi: int, min_gap: int = MIN_GAP,
                     span: int | None = None) -> tuple[int, int]:
    """First and last frame a pick at ``c`` suppresses: those its correction re-solves (lo+1 …
    hi−1, where its hat falls to zero at lo and hi) or, given ``span``, that many frames either
    side; never fewer than ``min_gap`` − 1 either side."""
    first, last = (lo + 1, hi - 1) if span is None else (c - span, c + span)
    least = max(min_gap - 1, 0)
    return min(first, c - least), max(last, c + least)


@dataclass(frozen=True)
class Pick:
    """One queue entry with what the model says about it (for reasons and measurements)."""

    suggestion: Suggestion
    gap: tuple[int, int]  # where its hat falls to zero
    removed: np.ndarray  # estimated error removed per frame of gap[0]+1 … gap[1]−1


def queue_picks(error: np.ndarray, constrained: Iterable[int], limit: int = 30, *,
                span: int | None = None, min_gap: int = MIN_GAP,
                segments: Sequence[tuple[int, int]] | None = None,
                corrected: Iterable[int] = ()) -> list[Pick]:
    """:func:`review_queue` with each pick's gap and per-frame removed error."""
    state = QueueState(error, constrained, segments, corrected)
    allowed = np.ones(len(state.error), dtype=bool)
    picks: list[Pick] = []
    while len(picks) < limit:
        c = state.best(allowed)
        if c is None:
            break
        gain = float(state.gain[c])
        result = state.correct(c)
        assert result is not None  # a candidate always lies in a gap
        a, b, removed = result
        lo, hi = suppression_span(c, a, b, min_gap, span)
        lo, hi = max(lo, 0), min(hi, len(allowed) - 1)
        allowed[lo:hi + 1] = False
        picks.append(Pick(Suggestion(c, gain, "", (lo, hi), (a + 1, b - 1)), (a, b), removed))
    return picks


def review_queue(error: np.ndarray, constrained: Iterable[int], limit: int = 30, *,
                 span: int | None = None, min_gap: int = MIN_GAP,
                 segments: Sequence[tuple[int, int]] | None = None,
                 corrected: Iterable[int] = ()) -> list[Suggestion]:
    """Up to ``limit`` frames to review, best first, by the model in this module's docstring.

    ``error``: a non-negative estimate per frame ``(N,)`` (e.g. :func:`frame_error` of the
    run's confidence). ``constrained``: frames labelled when the estimate was made.
    ``corrected``: frames labelled since (a stale estimate): each counts as a correction, as if
    picked. ``span``: a fixed suppression half-width in place of the one derived from the gaps.
    ``segments``: (first, last) frame runs a correction cannot leave (default: the whole
    video); frames outside them are never suggested.
    """
    if limit < 0 or min_gap < 1:
        raise ValidationError("limit must be at least 0 and min_gap at least 1")
    return [p.suggestion for p in queue_picks(error, constrained, limit, span=span,
                                              min_gap=min_gap, segments=segments,
                                              corrected=corrected)]
