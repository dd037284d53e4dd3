"""The propagation job: keyframes from the project in, one run of pseudo-labels and statistics out.

The CLI (`main.py propagate`), the GUI (through that CLI in a QProcess) and the benchmark all call
``propagate_video``, so what is measured is what users run. A run is created as "running" before
any work, and finished as done / stopped / cancelled / failed; pseudo-labels are written in one
transaction at the end, so an interrupted job never leaves a half-written result.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from core.errors import CancelledError, ValidationError
from core.framestats import run_statistics
from core.store import Project, RunRecord
from trainer.baselines import METHODS as BASELINE_METHODS
from trainer.baselines import Propagation

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]
Propagator = Callable[..., Propagation]

#: Every propagation method by its stable name (benchmark tables use these names).
PROPAGATORS: dict[str, Propagator] = dict(BASELINE_METHODS)


def get_propagator(name: str) -> Propagator:
    if name not in PROPAGATORS:
        raise ValidationError(f"unknown method {name!r}; known methods: "
                              f"{', '.join(sorted(PROPAGATORS))}")
    return PROPAGATORS[name]


def load_keyframes(project: Project, video_id: int) -> dict[int, np.ndarray]:
    """The video's annotations as {frame: points}; clear errors for unusable keyframes."""
    video = project.videos.get(video_id)
    frames, points, _visible, _sources = project.labels.arrays(video_id)
    if len(frames) == 0:
        raise ValidationError(f"video {video_id} ({video.name}) has no keyframe: label at least "
                              "one frame before propagating")
    for frame, pts in zip(frames, points):
        if np.ptp(pts, axis=0).max() < 1e-3:
            raise ValidationError(f"video {video_id} ({video.name}) frame {frame}: all 68 points "
                                  "are at the same place; fix this keyframe first")
    return {int(f): p for f, p in zip(frames, points)}


def propagate_video(project: Project, video_id: int, method: str = "interpolation", *,
                    config: Mapping[str, Any] | None = None, progress: Progress | None = None,
                    should_stop: ShouldStop | None = None) -> RunRecord:
    """Propagate a video's keyframes with ``method`` and store the result as one run."""
    propagate = get_propagator(method)
    keyframes = load_keyframes(project, video_id)
    video = project.videos.get(video_id)
    run = project.runs.create(video_id, method, config=dict(config or {}), device="cpu",
                              keyframes={"frames": sorted(keyframes)})
    started = time.perf_counter()
    try:
        with project.videos.open_reader(video_id) as reader:
            result = propagate(reader.frame, video.frame_count, keyframes, progress=progress,
                               should_stop=should_stop)
        compute_s = time.perf_counter() - started
        save_result(project, run.id, result, keyframes)
    except CancelledError as exc:
        return project.runs.finish(run.id, "cancelled", message=str(exc))
    except BaseException as exc:
        project.runs.finish(run.id, "failed", message=f"{type(exc).__name__}: {exc}")
        raise
    total_s = time.perf_counter() - started
    return project.runs.finish(run.id, "done", timings={
        "compute_s": round(compute_s, 3), "total_s": round(total_s, 3),
        "s_per_frame": round(total_s / max(video.frame_count, 1), 5)})


def save_result(project: Project, run_id: int, result: Propagation,
                keyframes: Mapping[int, np.ndarray],
                extra_stats: Mapping[str, np.ndarray] | None = None) -> None:
    """Write a propagation's pseudo-labels and per-frame statistics to a run."""
    frames = np.arange(len(result.points))
    project.runs.write_pseudo_labels(run_id, frames, result.points, result.confidence)
    stats = run_statistics(result.points, result.confidence, keyframes, extra_stats)
    project.runs.write_frame_stats(run_id, frames, stats)
