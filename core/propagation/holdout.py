"""Held-out keyframes: an estimate of a run's accuracy without ground truth, and the smoother's
setting chosen per video from the person's own labels (issue 12 §3).

Each interior keyframe ``k`` of a face segment is predicted from its two neighbouring keyframes
``a < k < b`` alone, as the propagation would predict a frame between them: bidirectional
optical-flow tracking from ``a`` and ``b`` (``core.propagation.flow``), then the constrained
smoother with ``a`` and ``b`` pinned. Its error against the person's label, in inter-ocular
distances, is one held-out measurement. No training is involved, so it costs about one more
flow propagation over the frames it visits (at most ``limit`` keyframes, spread over the video);
the tracks are kept, so smoothing them again with another setting costs milliseconds.

The setting: every value of :data:`ACCEL_GRID` smooths the held-out tracks; the one with the
least mean held-out error is taken if it beats the fixed default by :data:`SIGNIFICANCE`
standard errors of the paired differences and by :data:`MIN_GAIN` of its error
(leave-one-keyframe-out cross-validation that departs from the prior only on strong evidence).

The estimate: a held-out keyframe sits in the middle of a gap twice as long as the real ones,
where tracking has drifted further. How much further, the tracker says itself: its own error
estimate (its confidence inverted) is typically smaller in the real gaps than at the held-out
keyframes, and :func:`tracker_scale` is the ratio of the two medians. Each held-out error is
scaled by it; their mean is the run's *estimated NME*. Without the run's own track (or real
gaps) the scale is :func:`gap_factor`, the same ratio under a random-walk drift from each anchor
blended by inverse variance (≈ 0.555 for equal gaps), which real drift seldom is. The network of
the TSAL methods cannot be part of it (it was trained on ``k``); those methods scale it by what
their fusion did to the held-out error of the few validation keyframes the network never saw
(``trainer.tsal.validation.Check.gain``). How well it reads the true NME: docs/MEASUREMENTS.md,
issue 12 §3.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

import numpy as np

from core.framestats import face_sizes
from core.landmarks import inter_ocular_distance
from core.progress import Progress, ShouldStop
from core.propagation.constraints import sigma_from_confidence
from core.propagation.flow import FlowMethod, flow_track
from core.segments import Range
from core.shape_model import ShapeModel, complete_track
from core.smoothing import DEFAULT_ACCEL, smooth_track

#: Held-out keyframes at most: spread evenly over the candidates.
LIMIT = 40
#: The smoother settings a video may be given (expected velocity change per frame at 30 fps, as
#: a fraction of the face size), a factor of two apart around the fixed default.
ACCEL_GRID = (0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064)
#: With fewer held-out keyframes than this the setting is not chosen (too little evidence).
MIN_HELD_OUT = 3
#: The fixed setting is left only for one that beats it on the held-out keyframes by this many
#: standard errors of the paired differences: no departure from the prior without evidence.
#: (A Bonferroni-corrected 2.69 for the grid's seven alternatives was tried and not kept: it
#: saved lenna's smooth clip 2.7 % and cost breakingbad's with the learned field 78 %;
#: docs/MEASUREMENTS.md, issue 12 §3.)
SIGNIFICANCE = 2.0
#: ... and by at least this fraction of its held-out error. A held-out keyframe sits in a gap
#: twice as long as the real ones, and on smooth motion the setting best there was no guide to
#: the real gaps' (on 6 smooth clips its 2-23 % held-out gains came with true NME changes
#: from -20 % to +38 %, one past the t rule); hand-held shake gave 67-80 % on all six shaky clips
#: (docs/MEASUREMENTS.md, issue 12 §3). Only a departure that large is taken.
MIN_GAIN = 0.3


@dataclass(frozen=True)
class HoldoutEstimate:
    """The mean held-out NME (fraction of the inter-ocular distance) and each keyframe's."""

    nme: float
    errors: dict[int, float]

    @classmethod
    def of(cls, errors: Sequence[float]) -> HoldoutEstimate | None:
        """The estimate of a list of held-out errors (None for none), numbered from 0."""
        if not errors:
            return None
        return cls(float(np.mean(errors)), {i: float(e) for i, e in enumerate(errors)})

    @property
    def count(self) -> int:
        return len(self.errors)

    def as_metrics(self) -> dict[str, float | int]:
        return {"estimated_nme": round(self.nme, 5), "held_out_keyframes": self.count}


