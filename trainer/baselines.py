"""Baseline propagators: keyframe labels carried to every frame without a trained model.

Linear interpolation (what CVAT does), bidirectional optical-flow tracking (Lucas-Kanade or DIS)
and, when installed, dlib's 68-point detector. They are the benchmark's reference methods and the
fallback when no network exists. Every propagator returns a :class:`Propagation`: points
``(T, 68, 2)`` float32 in 0-based full-frame pixels with the keyframes copied exactly, a per-point
confidence ``(T, 68)`` in [0, 1] that is 1 at keyframes, and the method's name (a key of METHODS).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache, partial
from itertools import chain, pairwise
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from core.errors import CancelledError, FacePropError, ValidationError
from core.landmarks import GROUP_RANGES, N_POINTS, bounding_box, inter_ocular_distance

logger = logging.getLogger(__name__)

FrameSource = Callable[[int], np.ndarray]  # frame(i) -> BGR uint8 (H, W, 3)
ProgressFn = Callable[[int, int], None]
StopFn = Callable[[], bool]

#: Interpolation confidence halves every this many frames away from the nearest keyframe.
INTERP_HALF_LIFE = 10.0
#: A tracking step whose forward-backward error exceeds max(1 px, this x inter-ocular) has failed.
FB_FAIL_FRACTION = 0.03
#: A track's blend weight is multiplied by exp(-accumulated FB error / (this x inter-ocular)).
BLEND_FB_FRACTION = 0.03
#: Tracking confidence is exp(-error / (this x inter-ocular)): 0.37 at the bench's failure level.
CONF_FRACTION = 0.08
LK_MAX_LEVEL = 3
DLIB_INSTALL_HINT = ("Install it with: pip install dlib-bin face-recognition-models (or set "
                     "FACEPROP_DLIB_MODEL to a shape_predictor_68_face_landmarks.dat file).")
_DLIB_SYSTEM_MODEL = Path("/usr/share/dlib/shape_predictor_68_face_landmarks.dat")


@dataclass(frozen=True)
class Propagation:
    """Points for every frame of a video, their per-point confidence and the method's name."""

    points: np.ndarray  # (T, 68, 2) float32, 0-based full-frame pixels
    confidence: np.ndarray  # (T, 68) float32 in [0, 1]; 1 at keyframes
    method: str
    #: Extra per-frame statistics for the run (``detection_tracking``, ``teacher_student``,
    #: ``forward_backward``: disagreements in % of the face size), when the method has them.
    stats: Mapping[str, np.ndarray] = field(default_factory=dict)
    #: What the job should record: ``device``, ``stopped`` (ended early by a stop request, the
    #: result is usable), ``checkpoint``, ``warm_start``, ``timings``, ...
    info: Mapping[str, Any] = field(default_factory=dict)


class _Ticker:
    """Counts work units, reports progress and raises CancelledError when asked to stop."""

    def __init__(self, total: int, progress: ProgressFn | None, should_stop: StopFn | None):
        self.total, self.done = max(int(total), 1), 0
        self._progress, self._should_stop = progress, should_stop

    def __call__(self, units: int = 1) -> None:
        if self._should_stop is not None and self._should_stop():
            raise CancelledError("propagation cancelled")
        self.done += units
        if self._progress is not None:
            self._progress(min(self.done, self.total), self.total)

    def finish(self) -> None:
        """Report ``total/total`` unless the last report already did."""
        if self.done < self.total:
            self.done = self.total
            if self._progress is not None:
                self._progress(self.total, self.total)


