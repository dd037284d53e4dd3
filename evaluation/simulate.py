"""A simulated annotator: how many labelled frames does each review strategy need?

For every clip (300VW layout with ``gt/``) the loop starts from its keyframes (``annot/``, or
every ``stride``-th ground-truth frame), propagates, and then repeats for ``rounds`` rounds: ask
the strategy (core.suggest) for ``per_round`` frames, replace them with their ground truth (an
oracle annotator, optionally with a human's annotation noise of σ = ``noise`` × inter-ocular
distance) and propagate again through the product's own job (warm-started TSAL by default).
Each round records the frames labelled so far, NME and FR@0.08 over all frames, the worst
frame's NME, the propagation's seconds and how many of the points the strategy flagged in its
frames were really wrong. All strategies of a clip start from one shared first propagation.

``effort_reference`` answers the README's question for the classic workflows: how many frames
must be labelled to bring every frame under NME 0.08 and the mean under 2 %, labelling every
k-th frame with interpolation (CVAT), or correcting a detector's worst frames (dlib).
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from core import metrics
from core.errors import ValidationError
from core.formats.vw300 import find_clip_folders, import_300vw
from core.landmarks import inter_ocular_distance
from core.progress import ShouldStop
from core.propagation import interpolate
from core.store import Project, RunRecord
from core.suggest import STRATEGIES, pick_frames, suspect_points
from evaluation.bench import read_ground_truth
from evaluation.plots import Series, line_chart
from trainer.jobs import checkpoint_dir, propagate_video

logger = logging.getLogger(__name__)

Log = Callable[[str], None]

#: The accuracy the README's effort figures ask for.
TARGET_WORST = 0.08
TARGET_MEAN = 0.02
#: A flagged point counts as really wrong when its error exceeds this × inter-ocular distance.
WRONG_POINT = 0.05


@dataclass
class RoundResult:
    clip: str
    strategy: str
    round: int
    labelled: int
    nme_percent: float
    failure_rate: float
    worst_nme_percent: float
    seconds: float
    start: str
    flagged_points: int = 0
    flagged_wrong: int = 0


def current_points(project: Project, video_id: int, run_id: int) -> np.ndarray:
    """What the project holds for every frame: manual labels over the run's pseudo-labels."""
    points = project.runs.pseudo_labels(run_id).points.copy()
    frames, manual, _visible, _sources = project.labels.arrays(video_id)
    points[frames] = manual
    return points


def _measure(points: np.ndarray, gt: np.ndarray) -> tuple[float, float, float]:
    per_frame = np.asarray(metrics.nme(points, gt))
    return (float(per_frame.mean() * 100), metrics.failure_rate(per_frame),
            float(per_frame.max() * 100))


def _copy_project(source: Path, target: Path, video_id: int) -> None:
    """A copy of a closed project file with its video's checkpoints (for a fresh strategy)."""
    shutil.copyfile(source, target)
    with Project.open(source) as src, Project.open(target) as dst:
        ckpt_src, ckpt_dst = checkpoint_dir(src, video_id), checkpoint_dir(dst, video_id)
    if ckpt_src is not None and ckpt_dst is not None and ckpt_src.exists():
        shutil.copytree(ckpt_src, ckpt_dst, dirs_exist_ok=True)


def _reset_keyframes(project: Project, video_id: int, gt: np.ndarray, stride: int) -> None:
    n = len(gt)
    wanted = sorted({*range(0, n, stride), n - 1})
    for frame in project.labels.frames(video_id):
        project.labels.delete(video_id, frame)
    for frame in wanted:
        project.labels.set(video_id, frame, gt[frame], author="simulated")


def _propagate_round(project: Project, video_id: int, method: str, gt: np.ndarray, what: str,
                     should_stop: ShouldStop | None
                     ) -> tuple[RunRecord, float, tuple[float, float, float], int]:
    """Propagate, check the run finished, and measure: (run, seconds, (NME %, FR, worst NME %),
    frames labelled)."""
    started = time.perf_counter()
    run = propagate_video(project, video_id, method, should_stop=should_stop)
    seconds = time.perf_counter() - started
    if run.status != "done":
        raise ValidationError(f"{what} ended {run.status}: {run.message}")
    measured = _measure(current_points(project, video_id, run.id), gt)
    return run, seconds, measured, len(project.labels.frames(video_id))


