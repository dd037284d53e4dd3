"""The benchmark: run propagation methods on clips with exact ground truth and report the scores.

Each clip is imported into a scratch project and each method runs through ``propagate_video``,
the same path users run; only non-keyframes are scored (DESIGN.md §5). The report is Markdown
plus JSON, with a cumulative error curve and an error-over-time chart per clip.
"""

from __future__ import annotations

import json
import logging
import math
import platform
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from core import metrics
from core.errors import FormatError, ValidationError
from core.formats.pts import read_pts
from core.formats.vw300 import find_clip_folders, frame_from_file_name, import_300vw
from core.progress import ShouldStop
from core.store import Project
from evaluation.plots import Series, line_chart
from trainer.jobs import PROPAGATORS, propagate_video
from trainer.tsal.propagate import RunCache

logger = logging.getLogger(__name__)

Log = Callable[[str], None]

COLUMNS = ("nme_percent", "auc", "failure_rate", "sigma1_pred", "sigma1_gt", "error_jitter",
           "seconds", "s_per_frame")


@dataclass
class MethodResult:
    clip: str
    method: str
    frames: int
    scored_frames: int
    nme_percent: float
    auc: float
    failure_rate: float
    sigma1_pred: float
    sigma1_gt: float
    error_jitter: float
    seconds: float
    s_per_frame: float
    device: str
    per_frame_nme: list[float] = field(repr=False, default_factory=list)


def settings_of(args: object) -> dict:
    """The clip and method settings of a bench command, for the report header."""
    names = ("clips", "faces", "count", "frames", "stride", "difficulty", "seed", "size",
             "methods")
    return {n: str(getattr(args, n)) for n in names if getattr(args, n, None) is not None}


def read_ground_truth(clip: Path, frame_count: int) -> np.ndarray:
    """``gt/*.pts`` of a clip as ``(T, 68, 2)``; errors name the clip and what is wrong."""
    gt_dir = clip / "gt"
    if not gt_dir.is_dir():
        raise FormatError(f"{clip}: no gt/ folder; the benchmark needs ground truth for every "
                          "frame (make clips with `main.py synth`)")
    files = sorted(gt_dir.glob("*.pts"))
    frames = [frame_from_file_name(p) for p in files]
    if len(files) != frame_count or frames != list(range(frame_count)):
        raise FormatError(f"{clip}: gt/ has {len(files)} files but vid.avi decodes to "
                          f"{frame_count} frames; every frame needs one")
    return np.stack([read_pts(p) for p in files])


def check_methods(methods: Sequence[str]) -> tuple[list[str], list[str]]:
    """(runnable methods, notes about skipped ones); unknown names are an error."""
    unknown = [m for m in methods if m not in PROPAGATORS]
    if unknown:
        raise ValidationError(f"unknown method {unknown[0]!r}; known methods: "
                              f"{', '.join(sorted(PROPAGATORS))}")
    runnable, notes = [], []
    for method in methods:
        if method == "dlib":
            from core.propagation import dlib_available

            available, reason = dlib_available()
            if not available:
                notes.append(f"dlib skipped: {reason}")
                continue
        runnable.append(method)
    return runnable, notes


def bench_clip(clip: Path, methods: Sequence[str], work: Path, log: Log,
               should_stop: ShouldStop | None = None) -> list[MethodResult]:
    """Run every method on one clip in a scratch project; score non-keyframes against gt/."""
    project_path = work / f"{clip.name}.faceprop.sqlite"
    for stale in work.glob(f"{clip.name}.faceprop.sqlite*"):
        stale.unlink()
    results = []
    with Project.create_or_open(project_path) as project:
        [imported] = import_300vw(project, clip)
        video = project.videos.get(imported.video_id)
        gt = read_ground_truth(clip, video.frame_count)
        keyframes = project.labels.frames(video.id)
        mask = np.zeros(video.frame_count, dtype=bool)
        mask[keyframes] = True
        cache = RunCache()  # the TSAL methods of one clip share one training
        for method in methods:
            run = propagate_video(project, video.id, method, should_stop=should_stop,
                                  checkpoints=False, cache=cache)
            if run.status != "done":
                raise ValidationError(f"{clip.name}: method {method} ended {run.status}: "
                                      f"{run.message}")
            pred = project.runs.pseudo_labels(run.id).points
            summary = metrics.summarise(pred, gt, keyframe_mask=mask)
            per_frame = metrics.nme(pred, gt)
            # TSAL methods sharing one training reuse it; each is charged the whole job's time
            job_s = sum(float(run.timings.get(k, 0.0)) for k in ("flow_s", "train_s",
                                                                 "predict_s"))
            seconds = max(float(run.timings.get("total_s", 0.0)), job_s)
            results.append(MethodResult(
                clip=clip.name, method=method, frames=video.frame_count,
                scored_frames=int((~mask).sum()), nme_percent=summary["nme_percent"],
                auc=summary["auc"], failure_rate=summary["failure_rate"],
                sigma1_pred=summary["sigma1_pred"], sigma1_gt=summary["sigma1_gt"],
                error_jitter=summary["error_jitter"], seconds=seconds,
                s_per_frame=seconds / video.frame_count, device=run.device or "cpu",
                per_frame_nme=[float(x) for x in per_frame]))
            log(f"{clip.name:>24} {method:<14} NME {summary['nme_percent']:6.2f}%  "
                f"FR {summary['failure_rate']:.3f}  {seconds:6.1f}s")
    return results