@dataclass(frozen=True)
class HeldOutTrack:
    """Keyframe ``keyframe`` tracked from its neighbours ``first`` and ``last`` alone: the
    measurements (frames first..last) and their errors, before smoothing, and its label."""

    first: int
    keyframe: int
    last: int
    points: np.ndarray  # (last - first + 1, 68, 2) float64
    sigma: np.ndarray  # (last - first + 1, 68) pixels
    truth: np.ndarray  # (68, 2)

    def error(self, accel: float | None) -> float:
        """The held-out keyframe's NME after smoothing with ``accel`` (already at the video's
        frame rate), its neighbours pinned; ``None``: the track as tracking left it."""
        span = self.last - self.first
        smoothed = self.points if accel is None else smooth_track(
            self.points, self.sigma, face_sizes(self.points), pinned=[0, span], accel=accel)
        distance = np.linalg.norm(smoothed[self.keyframe - self.first] - self.truth, axis=1)
        return float(distance.mean() / max(inter_ocular_distance(self.truth), 1e-6))

    def own_error(self) -> float:
        """The tracker's own error estimate at the held-out keyframe (inter-ocular distances)."""
        i = self.keyframe - self.first
        return float(self.sigma[i].mean() / max(inter_ocular_distance(self.points[i]), 4.0))


def candidates(keyframes: Sequence[int], segments: Sequence[Range]) -> list[tuple[int, int, int]]:
    """(a, k, b) for every keyframe k with keyframes a < k < b on both sides in its segment."""
    keys = sorted(int(k) for k in keyframes)
    triples = []
    for first, last in segments:
        inside = [k for k in keys if first <= k <= last]
        triples += [(a, k, b) for a, k, b in zip(inside, inside[1:], inside[2:])]
    return triples


def chosen_triples(keyframes: Sequence[int], segments: Sequence[Range], limit: int = LIMIT
                   ) -> list[tuple[int, int, int]]:
    """The (a, k, b) held out: every candidate, or ``limit`` spread evenly over them."""
    triples = candidates(keyframes, segments)
    if len(triples) > limit:
        picks = np.unique(np.linspace(0, len(triples) - 1, limit).round().astype(int))
        triples = [triples[i] for i in picks]
    return triples


def tracked_frames(triples: Sequence[tuple[int, int, int]]) -> int:
    """Frames the held-out tracking decodes: its progress total."""
    return sum(b - a + 1 for a, _, b in triples)


def track_held_out(frame_of: Callable[[int], np.ndarray], keyframes: Mapping[int, np.ndarray],
                   triples: Sequence[tuple[int, int, int]], *,
                   flow: str | FlowMethod = "lk",
                   progress: Progress | None = None, should_stop: ShouldStop | None = None
                   ) -> list[HeldOutTrack]:
    """Each triple's held-out track (fewer when ``should_stop`` turns true), tracked with
    ``flow`` (a :func:`~core.propagation.flow.flow_track` method); ``progress`` counts frames
    against :func:`tracked_frames`."""
    tracks: list[HeldOutTrack] = []
    done, total = 0, tracked_frames(triples)
    for a, k, b in triples:
        if should_stop is not None and should_stop():
            break
        anchors = {0: np.asarray(keyframes[a]), b - a: np.asarray(keyframes[b])}
        track = flow_track(lambda t, a=a: frame_of(a + t), b - a + 1, anchors, method=flow)
        z = track.points.astype(np.float64)
        sigma = sigma_from_confidence(track.confidence.astype(np.float64), z)
        tracks.append(HeldOutTrack(a, k, b, z, sigma, np.asarray(keyframes[k], np.float64)))
        done += b - a + 1
        if progress is not None:
            progress(done, total)
    return tracks