def simulate_clip(clip: Path, strategies: Sequence[str], rounds: int, per_round: int,
                  work: Path, *, method: str = "final", noise: float = 0.0,
                  stride: int | None = None, seed: int = 0, log: Log = logger.info,
                  should_stop: ShouldStop | None = None) -> list[RoundResult]:
    """Every round of every strategy on one clip."""
    work.mkdir(parents=True, exist_ok=True)
    base = work / f"{clip.name}.base.faceprop.sqlite"
    for stale in work.glob(f"{clip.name}.*"):
        if stale.is_dir():
            shutil.rmtree(stale)
        else:
            stale.unlink()
    with Project.create_or_open(base) as project:
        video_id = import_300vw(project, clip)[0].video_id
        gt = read_ground_truth(clip, project.videos.get(video_id).frame_count)
        if stride:
            _reset_keyframes(project, video_id, gt, stride)
        first, first_s, (nme0, fr0, worst0), labelled0 = _propagate_round(
            project, video_id, method, gt, f"{clip.name}: first propagation", should_stop)
    log(f"{clip.name}: round 0, {labelled0} frames labelled: NME {nme0:.2f}% worst "
        f"{worst0:.1f}% ({first_s:.0f}s)")
    rng = np.random.default_rng(seed)
    results: list[RoundResult] = []
    for strategy in strategies:
        path = work / f"{clip.name}.{strategy}.faceprop.sqlite"
        _copy_project(base, path, video_id)
        results.append(RoundResult(clip.name, strategy, 0, labelled0, nme0, fr0, worst0,
                                   round(first_s, 2), first.metrics.get("start", "-")))
        with Project.open(path) as project:
            run = project.runs.latest(video_id)
            for r in range(1, rounds + 1):
                keys = project.labels.frames(video_id)
                stats = project.runs.frame_stats(run.id)
                picks = pick_frames(strategy, len(gt), keys, per_round, stats=stats,
                                    seed=int(rng.integers(1 << 31)))
                if not picks:
                    break
                previous = project.runs.pseudo_labels(run.id)
                confidence, pred = previous.confidence, previous.points
                flagged = wrong = 0
                for frame in picks:
                    iod = float(inter_ocular_distance(gt[frame]))
                    suspects = suspect_points(confidence[frame])
                    error = np.linalg.norm(pred[frame] - gt[frame], axis=-1) / iod
                    flagged += len(suspects)
                    wrong += int((error[suspects] > WRONG_POINT).sum())
                    label = gt[frame] + rng.normal(0, noise * iod, gt[frame].shape)
                    project.labels.set(video_id, frame, label, author="simulated")
                run, seconds, (nme, fr, worst), labelled = _propagate_round(
                    project, video_id, method, gt, f"{clip.name}: round {r}", should_stop)
                results.append(RoundResult(clip.name, strategy, r, labelled, nme, fr, worst,
                                           round(seconds, 2), run.metrics.get("start", "-"),
                                           flagged, wrong))
                log(f"{clip.name} {strategy}: round {r}, {labelled} frames labelled: NME "
                    f"{nme:.2f}% worst {worst:.1f}% ({seconds:.0f}s)")
    return results


def effort_reference(gt: np.ndarray, detector: np.ndarray | None = None) -> dict[str, int | None]:
    """Frames to label for every frame under NME 0.08 and the mean under 2 %: keyframes every
    k-th frame with interpolation (the largest k that works), and correcting a detector's
    frames worst first (None when no detector output is given)."""
    n = len(gt)
    out: dict[str, int | None] = {"interpolation_every_k": None, "detector_corrections": None}
    for k in range(n - 1, 0, -1):
        keys = {f: gt[f] for f in sorted({*range(0, n, k), n - 1})}
        per_frame = np.asarray(metrics.nme(interpolate(n, keys).points, gt))
        if per_frame.max() < TARGET_WORST and per_frame.mean() < TARGET_MEAN:
            out["interpolation_every_k"] = len(keys)
            break
    if detector is not None:
        per_frame = np.asarray(metrics.nme(detector, gt))
        order = np.argsort(-per_frame)
        fixed = per_frame.copy()
        for count, frame in enumerate(order):
            if fixed.max() < TARGET_WORST and fixed.mean() < TARGET_MEAN:
                out["detector_corrections"] = count
                break
            fixed[frame] = 0.0
        else:
            out["detector_corrections"] = n
    return out


def frames_to_target(results: Sequence[RoundResult]) -> int | None:
    """Frames labelled when a strategy first met both targets (None: not within its rounds)."""
    for r in sorted(results, key=lambda r: r.round):
        if r.worst_nme_percent < TARGET_WORST * 100 and r.nme_percent < TARGET_MEAN * 100:
            return r.labelled
    return None


