"""Shot cuts found in a video's index (issue 12 §2), with no second decode.

The index keeps, per frame, the grey means of an 8 × 8 grid of blocks (``core.video.index``).
A cut at frame ``c`` means frames ``c − 1`` and ``c`` belong to different shots; propagation
treats it like a no-face boundary.

- *Abrupt cuts*: the change from frame t − 1 to t (mean absolute difference of the block means,
  grey levels) stands out from the changes around it: above ``RATIO`` × the local median change
  plus ``MARGIN`` and above ``FLOOR``. A single bright frame (a flash) is not a cut: frame t + 1
  must differ from t − 1 as much as t does.
  A cut is also a spike: its change is at least ``SPIKE`` × the larger of its neighbours'
  changes, which a pan or fast motion (a stretch of large changes) is not.

Thresholds are relative to the video's own changes over ``LOCAL`` frames either side. Gradual
transitions (dissolves, fades) are not found: on these grey block means a dissolve between two
shots changes the picture no faster than hard motion does (docs/MEASUREMENTS.md, issue 12);
tracking finds them where the keyframes of a gap show two faces
(:mod:`core.propagation.transitions`), and a person adds such a cut by hand.
"""

from __future__ import annotations

import warnings

import numpy as np

#: Frames either side whose median change is the local background.
LOCAL = 30
#: An abrupt cut's change is at least this × the local median plus MARGIN ...
RATIO = 4.0
MARGIN = 4.0
#: ... and at least this many grey levels.
FLOOR = 12.0
#: ... and at least this × the larger change of the frames before and after it.
SPIKE = 3.0


def frame_changes(fingerprints: np.ndarray, lag: int = 1) -> np.ndarray:
    """``(N,)``: the mean absolute difference between frame t and frame t − lag (0 for the
    first ``lag`` frames)."""
    fp = np.asarray(fingerprints, dtype=np.float64)
    out = np.zeros(len(fp))
    if len(fp) > lag:
        out[lag:] = np.abs(fp[lag:] - fp[:-lag]).mean(axis=1)
    return out


def _local_median(values: np.ndarray, radius: int = LOCAL) -> np.ndarray:
    """Median of ``values`` over ±``radius`` frames, the frame itself left out (fewer at the
    ends; 0 where there is no other frame)."""
    n = len(values)
    padded = np.full(n + 2 * radius, np.nan)
    padded[radius:radius + n] = values
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * radius + 1).copy()
    windows[:, radius] = np.nan  # the frame itself
    with warnings.catch_warnings():  # a window of NaN only: a one-frame video
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nan_to_num(np.nanmedian(windows, axis=1), nan=0.0)


def _distance(fp: np.ndarray, a: int, b: int) -> float:
    return float(np.abs(fp[a] - fp[b]).mean())


def abrupt_cuts(fingerprints: np.ndarray) -> list[int]:
    """The frames whose change from the frame before is a cut (see the module docstring)."""
    fp = np.asarray(fingerprints, dtype=np.float64)
    change = frame_changes(fp)
    background = _local_median(change)
    cuts = []
    for t in range(1, len(fp)):
        if change[t] < max(FLOOR, RATIO * background[t] + MARGIN):
            continue
        neighbours = max(change[t - 1] if t > 1 else 0.0,
                         change[t + 1] if t + 1 < len(fp) else 0.0)
        if change[t] < SPIKE * neighbours:
            continue  # a stretch of large changes: a pan or fast motion
        if t + 1 < len(fp) and _distance(fp, t - 1, t + 1) < 0.5 * change[t]:
            continue  # t alone differs: a flash, not a new shot
        cuts.append(t)
    return cuts


def detect_cuts(fingerprints: np.ndarray) -> list[int]:
    """The frames that start a new shot, sorted (never frame 0)."""
    return abrupt_cuts(fingerprints)