def _check_keyframes(n_frames: int, keyframes: Mapping[int, np.ndarray] | None
                     ) -> dict[int, np.ndarray]:
    """Keyframes as a sorted {frame: float32 (68, 2)} dict; ValidationError names the bad frame."""
    if int(n_frames) < 1:
        raise ValidationError(f"n_frames must be at least 1, got {n_frames}")
    if not keyframes:
        raise ValidationError("no keyframes: label at least one frame before propagating")
    checked: dict[int, np.ndarray] = {}
    for key, value in keyframes.items():
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
            raise ValidationError(f"keyframe index {key!r} is not an integer frame number")
        k = int(key)
        if not 0 <= k < n_frames:
            raise ValidationError(f"keyframe at frame {k} is outside 0..{n_frames - 1} "
                                  f"(the video has {n_frames} frames)")
        try:
            pts = np.array(value, dtype=np.float32)
        except (TypeError, ValueError):
            raise ValidationError(f"keyframe at frame {k}: points are not numbers") from None
        if pts.shape != (N_POINTS, 2):
            raise ValidationError(f"keyframe at frame {k}: expected points of shape "
                                  f"({N_POINTS}, 2), got {pts.shape}")
        if not np.all(np.isfinite(pts)):
            raise ValidationError(f"keyframe at frame {k}: points contain NaN or infinity")
        checked[k] = pts
    return dict(sorted(checked.items()))


def _face_scale(*shapes: np.ndarray) -> float:
    """Mean inter-ocular distance of the shapes, at least 4 px (guards degenerate labels)."""
    return max(float(np.mean([inter_ocular_distance(s) for s in shapes])), 4.0)


def interpolate(n_frames: int, keyframes: Mapping[int, np.ndarray],
                progress: ProgressFn | None = None, should_stop: StopFn | None = None
                ) -> Propagation:
    """Linear interpolation between the surrounding keyframes; the nearest one is held outside.

    Confidence is ``0.5 ** (d / INTERP_HALF_LIFE)`` with ``d`` the distance in frames to the
    nearest keyframe: 1 at keyframes, 0.5 ten frames away, the same for every point.
    """
    keys = _check_keyframes(n_frames, keyframes)
    ticker = _Ticker(1, progress, should_stop)
    idx = np.array(list(keys), dtype=np.int64)
    shapes = np.stack(list(keys.values())).astype(np.float64)
    t = np.arange(int(n_frames))
    lo = np.clip(np.searchsorted(idx, t, side="right") - 1, 0, len(idx) - 1)
    hi = np.clip(np.searchsorted(idx, t, side="left"), 0, len(idx) - 1)
    span = idx[hi] - idx[lo]
    alpha = np.where(span > 0, (t - idx[lo]) / np.maximum(span, 1), 0.0)[:, None, None]
    points = ((1.0 - alpha) * shapes[lo] + alpha * shapes[hi]).astype(np.float32)
    distance = np.minimum(np.abs(t - idx[lo]), np.abs(idx[hi] - t)).astype(np.float64)
    confidence = np.repeat((0.5 ** (distance / INTERP_HALF_LIFE))[:, None], N_POINTS, axis=1)
    for k, pts in keys.items():
        points[k] = pts
    ticker()
    return Propagation(points, confidence.astype(np.float32), "interpolation")


class _GrayLoader:
    """Decodes a frame to grayscale once, checking its type and that every frame has one size."""

    def __init__(self, frame: FrameSource, ticker: _Ticker):
        self._frame, self._ticker = frame, ticker
        self.size: tuple[int, int] | None = None

    def __call__(self, index: int) -> np.ndarray:
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
        self._ticker()
        return np.ascontiguousarray(image)


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