def average(results: Sequence[MethodResult], method: str) -> dict[str, float]:
    rows = [r for r in results if r.method == method]
    return {column: float(np.mean([getattr(r, column) for r in rows])) for column in COLUMNS}


def _cell(column: str, value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    if column in ("auc", "failure_rate"):
        return f"{value:.3f}"
    if column == "s_per_frame":
        return f"{value:.4f}"
    return f"{value:.2f}"


HEADER = ("| method | NME % | AUC@0.08 | FR@0.08 | σ1 pred | σ1 GT | error jitter | seconds | "
          "s/frame | device |\n|---|---|---|---|---|---|---|---|---|---|")


def markdown_report(results: Sequence[MethodResult], methods: Sequence[str],
                    notes: Sequence[str], settings: dict) -> str:
    lines = ["# FaceProp benchmark", "",
             f"Settings: {json.dumps(settings)}", "",
             "NME: mean point error over the outer-eye-corner distance, non-keyframes only. "
             "σ1: Tai et al.'s stability (RMS second difference over face size/100); error "
             "jitter: σ1 of prediction minus ground truth.", ""]
    lines += [f"- {note}" for note in notes]
    for clip in sorted({r.clip for r in results}):
        lines += ["", f"## {clip}", "", HEADER]
        for r in (r for r in results if r.clip == clip):
            cells = [_cell(c, getattr(r, c)) for c in COLUMNS]
            lines.append(f"| {r.method} | " + " | ".join(cells) + f" | {r.device} |")
    lines += ["", "## Average over clips", "", HEADER]
    for method in methods:
        mean = average(results, method)
        device = next((r.device for r in results if r.method == method), "")
        lines.append(f"| {method} | " + " | ".join(_cell(c, mean[c]) for c in COLUMNS)
                     + f" | {device} |")
    lines += ["", "![cumulative error](ced.png)", ""]
    lines += [f"![{clip}](error_{clip}.png)" for clip in sorted({r.clip for r in results})]
    return "\n".join(lines) + "\n"


def write_plots(results: Sequence[MethodResult], methods: Sequence[str], out: Path,
                keyframes: dict[str, list[int]]) -> None:
    curves = []
    for method in methods:
        errors = np.concatenate([
            np.delete(np.array(r.per_frame_nme), keyframes[r.clip])
            for r in results if r.method == method])
        xs, ys = metrics.cumulative_error_distribution(errors, np.linspace(0, 0.1, 201))
        curves.append(Series(method, xs, ys))
    line_chart(curves, out / "ced.png", title="Cumulative error distribution (non-keyframes)",
               x_label="NME (inter-ocular)", y_label="fraction of frames", x_range=(0, 0.1),
               y_range=(0, 1))
    for clip in sorted({r.clip for r in results}):
        series = [Series(r.method, np.arange(r.frames), np.array(r.per_frame_nme) * 100)
                  for r in results if r.clip == clip]
        top = max(float(np.nanpercentile(s.y, 99)) for s in series) * 1.1 or 1.0
        line_chart(series, out / f"error_{clip}.png", title=f"Error over time: {clip}",
                   x_label="frame", y_label="NME %", y_range=(0, top),
                   markers={"keyframes": keyframes[clip]})


def run_benchmark(clips_root: Path, methods: Sequence[str], out: Path, *, settings: dict,
                  log: Log, progress: Callable[[int, int], None] | None = None,
                  should_stop: ShouldStop | None = None) -> dict:
    """Benchmark ``methods`` on every clip under ``clips_root``; writes report.md/json to out."""
    clips = find_clip_folders(clips_root)
    runnable, notes = check_methods(methods)
    for note in notes:
        log(note)
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    results: list[MethodResult] = []
    keyframes: dict[str, list[int]] = {}
    for i, clip in enumerate(clips):
        if progress is not None:
            progress(i, len(clips))
        keyframes[clip.name] = sorted(frame_from_file_name(p)
                                      for p in (clip / "annot").glob("*.pts"))
        results += bench_clip(clip, runnable, work, log, should_stop)
    if progress is not None:
        progress(len(clips), len(clips))
    settings = {**settings, "cpu": platform.processor() or platform.machine(),
                "opencv_threads": cv2.getNumThreads()}
    (out / "report.md").write_text(markdown_report(results, runnable, notes, settings))
    write_plots(results, runnable, out, keyframes)
    report = {"settings": settings, "notes": notes, "methods": list(runnable),
              "clips": [c.name for c in clips],
              "results": [asdict(r) for r in results],
              "average": {m: average(results, m) for m in runnable}}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return report
