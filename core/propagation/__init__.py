"""Propagation without a trained model: keyframe labels carried to every frame.

Linear interpolation (what CVAT does), bidirectional optical-flow tracking (Lucas-Kanade or DIS)
and, when installed, dlib's 68-point detector. They are the benchmark's reference methods, the
trainer's flow prior and the fallback when no network exists. ``METHODS`` maps their stable
names to propagators with one signature: ``f(frame, n_frames, keyframes, progress=None,
should_stop=None) -> Propagation``. No torch and no Qt here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial

import numpy as np

from core.progress import Progress, ShouldStop
from core.propagation.common import (
    CONF_FRACTION,
    INTERP_HALF_LIFE,
    FrameSource,
    Propagation,
    Ticker,
    check_keyframes,
    face_scale,
    interpolate,
)
from core.propagation.detector import DLIB_INSTALL_HINT, dlib_available, dlib_detect
from core.propagation.flow import flow_track

__all__ = ["CONF_FRACTION", "DLIB_INSTALL_HINT", "INTERP_HALF_LIFE", "METHODS", "FrameSource",
           "Propagation", "Ticker", "check_keyframes", "dlib_available",
           "dlib_detect", "face_scale", "flow_track", "interpolate"]


def _interpolation_method(frame: FrameSource, n_frames: int, keyframes: Mapping[int, np.ndarray],
                          progress: Progress | None = None, should_stop: ShouldStop | None = None
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