def write_report(results: Sequence[RoundResult], references: dict[str, dict], out: Path,
                 settings: dict) -> dict:
    """report.md, report.json and one effort curve (NME against frames labelled) per clip."""
    clips = sorted({r.clip for r in results})
    strategies = list(dict.fromkeys(r.strategy for r in results))
    lines = ["# FaceProp simulated annotator", "",
             f"Settings: {json.dumps(settings)}", "",
             "NME and FR@0.08 over all frames (labelled ones included, as exported); worst: "
             "the worst frame's NME. Flagged: points the strategy marked as suspect in its "
             f"frames, and how many of those were wrong by more than {WRONG_POINT:.2f} × "
             "inter-ocular distance.", ""]
    summary: dict[str, dict] = {}
    for clip in clips:
        lines += [f"## {clip}", "", "| strategy | round | frames labelled | NME % | FR@0.08 | "
                  "worst NME % | seconds | start | flagged (wrong) |", "|---|---|---|---|---|"
                  "---|---|---|---|"]
        series = []
        summary[clip] = {"reference": references.get(clip, {}), "frames_to_target": {}}
        for strategy in strategies:
            rows = [r for r in results if r.clip == clip and r.strategy == strategy]
            for r in rows:
                lines.append(f"| {strategy} | {r.round} | {r.labelled} | {r.nme_percent:.2f} | "
                             f"{r.failure_rate:.3f} | {r.worst_nme_percent:.2f} | "
                             f"{r.seconds:.1f} | {r.start} | {r.flagged_points} "
                             f"({r.flagged_wrong}) |")
            series.append(Series(strategy, np.array([r.labelled for r in rows], float),
                                 np.array([r.nme_percent for r in rows])))
            summary[clip]["frames_to_target"][strategy] = frames_to_target(rows)
        ref = references.get(clip, {})
        lines += ["", f"Frames to reach worst < {TARGET_WORST * 100:.0f} % and mean < "
                  f"{TARGET_MEAN * 100:.0f} %: " + ", ".join(
                      f"{s}: {summary[clip]['frames_to_target'][s] or 'not reached'}"
                      for s in strategies)
                  + f"; interpolation of every k-th frame: "
                  f"{ref.get('interpolation_every_k') or 'never'}; correcting dlib frame by "
                  f"frame: {ref.get('detector_corrections', 'dlib absent')}", ""]
        line_chart(series, out / f"effort_{clip}.png", title=f"{clip}: NME against effort",
                   x_label="frames labelled", y_label="NME % (all frames)")
    (out / "report.md").write_text("\n".join(lines) + "\n")
    report = {"settings": settings, "summary": summary,
              "results": [asdict(r) for r in results]}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return report


def run_simulation(clips_root: Path, strategies: Sequence[str], rounds: int, per_round: int,
                   out: Path, *, method: str = "final", noise: float = 0.0,
                   stride: int | None = None, seed: int = 0, with_dlib: bool = True,
                   log: Log = logger.info, progress: Callable[[int, int], None] | None = None,
                   should_stop: ShouldStop | None = None) -> dict:
    """Simulate every clip under ``clips_root`` and write the report into ``out``."""
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        raise ValidationError(f"unknown strategy {unknown[0]!r}: use {', '.join(STRATEGIES)}")
    if rounds < 1 or per_round < 1:
        raise ValidationError("--rounds and --per-round must be at least 1")
    clips = find_clip_folders(clips_root)
    out.mkdir(parents=True, exist_ok=True)
    results: list[RoundResult] = []
    references: dict[str, dict] = {}
    for i, clip in enumerate(clips):
        if progress is not None:
            progress(i, len(clips))
        results += simulate_clip(clip, strategies, rounds, per_round, out / "work",
                                 method=method, noise=noise, stride=stride, seed=seed, log=log,
                                 should_stop=should_stop)
        references[clip.name] = _references(clip, out / "work", with_dlib, log)
    if progress is not None:
        progress(len(clips), len(clips))
    settings = {"clips": str(clips_root), "strategies": list(strategies), "rounds": rounds,
                "per_round": per_round, "method": method, "noise": noise, "stride": stride,
                "seed": seed}
    return write_report(results, references, out, settings)


def _references(clip: Path, work: Path, with_dlib: bool, log: Log) -> dict:
    from core.propagation import dlib_available, dlib_detect

    with Project.open(work / f"{clip.name}.base.faceprop.sqlite") as project:
        video = project.videos.all()[0]
        gt = read_ground_truth(clip, video.frame_count)
        detector = None
        available, why = dlib_available()
        if with_dlib and available:
            with project.videos.open_reader(video.id) as reader:
                detector = dlib_detect(reader.frame, video.frame_count).points
        elif with_dlib:
            log(f"dlib reference skipped: {why}")
    return effort_reference(gt, detector)
