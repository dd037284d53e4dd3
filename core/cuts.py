"""Shot cuts found in a video's index (issue 12 §2), with no second decode.

The index keeps, per frame, the grey means of an 8 × 8 grid of blocks (``core.video.index``).
A cut at frame ``c`` means frames ``c − 1`` and ``c`` belong to different shots; propagation
treats it like a no-face boundary.

- *Abrupt cuts*: the change from frame t − 1 to t (mean absolute difference of the block means,
  grey levels) stands out from the changes around it: above ``RATIO`` × the local median change
  plus ``MARGIN`` and above ``FLOOR``. A single bright frame (a flash) is not a cut: frame t + 1
  must differ from t − 1 as much as t does.
  A cut is also a spike: its change is at least ``SPIKE`` × the larger of its neighbours'
  changes, which a pan or fast motion (a stretch of large changes) is not. And the picture
  itself changes: the same picture brighter or darker (``EXPOSURE_ONLY``) is the exposure.

- *Fades* through black (or any flat picture): a run of frames whose contrast (the spread of
  the block means) falls below ``FLAT`` × its local median, or below ``FLAT_LEVELS`` grey
  levels and ``FLAT`` × the video's median, with ordinary frames on both sides whose pictures
  differ (normalised block means ``SAME_PICTURE`` apart or more: the same picture on both
  sides is a dip within one shot). The cut is the run's middle frame.

Thresholds are relative to the video's own changes over ``LOCAL`` frames either side.
Dissolves are not found here: on these grey block means a dissolve between two shots changes
the picture no faster than hard motion does (docs/MEASUREMENTS.md, issue 12); tracking finds
them where the keyframes of a gap show two faces (:mod:`core.propagation.transitions`), and a
person adds such a cut by hand.
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
#: A frame is flat when its contrast is at most this × the local median contrast ...
FLAT = 0.25
#: ... or at most this many grey levels and FLAT × the video's median contrast (a long black
#: stretch lowers the local median; a dim video is not all flat).
FLAT_LEVELS = 2.0
#: The sharpest frame this far either side of a flat run stands for the shot it leaves or enters.
FADE_REACH = 15
#: Pictures at most this far apart (mean absolute difference of z-scored block means) are one.
SAME_PICTURE = 0.3
#: An abrupt change between pictures this close is the exposure's (a jump of the camera's gain,
#: a light switched on), not a cut: 0.004 on such a jump made from the real test video, where
#: its jump cuts 45 frames apart measure 0.07-0.43.
EXPOSURE_ONLY = 0.03


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
        if _picture_change(fp, t - 1, t) < EXPOSURE_ONLY:
            continue  # the same picture, brighter or darker: the exposure, not a new shot
        cuts.append(t)
    return cuts


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) of every run of True in ``mask``."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def _normalised(fp: np.ndarray, frame: int) -> np.ndarray:
    centred = fp[frame] - fp[frame].mean()
    return centred / max(float(centred.std()), 1e-6)


def _picture_change(fp: np.ndarray, a: int, b: int) -> float:
    """How much the picture changed from frame ``a`` to ``b`` whatever their brightness: the
    mean absolute difference of their z-scored block means."""
    return float(np.abs(_normalised(fp, b) - _normalised(fp, a)).mean())


def fade_cuts(fingerprints: np.ndarray) -> list[int]:
    """The middle frames of the fades through a flat picture (see the module docstring)."""
    fp = np.asarray(fingerprints, dtype=np.float64)
    if len(fp) < 3:
        return []
    contrast = fp.std(axis=1)
    flat = ((contrast <= FLAT * _local_median(contrast))
            | ((contrast <= FLAT_LEVELS) & (contrast <= FLAT * np.median(contrast))))
    cuts = []
    for first, last in _runs(flat):
        if first == 0 or last == len(fp) - 1:
            continue  # the video starts or ends in it: a fade in or out, not between shots
        before = max(range(max(0, first - FADE_REACH), first), key=contrast.__getitem__)
        after = max(range(last + 1, min(len(fp), last + 1 + FADE_REACH)),
                    key=contrast.__getitem__)
        if _picture_change(fp, before, after) >= SAME_PICTURE:
            cuts.append((first + last + 1) // 2)
    return cuts


def detect_cuts(fingerprints: np.ndarray) -> list[int]:
    """The frames that start a new shot, sorted (never frame 0): abrupt cuts, and fades not
    already marked by an abrupt cut within their reach."""
    abrupt = abrupt_cuts(fingerprints)
    fades = [f for f in fade_cuts(fingerprints)
             if not any(abs(f - c) <= FADE_REACH for c in abrupt)]
    return sorted([*abrupt, *fades])
