"""The propagation job: keyframes from the project in, one run of pseudo-labels and statistics out.

The CLI (`main.py propagate`), the GUI (through that CLI in a QProcess) and the benchmark all call
``propagate_video``, so what is measured is what users run. A run is created as "running" before
any work, and finished as done / stopped / cancelled / failed; pseudo-labels are written in one
transaction at the end, so an interrupted job never leaves a half-written result.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import CancelledError, ValidationError
from core.frame_numbers import frame_label
from core.progress import Progress, ShouldStop
from core.propagation import METHODS as BASELINE_METHODS
from core.propagation import Propagation
from core.propagation.constraints import PartialReview
from core.propagation.edits import load_constraints
from core.propagation.holdout import HoldoutEstimate, holdout_nme
from core.propagation.segmented import propagate_segments
from core.store import Project, RunRecord
from core.store.records import RunResults

logger = logging.getLogger(__name__)

Propagator = Callable[..., Propagation]

#: The tracker that re-tracks the held-out keyframes of a flow baseline's estimate (as it ran).
HELD_OUT_FLOW = {"flow": "lk", "flow_dis": "dis"}

#: The TSAL methods (trainer/tsal); torch is imported only when one of them runs.
TSAL_METHODS = ("final", "final-mfe", "teacher", "teacher+sd", "student", "supervised", "no-sic",
                "no-mfds", "no-async", "final-fixed", "final-noshape", "teacher-mfe",
                "teacher-dsc", "final-dsc", "teacher-shuffle", "final-shuffle")


#: Baselines that never track the images: the held-out estimate (flow tracking and smoothing)
#: would not describe them.
UNTRACKED_METHODS = ("interpolation", "dlib")

#: What a run reports per face segment: the smoother's setting (the re-solve smooths with it
#: too), the network's weight in the fusion (trust), fused ÷ tracked error on the validation
#: keyframes (network_gain) and the tracker ("lk", or "mfe" where it proved better: phi).
SEGMENT_METRICS = ("smooth_accel", "trust", "network_gain", "phi")


def _tsal_method(name: str) -> Propagator:
    def method(*args: Any, **kwargs: Any) -> Propagation:
        from trainer.tsal import METHODS

        return METHODS[name](*args, **kwargs)

    method.takes_options = True  # type: ignore[attr-defined]
    method.__name__ = f"tsal_{name}"
    return method


#: Every propagation method by its stable name (benchmark tables use these names).
PROPAGATORS: dict[str, Propagator] = {**BASELINE_METHODS,
                                      **{name: _tsal_method(name) for name in TSAL_METHODS}}


def get_propagator(name: str) -> Propagator:
    if name not in PROPAGATORS:
        raise ValidationError(f"unknown method {name!r}; known methods: "
                              f"{', '.join(sorted(PROPAGATORS))}")
    return PROPAGATORS[name]


def load_keyframes(project: Project, video_id: int
                   ) -> tuple[dict[int, np.ndarray], dict[int, PartialReview]]:
    """The video's keyframes (frames whose every point is placed or accepted) as
    {frame: points}, and its partly reviewed frames as {frame: (points, pinned mask)}
    (``core.propagation.edits.load_constraints``), with clear errors for unusable keyframes."""
    video = project.videos.get(video_id)
    keyframes, partial = load_constraints(project, video_id)
    for frame, pts in keyframes.items():
        if np.ptp(pts, axis=0).max() < 1e-3:
            raise ValidationError(f"video {video_id} ({video.name}) {frame_label(frame)}: all 68 "
                                  "points are at the same place; fix this keyframe first")
    if not keyframes:
        what = "reviewed" if partial or project.labels.frames(video_id) else "labelled"
        raise ValidationError(f"video {video_id} ({video.name}) has no keyframe: no frame has "
                              f"all its points {what} yet; label (or accept, A) at least one "
                              "whole frame before propagating")
    return keyframes, partial


def checkpoints_root(project: Project) -> Path | None:
    """The folder beside the project file that holds its trainer checkpoints (none for a
    project opened from a database URL)."""
    if project.path is None:
        return None
    return project.path.with_name(project.path.name + ".checkpoints")


def checkpoint_dir(project: Project, video_id: int) -> Path | None:
    """Where a video's trainer checkpoints live (see :func:`checkpoints_root`)."""
    root = checkpoints_root(project)
    return None if root is None else root / f"video-{video_id}"


def project_model_path(project: Project) -> Path | None:
    """Where the project model lives (``trainer.project_jobs``; see :func:`checkpoints_root`)."""
    root = checkpoints_root(project)
    return None if root is None else root / "project" / "model.pt"


def _existing(path: Path | None) -> Path | None:
    return path if path is not None and path.exists() else None