def _track(stepper: _Stepper, images: Iterable[np.ndarray], start: np.ndarray,
           face_scale: float, ticker: _Ticker) -> tuple[np.ndarray, np.ndarray]:
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
               progress: ProgressFn | None = None, should_stop: StopFn | None = None, *,
               method: str = "lk") -> Propagation:
    """Bidirectional optical-flow tracking between consecutive keyframes.

    Between keyframes a and b the points are tracked forward from a and backward from b, frame to
    frame, with pyramidal Lucas-Kanade (``method="lk"``) or DIS dense flow sampled bilinearly
    (``method="dis"``), and the two tracks are blended (see ``_blend``). Before the first and
    after the last keyframe the tracking is one-directional. Each frame is decoded once; only the
    grayscale frames of the current segment [a, b] are held.
    """
    keys = _check_keyframes(n_frames, keyframes)
    if method not in ("lk", "dis"):
        raise ValidationError(f"unknown optical-flow method {method!r}: use 'lk' or 'dis'")
    n = int(n_frames)
    idx = list(keys)
    first, last = idx[0], idx[-1]
    steps = first + (n - 1 - last) + sum(2 * max(b - a - 1, 0) for a, b in pairwise(idx))
    ticker = _Ticker(n + steps, progress, should_stop)
    load = _GrayLoader(frame, ticker)
    points = np.empty((n, N_POINTS, 2), dtype=np.float32)
    confidence = np.ones((n, N_POINTS), dtype=np.float32)
    cache: dict[int, np.ndarray] = {}

    if first > 0:  # before the first keyframe: track backwards from it
        cache = {i: load(i) for i in range(first + 1)}
        scale = _face_scale(keys[first])
        track, error = _track(_Stepper(method, scale), (cache[i] for i in range(first, -1, -1)),
                              keys[first], scale, ticker)
        points[:first] = track[1:][::-1]
        confidence[:first] = _confidence(error[1:][::-1], scale)
    for a, b in pairwise(idx):
        cache = {a: cache[a] if a in cache else load(a)}
        cache.update({i: load(i) for i in range(a + 1, b + 1)})
        if b - a < 2:
            continue
        scale = _face_scale(keys[a], keys[b])
        stepper = _Stepper(method, scale)
        forward = _track(stepper, (cache[i] for i in range(a, b)), keys[a], scale, ticker)
        backward = _track(stepper, (cache[i] for i in range(b, a, -1)), keys[b], scale, ticker)
        points[a + 1:b], confidence[a + 1:b] = _blend(a, b, forward, backward, scale)
    if last < n - 1:  # after the last keyframe: stream forwards, holding two frames at a time
        start_image, cache = (cache[last] if last in cache else load(last)), {}
        scale = _face_scale(keys[last])
        stream = chain([start_image], (load(i) for i in range(last + 1, n)))
        track, error = _track(_Stepper(method, scale), stream, keys[last], scale, ticker)
        points[last + 1:] = track[1:]
        confidence[last + 1:] = _confidence(error[1:], scale)
    for k, pts in keys.items():
        points[k], confidence[k] = pts, 1.0
    ticker.finish()
    return Propagation(points, confidence, "flow" if method == "lk" else "flow_dis")


def _dlib_model_candidates() -> list[Path]:
    candidates: list[Path] = []
    if os.environ.get("FACEPROP_DLIB_MODEL"):
        candidates.append(Path(os.environ["FACEPROP_DLIB_MODEL"]))
    try:
        import face_recognition_models

        candidates.append(Path(face_recognition_models.pose_predictor_model_location()))
    except Exception:  # absent, or it needs pkg_resources, which new setuptools dropped
        spec = importlib.util.find_spec("face_recognition_models")
        for location in (spec.submodule_search_locations or []) if spec else []:
            candidates.append(Path(location) / "models" / "shape_predictor_68_face_landmarks.dat")
    candidates.append(_DLIB_SYSTEM_MODEL)
    return candidates


def _dlib_model_path() -> Path | None:
    return next((path for path in _dlib_model_candidates() if path.is_file()), None)


def dlib_available() -> tuple[bool, str]:
    """Whether dlib and its 68-point model can be used, and if not why and how to install."""
    if importlib.util.find_spec("dlib") is None:
        return False, f"dlib is not installed. {DLIB_INSTALL_HINT}"
    try:
        import dlib  # noqa: F401
    except ImportError as exc:
        return False, f"dlib failed to import ({exc}). {DLIB_INSTALL_HINT}"
    if _dlib_model_path() is None:
        looked = ", ".join(str(p) for p in _dlib_model_candidates())
        return False, f"dlib's 68-point model was not found (looked in: {looked}). " \
                      f"{DLIB_INSTALL_HINT}"
    return True, ""


