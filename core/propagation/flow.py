"""Bidirectional optical-flow tracking of the keyframes (Lucas-Kanade, or OpenCV's DIS flow).

Each gap between keyframes is tracked forwards from its first keyframe and backwards from its
last; the two tracks are blended by how far each has come and by its accumulated
forward-backward error, and points whose step fails the forward-backward check are filled from
their neighbours by a similarity fit. Confidence falls with the estimated tracking error. A
gap whose two tracks followed two different faces (a dissolve or a missed cut,
:mod:`core.propagation.transitions`) is split where the shot changes instead of blended; the
result's ``info["transitions"]`` lists those frames.

A tracker made outside core (the trainer's learned motion field, which needs torch) plugs in as
a :class:`FlowMethod`: the blending, filling and confidence stay the same, only the
frame-to-frame step is its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain, pairwise
from typing import Protocol

import cv2
import numpy as np

from core.errors import ValidationError
from core.landmarks import GROUP_RANGES, N_POINTS
from core.progress import Progress, ShouldStop
from core.propagation import transitions
from core.propagation.common import (
    CONF_FRACTION,
    FrameSource,
    Propagation,
    Ticker,
    check_keyframes,
    face_scale,
)

#: A tracking step whose forward-backward error exceeds max(1 px, this x inter-ocular) has failed.
FB_FAIL_FRACTION = 0.03
#: A track's blend weight is multiplied by exp(-accumulated FB error / (this x inter-ocular)).
BLEND_FB_FRACTION = 0.03
LK_MAX_LEVEL = 3
#: A step between frames whose brightness differs by more than this factor (a fade, a jump of
#: the camera's exposure) is tracked on the second frame brought to the first's brightness, at
#: most MAX_GAIN times brighter: the flow assumes a constant brightness.
EXPOSURE_STEP = 1.03
MAX_GAIN = 8.0


class _GrayLoader:
    """Decodes a frame to grayscale once, checking its type and that every frame has one size."""

    def __init__(self, frame: FrameSource, ticker: Ticker):
        self._frame, self._ticker = frame, ticker
        self.size: tuple[int, int] | None = None

    def __call__(self, index: int) -> np.ndarray:
        """Frame ``index`` in grey, counted as a unit of the tracking's progress."""
        image = self.peek(index)
        self._ticker()
        return image

    def peek(self, index: int) -> np.ndarray:
        """Frame ``index`` in grey, checked, not counted (a look beyond the planned work)."""
        image = np.asarray(self._frame(index))
        if image.dtype != np.uint8 or image.shape[2:] not in ((), (3,)):
            raise ValidationError(f"frame {index}: expected a BGR uint8 image, got "
                                  f"{image.dtype} of shape {image.shape}")
        if image.ndim == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        if self.size is None:
            self.size = (image.shape[1], image.shape[0])
        elif (image.shape[1], image.shape[0]) != self.size:
            raise ValidationError(f"frame {index}: size {image.shape[1]}x{image.shape[0]} differs "
                                  f"from the video's {self.size[0]}x{self.size[1]}")
        return np.ascontiguousarray(image)


