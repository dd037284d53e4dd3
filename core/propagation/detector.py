"""dlib's 68-point face detector as a propagator and a keyframe starter, when it is installed.

dlib is optional (``pip install -e .[dlib]``): ``dlib_available`` says whether it and its model
can be used and, if not, how to install them.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import numpy as np

from core.errors import FacePropError, ValidationError
from core.landmarks import N_POINTS, bounding_box
from core.progress import Progress, ShouldStop
from core.propagation.common import (
    FrameSource,
    Propagation,
    Ticker,
    check_keyframes,
    interpolate,
)

logger = logging.getLogger(__name__)

DLIB_INSTALL_HINT = ("Install it with: pip install dlib-bin face-recognition-models (or set "
                     "FACEPROP_DLIB_MODEL to a shape_predictor_68_face_landmarks.dat file).")
_DLIB_SYSTEM_MODEL = Path("/usr/share/dlib/shape_predictor_68_face_landmarks.dat")


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
                progress: Progress | None = None, should_stop: ShouldStop | None = None
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
    keys = check_keyframes(n, keyframes) if keyframes else {}
    guide = interpolate(n, keys).points if keys else None
    detector, predictor = _dlib_models(str(_dlib_model_path()))
    ticker = Ticker(n, progress, should_stop)
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