def propagate_video(project: Project, video_id: int, method: str = "interpolation", *,
                    progress: Progress | None = None, should_stop: ShouldStop | None = None,
                    device: str = "auto", preset: str = "fast", seed: int | None = None,
                    resume: bool = False, checkpoints: bool = True,
                    on_run_created: Callable[[RunRecord], None] | None = None,
                    cache: Any = None, crop_memory_mb: int = 1024) -> RunRecord:
    """Propagate a video's keyframes with ``method`` and store the result as one run.

    TSAL methods train with ``preset`` on ``device``; with ``checkpoints`` they warm-start from
    the video's last training and save their own (``resume`` continues a stopped job). A run
    stopped by ``should_stop`` keeps its results (status "stopped"); baselines are cancelled.
    ``cache`` (a ``trainer.tsal.RunCache``) lets TSAL methods share one training (the bench);
    ``on_run_created`` hears of the run as soon as its row exists. A TSAL job holds at most
    ``crop_memory_mb`` of face crops in memory, the rest in a temporary file.
    """
    if crop_memory_mb < 0:
        raise ValidationError(f"--crop-memory must be 0 MB or more, not {crop_memory_mb}")
    propagate = get_propagator(method)
    keyframes, partial = load_keyframes(project, video_id)
    video = project.videos.get(video_id)
    project.videos.verify_file(video_id)  # labels must sit on the images they were made on
    kwargs: dict[str, Any] = {}
    config: dict[str, Any] = {}
    device_label = "cpu"
    if getattr(propagate, "takes_options", False):
        from trainer.tsal import RunOptions, device_name, preset_config, select_device

        cfg = preset_config(preset, seed)
        torch_device = select_device(device)  # fails here, before a run is recorded
        device_label = device_name(torch_device)
        kwargs["config"] = cfg
        kwargs["options"] = RunOptions(
            device=str(torch_device),
            checkpoint_dir=checkpoint_dir(project, video_id) if checkpoints else None,
            resume=resume, warm_start=checkpoints, fps=video.fps or None, cache=cache,
            crop_memory=int(crop_memory_mb) << 20,
            project_model=_existing(project_model_path(project)) if checkpoints else None)
        config = {"preset": preset, **asdict(cfg)}
    elif resume:
        raise ValidationError(f"--resume applies to the TSAL methods, not {method!r}")
    segments = project.absences.segments(video_id, video.frame_count)
    if segments != [(0, video.frame_count - 1)]:  # no-face frames or shot cuts split it
        config["segments"] = [list(s) for s in segments]
    previous = project.runs.latest(video_id)
    run = project.runs.create(video_id, method, config=config, device=device_label,
                              keyframes={"frames": sorted(keyframes)},
                              parent_run_id=previous.id if previous else None)
    if on_run_created is not None:
        on_run_created(run)
    started = time.perf_counter()
    try:
        with project.videos.open_reader(video_id) as reader:
            result = propagate_segments(propagate, reader.frame, segments, keyframes, partial,
                                        progress=progress, should_stop=should_stop,
                                        frame_size=(video.width, video.height), **kwargs)
            compute_s = time.perf_counter() - started
            # the run's estimated accuracy: each interior keyframe predicted from its
            # neighbours by flow tracking and smoothing (a fraction of a flow propagation; the
            # TSAL methods did it to choose their smoother), so only for methods that track;
            # not for a stopped run
            held_out = result.info.get("held_out_errors")
            tracked_here = held_out is None and method not in UNTRACKED_METHODS
            finished = not result.info.get("stopped")
            estimate = None
            if finished and held_out is not None:
                estimate = HoldoutEstimate.of(held_out)
            elif finished and tracked_here:
                # the flow baselines' output is not smoothed: neither is their estimate; the
                # held-out keyframes are tracked as the run tracked its gaps
                estimate = holdout_nme(reader.frame, keyframes, segments, accel=None,
                                       should_stop=should_stop, tracked=(
                                           result.frames, result.points, result.confidence),
                                       flow=HELD_OUT_FLOW.get(method, "lk"))
        results = RunResults(result.frames, result.points, result.confidence, result.stats)
        info = result.info
        stopped = bool(info.get("stopped"))
        timings = {"compute_s": round(compute_s, 3),
                   "total_s": round(time.perf_counter() - started, 3),
                   "s_per_frame": round((time.perf_counter() - started)
                                        / max(video.frame_count, 1), 5),
                   **info.get("timings", {})}
        metrics = {"start": info["start"], "steps": info["steps"]} if "start" in info else {}
        metrics.update({key: info[key] for key in SEGMENT_METRICS if key in info})
        if info.get("transitions"):  # shot changes found inside gaps: the frames to cut at
            metrics["transitions"] = sorted(int(f) for f in info["transitions"])
        if estimate is not None:
            metrics.update(estimate.as_metrics())
        if estimate is not None and tracked_here:
            timings["holdout_s"] = round(time.perf_counter() - started - compute_s, 3)
        # pseudo-labels, statistics and the final status: one transaction
        return project.runs.finish(
            run.id, "stopped" if stopped else "done", timings=timings, metrics=metrics or None,
            checkpoint_path=info.get("checkpoint"), results=results,
            message="stopped early: results so far kept; --resume continues" if stopped else "")
    except CancelledError as exc:
        return project.runs.finish(run.id, "cancelled", message=str(exc))
    except BaseException as exc:
        project.runs.finish(run.id, "failed", message=f"{type(exc).__name__}: {exc}")
        raise
