"""Shot transitions found while tracking a gap (issue 12 §2): dissolves, fades and missed cuts.

The index finds abrupt cuts from its fingerprints (:mod:`core.cuts`), but a dissolve changes
the picture no faster than hard motion does there, so it is not found before propagation. The
keyframes at the two ends of a gap know more: when the track from the first keyframe ends far
from the last keyframe's face *and* the track from the last one ends far from the first's, the
two tracks followed two different faces, so the gap holds a transition between shots (or
tracking failed in both directions, which the blend could not mend either). Blending two such
tracks gives confident landmarks halfway between two faces. Instead the gap is split where the
picture is half the next shot (a dissolve's middle, measured against a frame past the gap, as
the last keyframe may itself sit inside the dissolve): before it the forward track alone, from
it the backward track alone, as at a cut.

A camera pan or fast motion that tracking follows ends near both keyframes and is not a
transition; one that tracking loses leaves the kept parts of the tracks unsound (their
accumulated forward-backward error), and the gap is blended as before. Measured on synthetic
dissolves, hard cuts, pans and fast motion: docs/MEASUREMENTS.md, issue 12 §2.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from core.landmarks import inter_ocular_distance

#: Both tracks end at least this far (mean point distance ÷ the keyframe's inter-ocular distance)
#: from the other keyframe's face: a tracking error this large is no drift any more.
TRANSITION_DISTANCE = 0.75
#: ... and the parts of the two tracks that would be kept (each up to the split) are sound: the
#: median point's accumulated forward-backward error at most this × the face scale (per
#: SOUND_SPAN frames, for longer tracks). Where they are not, tracking failed rather than the
#: shot changed, and the usual blend stays.
SOUND_TRACK = 0.05
#: ... per this many frames tracked (a longer track may have gathered proportionally more).
SOUND_SPAN = 10
#: Frames are compared at this width (pixels) to find where the picture changes sides.
THUMB_WIDTH = 64


def end_distance(track_end: np.ndarray, keyframe: np.ndarray) -> float:
    """Mean distance of a track's last points from a keyframe's, in its inter-ocular units."""
    iod = max(float(inter_ocular_distance(np.asarray(keyframe, np.float64))), 1e-6)
    return float(np.linalg.norm(np.asarray(track_end, np.float64) - keyframe, axis=-1).mean()
                 / iod)


def is_transition(forward_end: np.ndarray, backward_end: np.ndarray, first_key: np.ndarray,
                  last_key: np.ndarray) -> bool:
    """Whether the forward track (from ``first_key``) ends far from ``last_key`` and the
    backward track ends far from ``first_key`` (see the module docstring)."""
    return (end_distance(forward_end, last_key) > TRANSITION_DISTANCE
            and end_distance(backward_end, first_key) > TRANSITION_DISTANCE)


def _thumb(image: np.ndarray) -> np.ndarray:
    height = max(1, round(image.shape[0] * THUMB_WIDTH / image.shape[1]))
    return cv2.resize(image, (THUMB_WIDTH, height), interpolation=cv2.INTER_AREA
                      ).astype(np.float32)


def split_frame(a: int, b: int, image: Callable[[int], np.ndarray],
                after: np.ndarray | None = None) -> int:
    """The first frame of ``a+1..b`` that is at least half the next shot: its grey picture's
    share of the change from frame ``a``'s to ``after``'s (a frame past ``b``, clear of a
    dissolve that ``b`` may sit in the middle of; default frame ``b``), by least squares on
    small thumbnails."""
    first = _thumb(image(a))
    change = (_thumb(after) if after is not None else _thumb(image(b))) - first
    scale = float((change * change).sum())
    if scale <= 0:
        return b
    for t in range(a + 1, b):
        if float(((_thumb(image(t)) - first) * change).sum()) / scale >= 0.5:
            return t
    return b


def one_sided(a: int, b: int, split: int, forward: Sequence[np.ndarray],
              backward: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(b-a-1, 68, 2)`` and accumulated errors ``(b-a-1, 68)`` for frames a+1..b-1:
    the forward track's (frames a..b-1) before ``split``, the backward track's (frames
    b..a+1) from it."""
    ts = np.arange(a + 1, b)
    before = (ts < split)[:, None]
    points = np.where(before[..., None], forward[0][ts - a], backward[0][b - ts])
    errors = np.where(before, forward[1][ts - a], backward[1][b - ts])
    return points, errors


def sound(a: int, b: int, split: int, forward: Sequence[np.ndarray],
          backward: Sequence[np.ndarray], face_scale: float) -> bool:
    """Whether the forward track up to ``split - 1`` and the backward track down to ``split``
    (each ``(points, accumulated errors)``) are sound (:data:`SOUND_TRACK` per
    :data:`SOUND_SPAN` frames tracked, at least that many counted)."""
    steps_forward = max(0, min(split - 1 - a, len(forward[1]) - 1))
    steps_backward = max(0, min(b - split, len(backward[1]) - 1))
    rates = [float(np.median(errors[steps])) / max(steps, SOUND_SPAN)
             for errors, steps in ((forward[1], steps_forward), (backward[1], steps_backward))]
    return max(rates) * SOUND_SPAN <= SOUND_TRACK * face_scale