class Stepper(Protocol):
    """One frame-to-frame step of a point set: ``step(src, dst, pts)`` returns the points moved
    from grey image ``src`` to ``dst`` (N, 2), their forward-backward error (N,) in pixels and
    whether each step succeeded (N,) bool."""

    def step(self, src: np.ndarray, dst: np.ndarray, pts: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class FlowMethod:
    """A tracker supplied from outside core: ``stepper(face_scale)`` makes the stepper of one
    track (each track gets its own; two may run at once, in two threads), ``name`` is the
    method name of the :class:`Propagation` that :func:`flow_track` returns."""

    name: str
    stepper: Callable[[float], Stepper]


def _stepper(method: str | FlowMethod, scale: float) -> Stepper:
    return method.stepper(scale) if isinstance(method, FlowMethod) else _Stepper(method, scale)


class _Stepper:
    """One frame-to-frame step of a point set with its forward-backward consistency error."""

    def __init__(self, method: str, face_scale: float):
        self.method = method
        win = int(np.clip(round(0.18 * face_scale), 9, 41)) | 1
        self._lk = dict(winSize=(win, win), maxLevel=LK_MAX_LEVEL,
                        criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 30, 0.01))
        self._dis, self._margin = None, max(48.0, face_scale)
        if method == "dis":
            self._dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def step(self, src: np.ndarray, dst: np.ndarray, pts: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Points moved from ``src`` to ``dst``, their FB error and whether the step succeeded."""
        p0 = np.ascontiguousarray(pts, dtype=np.float32).reshape(-1, 1, 2)
        dst = matched_exposure(src, dst)
        if self._dis is None:
            p1, st1, _ = cv2.calcOpticalFlowPyrLK(src, dst, p0, None, **self._lk)
            back, st2, _ = cv2.calcOpticalFlowPyrLK(dst, src, p1, None, **self._lk)
            ok = (st1.ravel() == 1) & (st2.ravel() == 1)
            p1, back = p1.reshape(-1, 2), back.reshape(-1, 2)
        else:  # dense flow on a crop around the points: the face plus a margin
            size = np.array(src.shape[1::-1])
            lo = np.floor(pts.min(axis=0) - self._margin).clip(0, size).astype(int)
            hi = np.ceil(pts.max(axis=0) + self._margin + 1).clip(0, size).astype(int)
            if np.any(hi - lo < 32):  # the face left the frame: use all of it
                lo, hi = np.zeros(2, dtype=int), size
            a, b = (np.ascontiguousarray(im[lo[1]:hi[1], lo[0]:hi[0]]) for im in (src, dst))
            flow_f, flow_b = self._dis.calc(a, b, None), self._dis.calc(b, a, None)
            p1 = p0.reshape(-1, 2) + _sample(flow_f, p0.reshape(-1, 2) - lo)
            back = p1 + _sample(flow_b, p1 - lo)
            ok = np.ones(len(p1), dtype=bool)
        h, w = src.shape[:2]
        p1 = p1.astype(np.float64)
        ok &= np.all(np.isfinite(p1), axis=1)
        ok &= (p1[:, 0] >= 0) & (p1[:, 0] <= w - 1) & (p1[:, 1] >= 0) & (p1[:, 1] <= h - 1)
        fb = np.linalg.norm(back.astype(np.float64) - pts, axis=1)
        fb = np.where(np.isfinite(fb), fb, np.inf)
        return p1, fb, ok


def matched_exposure(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """``dst`` as it is, or brought to ``src``'s brightness where the median ratio of the two
    frames' brightness, place by place on 1/8-size copies, is beyond :data:`EXPOSURE_STEP`: a
    fade scales every place alike, while motion moves the ratios both ways and an occluder
    changes only the places it covers, which the median leaves out."""
    small = [cv2.resize(im, (max(1, im.shape[1] // 8), max(1, im.shape[0] // 8)),
                        interpolation=cv2.INTER_AREA).astype(np.float32) + 1.0
             for im in (src, dst)]
    gain = float(np.exp(np.median(np.log(small[1] / small[0]))))
    if abs(np.log(gain)) <= np.log(EXPOSURE_STEP):
        return dst
    return np.clip(dst.astype(np.float32) / max(gain, 1.0 / MAX_GAIN), 0, 255).astype(np.uint8)


def _sample(field: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Bilinear samples of a (H, W, 2) field at (N, 2) points (borders replicated)."""
    map_x = np.ascontiguousarray(pts[:, 0], dtype=np.float32).reshape(1, -1)
    map_y = np.ascontiguousarray(pts[:, 1], dtype=np.float32).reshape(1, -1)
    values = cv2.remap(field, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return values.reshape(-1, 2).astype(np.float64)


def _fit_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares (a, b, tx, ty) of x' = a x - b y + tx, y' = b x + a y + ty."""
    design = np.zeros((2 * len(src), 4))
    design[0::2] = np.column_stack([src[:, 0], -src[:, 1], np.ones(len(src)), np.zeros(len(src))])
    design[1::2] = np.column_stack([src[:, 1], src[:, 0], np.zeros(len(src)), np.ones(len(src))])
    return np.linalg.lstsq(design, dst.reshape(-1), rcond=None)[0]


def _fill_failed(prev: np.ndarray, moved: np.ndarray, ok: np.ndarray,
                 last_motion: np.ndarray) -> np.ndarray:
    """New positions where failed points take their group's median motion, else the face's
    similarity transform fitted to the good points, else their own last motion."""
    if ok.all():
        return moved
    motion = np.where(ok[:, None], moved - prev, 0.0)
    similarity = _fit_similarity(prev[ok], moved[ok]) if ok.sum() >= 3 else None
    for indices in GROUP_RANGES.values():
        group = np.arange(indices.start, indices.stop)
        bad, good = group[~ok[group]], group[ok[group]]
        if bad.size == 0:
            continue
        if good.size >= max(2, len(group) // 3):
            motion[bad] = np.median(motion[good], axis=0)
        elif similarity is not None:
            a, b, tx, ty = similarity
            x, y = prev[bad, 0], prev[bad, 1]
            motion[bad] = np.column_stack([a * x - b * y + tx - x, b * x + a * y + ty - y])
        else:
            motion[bad] = last_motion[bad]
    return prev + motion


def _track(stepper: Stepper, images: Iterable[np.ndarray], start: np.ndarray,
           face_scale: float, ticker: Ticker) -> tuple[np.ndarray, np.ndarray]:
    """Track ``start`` (on the first image) through the others: points (L, 68, 2) and the
    accumulated forward-backward error (L, 68) in pixels, index 0 being the start."""
    fail_at = max(1.0, FB_FAIL_FRACTION * face_scale)
    iterator = iter(images)
    previous_image = next(iterator)
    tracks, errors = [start.astype(np.float64)], [np.zeros(N_POINTS)]
    last_motion = np.zeros((N_POINTS, 2))
    for image in iterator:
        ticker()
        moved, fb, ok = stepper.step(previous_image, image, tracks[-1])
        ok &= fb < fail_at
        new = _fill_failed(tracks[-1], moved, ok, last_motion)
        # A failed step costs at least twice the failure threshold: its fallback motion is a guess.
        step_error = np.where(ok, fb, np.maximum(2.0 * fail_at, np.minimum(fb, 0.2 * face_scale)))
        last_motion = new - tracks[-1]
        tracks.append(new)
        errors.append(errors[-1] + step_error)
        previous_image = image
    return np.stack(tracks), np.stack(errors)


def _confidence(error: np.ndarray, face_scale: float) -> np.ndarray:
    return np.exp(-error / (CONF_FRACTION * face_scale)).astype(np.float32)


def _blend(a: int, b: int, forward: tuple[np.ndarray, np.ndarray],
           backward: tuple[np.ndarray, np.ndarray], face_scale: float
           ) -> tuple[np.ndarray, np.ndarray]:
    """Points and confidence for frames a+1..b-1 from the forward track (from a) and the backward
    track (from b). Weight of a track = linear-in-time weight x exp(-accumulated FB / (0.03 iod)),
    normalised. Error = wf * FB_f + wb * FB_b + 2 wf wb |forward - backward| (the last term is the
    blend's expected error if one track is right with probability its weight); confidence =
    exp(-error / (0.08 iod))."""
    ts = np.arange(a + 1, b)
    pf, ef = forward[0][ts - a], forward[1][ts - a]
    pb, eb = backward[0][b - ts], backward[1][b - ts]
    tau = BLEND_FB_FRACTION * face_scale
    log_f = np.log((b - ts) / (b - a))[:, None] - ef / tau
    log_b = np.log((ts - a) / (b - a))[:, None] - eb / tau
    top = np.maximum(log_f, log_b)
    wf, wb = np.exp(log_f - top), np.exp(log_b - top)
    wf, wb = wf / (wf + wb), wb / (wf + wb)
    points = wf[..., None] * pf + wb[..., None] * pb
    disagreement = np.linalg.norm(pf - pb, axis=-1)
    error = wf * ef + wb * eb + 2.0 * wf * wb * disagreement
    return points.astype(np.float32), _confidence(error, face_scale)


def flow_track(frame: FrameSource, n_frames: int, keyframes: Mapping[int, np.ndarray],
               progress: Progress | None = None, should_stop: ShouldStop | None = None, *,
               method: str | FlowMethod = "lk") -> Propagation:
    """Bidirectional optical-flow tracking between consecutive keyframes.

    Between keyframes a and b the points are tracked forward from a and backward from b, frame to
    frame, with pyramidal Lucas-Kanade (``method="lk"``) or DIS dense flow sampled bilinearly
    (``method="dis"``) or a :class:`FlowMethod`'s steps, and the two tracks are blended (see
    ``_blend``). Before the first and after the last keyframe the tracking is one-directional.
    Each frame is decoded once; only the grayscale frames of the current segment [a, b] are held.
    """
    keys = check_keyframes(n_frames, keyframes)
    if not isinstance(method, FlowMethod) and method not in ("lk", "dis"):
        raise ValidationError(f"unknown optical-flow method {method!r}: use 'lk' or 'dis'")
    n = int(n_frames)
    idx = list(keys)
    first, last = idx[0], idx[-1]
    steps = first + (n - 1 - last) + sum(2 * max(b - a - 1, 0) for a, b in pairwise(idx))
    ticker = Ticker(n + steps, progress, should_stop)
    load = _GrayLoader(frame, ticker)
    points = np.empty((n, N_POINTS, 2), dtype=np.float32)
    confidence = np.ones((n, N_POINTS), dtype=np.float32)
    cache: dict[int, np.ndarray] = {}
    found: list[int] = []  # the first frame of each shot transition found inside a gap

    if first > 0:  # before the first keyframe: track backwards from it
        cache = {i: load(i) for i in range(first + 1)}
        scale = face_scale(keys[first])
        track, error = _track(_stepper(method, scale), (cache[i] for i in range(first, -1, -1)),
                              keys[first], scale, ticker)
        points[:first] = track[1:][::-1]
        confidence[:first] = _confidence(error[1:][::-1], scale)
    for a, b in pairwise(idx):
        cache = {a: cache[a] if a in cache else load(a)}
        cache.update({i: load(i) for i in range(a + 1, b + 1)})
        if b - a < 2:
            continue
        scale = face_scale(keys[a], keys[b])
        # the two directions are independent and OpenCV releases the GIL: run them together
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(_track, _stepper(method, scale),
                                  (cache[i] for i in range(a, b)), keys[a], scale, ticker)
            backward = _track(_stepper(method, scale), (cache[i] for i in range(b, a, -1)),
                              keys[b], scale, ticker)
            forward = pending.result()
        if transitions.is_transition(forward[0][-1], backward[0][-1], keys[a], keys[b]):
            # two tracks of two faces: split at the change of shot instead of blending them
            split = transitions.split_frame(a, b, cache.__getitem__,
                                            load.peek(min(n - 1, 2 * b - a)))
            if transitions.sound(a, b, split, forward, backward, scale):
                found.append(split)
                track, error = transitions.one_sided(a, b, split, forward, backward)
                points[a + 1:b], confidence[a + 1:b] = track, _confidence(error, scale)
                continue
        points[a + 1:b], confidence[a + 1:b] = _blend(a, b, forward, backward, scale)
    if last < n - 1:  # after the last keyframe: stream forwards, holding two frames at a time
        start_image, cache = (cache[last] if last in cache else load(last)), {}
        scale = face_scale(keys[last])
        stream = chain([start_image], (load(i) for i in range(last + 1, n)))
        track, error = _track(_stepper(method, scale), stream, keys[last], scale, ticker)
        points[last + 1:] = track[1:]
        confidence[last + 1:] = _confidence(error[1:], scale)
    for k, pts in keys.items():
        points[k], confidence[k] = pts, 1.0
    ticker.finish()
    info = {"transitions": found} if found else {}
    name = method.name if isinstance(method, FlowMethod) else (
        "flow" if method == "lk" else "flow_dis")
    return Propagation(points, confidence, name, info=info)
