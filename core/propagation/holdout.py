"""Held-out keyframes: an honest estimate of a run's accuracy without ground truth (issue 12 §3).

Each interior keyframe ``k`` of a face segment is predicted from its two neighbouring keyframes
``a < k < b`` alone, as the propagation would predict a frame between them: bidirectional
optical-flow tracking from ``a`` and ``b`` (``core.propagation.flow``), then the constrained
smoother with ``a`` and ``b`` pinned. Its error against the person's label, in inter-ocular
distances, is one held-out measurement; their mean is the run's *estimated NME*. No training is
involved, so it costs about one more flow propagation over the frames it visits (at most
``limit`` keyframes, spread over the video).

What it estimates: the error of a frame in the middle of a gap twice as long as the real ones
(a neighbour is left out), so it is pessimistic: on the hard synthetic clips it read 1.1-2.1 ×
the true NME of a flow run (docs/MEASUREMENTS.md, issue 12). The network of the TSAL methods is
not part of it (it was trained on ``k``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from core.framestats import face_sizes
from core.landmarks import inter_ocular_distance
from core.progress import Progress, ShouldStop
from core.propagation.constraints import sigma_from_confidence
from core.propagation.flow import flow_track
from core.segments import Range
from core.smoothing import DEFAULT_ACCEL, smooth_track

#: Held-out keyframes at most: spread evenly over the candidates.
LIMIT = 40


@dataclass(frozen=True)
class HoldoutEstimate:
    """The mean held-out NME (fraction of the inter-ocular distance) and each keyframe's."""

    nme: float
    errors: dict[int, float]

    @property
    def count(self) -> int:
        return len(self.errors)

    def as_metrics(self) -> dict[str, float | int]:
        return {"estimated_nme": round(self.nme, 5), "held_out_keyframes": self.count}


def candidates(keyframes: Sequence[int], segments: Sequence[Range]) -> list[tuple[int, int, int]]:
    """(a, k, b) for every keyframe k with keyframes a < k < b on both sides in its segment."""
    keys = sorted(int(k) for k in keyframes)
    triples = []
    for first, last in segments:
        inside = [k for k in keys if first <= k <= last]
        triples += [(a, k, b) for a, k, b in zip(inside, inside[1:], inside[2:])]
    return triples


def holdout_nme(frame_of: Callable[[int], np.ndarray], keyframes: Mapping[int, np.ndarray],
                segments: Sequence[Range], *, limit: int = LIMIT, accel: float = DEFAULT_ACCEL,
                progress: Progress | None = None, should_stop: ShouldStop | None = None
                ) -> HoldoutEstimate | None:
    """The estimate (see the module docstring), or None without a keyframe to hold out."""
    triples = candidates(list(keyframes), segments)
    if not triples:
        return None
    if len(triples) > limit:
        picks = np.unique(np.linspace(0, len(triples) - 1, limit).round().astype(int))
        triples = [triples[i] for i in picks]
    errors: dict[int, float] = {}
    for done, (a, k, b) in enumerate(triples):
        if should_stop is not None and should_stop():
            break
        anchors = {0: np.asarray(keyframes[a]), b - a: np.asarray(keyframes[b])}
        track = flow_track(lambda t, a=a: frame_of(a + t), b - a + 1, anchors)
        z = track.points.astype(np.float64)
        sigma = sigma_from_confidence(track.confidence.astype(np.float64), z)
        smoothed = smooth_track(z, sigma, face_sizes(z), pinned=[0, b - a], accel=accel)
        truth = np.asarray(keyframes[k], dtype=np.float64)
        distance = np.linalg.norm(smoothed[k - a] - truth, axis=1).mean()
        errors[k] = float(distance / max(inter_ocular_distance(truth), 1e-6))
        if progress is not None:
            progress(done + 1, len(triples))
    if not errors:
        return None
    return HoldoutEstimate(float(np.mean(list(errors.values()))), errors)