def gap_factor(first: int, keyframe: int, last: int) -> float:
    """What a held-out error is multiplied by to estimate the mean error of the real frames of
    the two gaps it spans (see the module docstring): tracking drift as a random walk from each
    anchor, blended by inverse variance, has a standard deviation proportional to
    sqrt(d1·d2 / (d1 + d2)) at distances d1, d2 from the anchors; the held-out keyframe sits at
    (k − a, b − k), a frame of a gap of g frames on average at π/8 · sqrt(g) (the mean of
    sqrt(t(g − t)/g)); gaps weighted by their frames. Equal gaps give π·√2/8 ≈ 0.555."""
    g1, g2 = keyframe - first, last - keyframe
    held = np.sqrt(g1 * g2 / (g1 + g2))
    real = (g1 * np.sqrt(g1) + g2 * np.sqrt(g2)) / (g1 + g2) * np.pi / 8
    return float(real / held)


def own_error(points: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """Per frame, a tracker's own estimate of its error (its confidence inverted, mean over the
    points) in inter-ocular distances."""
    points = np.asarray(points, np.float64)
    sigma = sigma_from_confidence(np.asarray(confidence, np.float64), points)
    iod = np.maximum(np.asarray(inter_ocular_distance(points), np.float64), 4.0)
    return sigma.mean(axis=1) / np.atleast_1d(iod)


def gap_frames(keyframes: Iterable[int], segments: Sequence[Range]) -> list[int]:
    """The frames between two keyframes of one segment (not before a segment's first keyframe
    or after its last, where tracking runs one way only)."""
    keys = sorted({int(k) for k in keyframes})
    frames: list[int] = []
    for first, last in segments:
        inside = [k for k in keys if first <= k <= last]
        for a, b in pairwise(inside):
            frames += range(a + 1, b)
    return frames


def tracker_scale(tracks: Sequence[HeldOutTrack], points: np.ndarray, confidence: np.ndarray,
                  frames: Sequence[int]) -> float | None:
    """How much smaller than at the held-out keyframes the tracker's own error estimate is in
    the run's real gaps: the median of :func:`own_error` over ``frames`` (rows of the run's
    tracked ``points``/``confidence``, :func:`gap_frames`) over its median at the held-out
    keyframes. Medians: a lost face's capped confidence must not decide it. None without
    either (the estimate then uses :func:`gap_factor`)."""
    if not tracks or not len(frames):
        return None
    rows = np.asarray(frames, np.int64)
    real = float(np.median(own_error(np.asarray(points)[rows], np.asarray(confidence)[rows])))
    held = float(np.median([t.own_error() for t in tracks]))
    return real / held if held > 0 else None


def completed(tracks: Sequence[HeldOutTrack], keyframes: Mapping[int, np.ndarray],
              floor: float) -> list[HeldOutTrack]:
    """Each held-out track with its frames between the anchors made consistent with the shape
    model of the keyframes other than its held-out one (:func:`core.shape_model.complete_track`
    with ``floor``), for a method whose output is completed so (TSAL's final)."""
    out = []
    for track in tracks:
        others = [np.asarray(keyframes[k], np.float64) for k in sorted(keyframes)
                  if k != track.keyframe]
        points, sigma = complete_track(ShapeModel.fit(np.stack(others)), track.points,
                                       track.sigma, skip=(0, track.last - track.first),
                                       floor=floor)
        out.append(replace(track, points=points, sigma=sigma))
    return out


def estimate(tracks: Sequence[HeldOutTrack], accel: float | None, scale: float | None = None
             ) -> HoldoutEstimate | None:
    """The estimate of the run's NME from smoothing the held-out tracks with ``accel`` (at the
    video's frame rate; ``None`` for a method that does not smooth): each held-out error scaled
    by ``scale`` (:func:`tracker_scale`), or by its :func:`gap_factor` without one."""
    if not tracks:
        return None
    errors = {t.keyframe: t.error(accel) * (gap_factor(t.first, t.keyframe, t.last)
                                            if scale is None else scale)
              for t in tracks}
    return HoldoutEstimate(float(np.mean(list(errors.values()))), errors)


@dataclass(frozen=True)
class SmootherChoice:
    """The setting chosen (30-fps units), how (``"held-out"`` or ``"fixed"``: too few held-out
    keyframes), the estimate with it and the mean held-out NME of every setting tried."""

    accel: float
    source: str
    estimate: HoldoutEstimate | None
    tried: dict[float, float]


def choose_accel(tracks: Sequence[HeldOutTrack], fixed: float, fps_scale: float = 1.0,
                 grid: Sequence[float] = ACCEL_GRID, scale: float | None = None
                 ) -> SmootherChoice:
    """Leave-one-keyframe-out choice of the smoother's setting: the one of ``grid`` whose
    smoothed held-out tracks come closest to the held-out labels (``fps_scale`` turns a 30-fps
    setting into the video's), if it beats ``fixed`` by :data:`SIGNIFICANCE` standard errors
    and by :data:`MIN_GAIN` of its error; ``fixed`` otherwise, and with fewer than
    :data:`MIN_HELD_OUT` tracks; the estimates are scaled by ``scale`` (:func:`estimate`)."""
    if len(tracks) < MIN_HELD_OUT:
        return SmootherChoice(fixed, "fixed", estimate(tracks, fixed * fps_scale, scale), {})
    tried = {float(a): estimate(tracks, a * fps_scale, scale) for a in sorted({*grid, fixed})}
    best = min(tried, key=lambda a: tried[a].nme)  # type: ignore[union-attr]
    gain = np.array([tried[fixed].errors[k] - tried[best].errors[k]  # type: ignore[union-attr]
                     for k in tried[fixed].errors])  # type: ignore[union-attr]
    consistent = gain.mean() >= SIGNIFICANCE * gain.std(ddof=1) / np.sqrt(len(gain))
    large = tried[best].nme <= (1 - MIN_GAIN) * tried[fixed].nme  # type: ignore[union-attr]
    if best != fixed and not (consistent and large):
        best = fixed
    return SmootherChoice(best, "held-out", tried[best],
                          {a: round(e.nme, 6) for a, e in tried.items()})  # type: ignore[union-attr]


def holdout_nme(frame_of: Callable[[int], np.ndarray], keyframes: Mapping[int, np.ndarray],
                segments: Sequence[Range], *, limit: int = LIMIT,
                accel: float | None = DEFAULT_ACCEL, progress: Progress | None = None,
                should_stop: ShouldStop | None = None,
                tracked: tuple[Sequence[int], np.ndarray, np.ndarray] | None = None,
                flow: str = "lk") -> HoldoutEstimate | None:
    """The estimate (see the module docstring), or None without a keyframe to hold out;
    ``accel`` None for a method whose output is not smoothed (the flow baselines);
    ``tracked``: the run's frames (video numbering), points and confidence, for
    :func:`tracker_scale`, which must come from the tracker ``flow`` the held-out keyframes
    are tracked with (its confidence is compared with theirs)."""
    triples = chosen_triples(list(keyframes), segments, limit)
    tracks = track_held_out(frame_of, keyframes, triples, flow=flow, progress=progress,
                            should_stop=should_stop)
    scale = None
    if tracked is not None:
        frames, points, confidence = tracked
        row = {int(f): i for i, f in enumerate(frames)}
        rows = [row[f] for f in gap_frames(keyframes, segments) if f in row]
        scale = tracker_scale(tracks, points, confidence, rows)
    return estimate(tracks, accel, scale)