@lru_cache(maxsize=2)
def _dlib_models(model_path: str) -> tuple[object, object]:
    import dlib

    logger.info("loading dlib shape predictor %s", model_path)
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(model_path)


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes."""
    inter = (max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
             * max(0.0, min(a[3], b[3]) - max(a[1], b[1])))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def dlib_detect(frame: FrameSource, n_frames: int,
                keyframes: Mapping[int, np.ndarray] | None = None,
                progress: ProgressFn | None = None, should_stop: StopFn | None = None
                ) -> Propagation:
    """dlib's HOG face detector + 68-point shape predictor on every non-keyframe.

    With keyframes, the face whose box best overlaps (IoU > 0.1) the interpolated keyframe box is
    taken; frames without one get the interpolated points with confidence 0. Without keyframes the
    highest-scoring face is taken and frames without a face copy the nearest detection with
    confidence 0. A detection's confidence is ``1 / (1 + exp(-2 * score))`` (dlib's HOG score).
    """
    available, reason = dlib_available()
    if not available:
        raise FacePropError(reason)
    n = int(n_frames)
    if n < 1:
        raise ValidationError(f"n_frames must be at least 1, got {n_frames}")
    keys = _check_keyframes(n, keyframes) if keyframes else {}
    guide = interpolate(n, keys).points if keys else None
    detector, predictor = _dlib_models(str(_dlib_model_path()))
    ticker = _Ticker(n, progress, should_stop)
    points = np.zeros((n, N_POINTS, 2), dtype=np.float32)
    confidence = np.zeros((n, N_POINTS), dtype=np.float32)
    found = np.zeros(n, dtype=bool)
    for i in range(n):
        ticker()
        if i in keys:
            points[i], confidence[i], found[i] = keys[i], 1.0, True
            continue
        image = np.asarray(frame(i))
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValidationError(f"frame {i}: expected a BGR uint8 image, got "
                                  f"{image.dtype} of shape {image.shape}")
        rgb = np.ascontiguousarray(image[:, :, ::-1])
        small_face = guide is None or bounding_box(guide[i]).width < 100
        upsample = 1 if small_face and max(image.shape[:2]) <= 1200 else 0
        rects, scores, _ = detector.run(rgb, upsample, 0.0)
        if not len(rects):
            continue
        if guide is None:
            best = int(np.argmax(scores))
        else:
            box = bounding_box(guide[i])
            target = (box.x, box.y, box.x + box.width, box.y + box.height)
            overlaps = [_iou((r.left(), r.top(), r.right(), r.bottom()), target) for r in rects]
            best = int(np.argmax(overlaps))
            if overlaps[best] <= 0.1:
                continue
        shape = predictor(rgb, rects[best])
        points[i] = [(part.x, part.y) for part in shape.parts()]
        confidence[i] = 1.0 / (1.0 + np.exp(-2.0 * float(scores[best])))
        found[i] = True
    if not found.any():
        raise FacePropError(f"dlib found no face in any of the {n} frames")
    if guide is not None:
        points[~found] = guide[~found]
    else:
        where = np.flatnonzero(found)
        for i in np.flatnonzero(~found):
            points[i] = points[where[np.argmin(np.abs(where - i))]]
    return Propagation(points, confidence, "dlib")


def _interpolation_method(frame: FrameSource, n_frames: int, keyframes: Mapping[int, np.ndarray],
                          progress: ProgressFn | None = None, should_stop: StopFn | None = None
                          ) -> Propagation:
    return interpolate(n_frames, keyframes, progress, should_stop)


# Registry. Stable method names -> propagators with one signature: f(frame, n_frames, keyframes,
# progress=None, should_stop=None) -> Propagation. "flow" is Lucas-Kanade, "flow_dis" DIS.
METHODS: dict[str, Callable[..., Propagation]] = {
    "interpolation": _interpolation_method,
    "flow": flow_track,
    "flow_dis": partial(flow_track, method="dis"),
    "dlib": dlib_detect,
}
