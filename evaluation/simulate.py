"""simulate-annotator: what each labelling workflow costs a simulated person, in seconds.

The person (``evaluation.person``, issue 11 §5) reviews a presented frame (2 s), drags the
point with the largest error while any is off by more than τ = 2 % of the inter-ocular
distance (1.5 s each, landing at the truth ± 1 % noise), and accepts it (0.5 s). On the same
clips (300VW layout with ``gt/``) it works through:

- ``faceprop``: FaceProp's loop (``evaluation.loop``): keyframes every ``stride`` frames from
  the template, propagate, then rounds of the ``score`` strategy's picks, shape-aware drags;
- ``faceprop-no-shape``: the same with single-point drags;
- ``uniform`` / ``random``: FaceProp's loop with those strategies;
- ``cvat``: keyframes with linear interpolation (``evaluation.classic``), the cheapest of its
  honest strategies;
- ``dlib``: correcting dlib's detections frame by frame (where dlib is installed).

Every new keyframe starts from the template in the face's box, or from dlib's detection where
dlib is installed. Working seconds are the person's; waiting seconds the wall time of each
propagation and re-solve. The headline is working seconds per minute of video until the clip
meets the target (mean NME ≤ 1 %, no frame over 4 %); ``evaluation.effort_report`` writes the
report.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from core.errors import ValidationError
from core.formats.vw300 import find_clip_folders, import_300vw
from core.progress import ShouldStop
from core.store import Project
from core.suggest import STRATEGIES
from evaluation.bench import read_ground_truth
from evaluation.classic import cvat_strategies, detector_by_frame
from evaluation.effort import ClipResult, Hands, Tally
from evaluation.effort_report import write_report
from evaluation.loop import LoopSettings, run_rounds, start_loop
from evaluation.person import PersonParams
from trainer.jobs import checkpoint_dir, get_propagator

logger = logging.getLogger(__name__)

Log = Callable[[str], None]

#: Workflows of FaceProp's loop: (strategy, shape-aware drags unless --no-shape-aware).
LOOP_WORKFLOWS: dict[str, tuple[str, bool]] = {
    "faceprop": ("score", True), "faceprop-no-shape": ("score", False),
    "uniform": ("uniform", True), "random": ("random", True)}
WORKFLOWS = (*LOOP_WORKFLOWS, "cvat", "dlib")


@dataclass(frozen=True)
class SimulationSettings:
    """Everything a simulation run depends on (written into the report)."""

    workflows: tuple[str, ...] = WORKFLOWS
    rounds: int = 8
    per_round: int = 5
    method: str = "final"
    stride: int = 30
    person: PersonParams = field(default_factory=PersonParams)
    shape_aware: bool = True
    cvat_strides: tuple[int, ...] = (5, 10, 20, 40)
    seed: int = 0
    stop_at_target: bool = True

    def check(self) -> None:
        """ValidationError naming the first bad setting."""
        unknown = [w for w in self.workflows if w not in WORKFLOWS]
        if unknown:
            raise ValidationError(f"unknown workflow {unknown[0]!r}: use {', '.join(WORKFLOWS)}")
        if not self.workflows:
            raise ValidationError("--workflows names no workflow")
        if self.rounds < 1 or self.per_round < 1 or self.stride < 1:
            raise ValidationError("--rounds, --per-round and --stride must be at least 1")
        if any(k < 1 for k in self.cvat_strides):
            raise ValidationError("--cvat-strides must be positive")
        p = self.person
        if min(p.review_s, p.drag_s, p.accept_s, p.threshold, p.drag_noise) < 0:
            raise ValidationError("the person's seconds, --tau and --noise must not be negative")
        assert all(s in STRATEGIES for s, _aware in LOOP_WORKFLOWS.values())
        get_propagator(self.method)


def _clear(work: Path, clip: str) -> None:
    for stale in work.glob(f"{clip}.*"):
        if stale.is_dir():
            shutil.rmtree(stale)
        else:
            stale.unlink()


def _copy_project(source: Path, target: Path, video_id: int) -> None:
    """A copy of a closed project file with its video's checkpoints (for a fresh workflow)."""
    shutil.copyfile(source, target)
    with Project.open(source) as src, Project.open(target) as dst:
        ckpt_src, ckpt_dst = checkpoint_dir(src, video_id), checkpoint_dir(dst, video_id)
    if ckpt_src is not None and ckpt_dst is not None and ckpt_src.exists():
        shutil.copytree(ckpt_src, ckpt_dst, dirs_exist_ok=True)


def _detections(project: Project, video_id: int, log: Log) -> np.ndarray | None:
    """dlib's shape on every frame (NaN where it found no face), or None without dlib."""
    from core.propagation import dlib_available, dlib_detect

    available, why = dlib_available()
    if not available:
        log(f"new keyframes start from the template, the dlib workflow is skipped: {why}")
        return None
    video = project.videos.get(video_id)
    with project.videos.open_reader(video_id) as reader:
        found = dlib_detect(reader.frame, video.frame_count)
    points = found.points.astype(np.float64)
    points[found.confidence.max(axis=1) <= 0] = np.nan
    return points


def _copy_tally(base: Tally, workflow: str) -> Tally:
    return Tally(base.clip, workflow, base.reviewed, base.drags, base.working_s,
                 base.waiting_s, [replace(p, workflow=workflow) for p in base.points])


def simulate_clip(clip: Path, settings: SimulationSettings, work: Path, *,
                  log: Log = logger.info, should_stop: ShouldStop | None = None) -> ClipResult:
    """Every workflow of ``settings`` on one clip."""
    work.mkdir(parents=True, exist_ok=True)
    _clear(work, clip.name)
    source = work / f"{clip.name}.import.faceprop.sqlite"
    with Project.create_or_open(source) as project:
        video_id = import_300vw(project, clip)[0].video_id
        for frame in project.labels.frames(video_id):  # annot/ is the clip maker's, not ours
            project.labels.delete(video_id, frame)
        video = project.videos.get(video_id)
        gt = read_ground_truth(clip, video.frame_count)
        detections = _detections(project, video_id, log)  # where installed: keyframes' start
    result = ClipResult(clip.name, len(gt), float(video.fps or 30.0))
    if "dlib" in settings.workflows and detections is None:
        result.notes.append("dlib: not installed (pip install '.[dlib]'), skipped")
    keyframes = sorted({*range(0, len(gt), settings.stride), len(gt) - 1})
    bases: dict[bool, tuple[Path, Tally]] = {}
    for workflow in settings.workflows:
        if workflow not in LOOP_WORKFLOWS:
            continue
        strategy, aware = LOOP_WORKFLOWS[workflow]
        aware = aware and settings.shape_aware
        hands = Hands(settings.person, aware, settings.seed)
        if aware not in bases:
            base = work / f"{clip.name}.start-{'shape' if aware else 'single'}.faceprop.sqlite"
            shutil.copyfile(source, base)
            tally = Tally(clip.name, "start")
            with Project.open(base) as project:
                start_loop(project, video_id, keyframes, gt, hands, tally, settings.method,
                           detections=detections, should_stop=should_stop)
            log(f"{clip.name}: {len(keyframes)} keyframes ({'shape-aware' if aware else 'single'}"
                f" drags): {tally.working_s:.0f}s working, {tally.waiting_s:.0f}s waiting, NME "
                f"{tally.points[-1].nme_percent:.2f}%")
            bases[aware] = (base, tally)
        base, start = bases[aware]
        path = work / f"{clip.name}.{workflow}.faceprop.sqlite"
        _copy_project(base, path, video_id)
        tally = _copy_tally(start, workflow)
        loop = LoopSettings(strategy, settings.rounds, settings.per_round, settings.method,
                            settings.stop_at_target)
        with Project.open(path) as project:
            run_rounds(project, video_id, gt, hands, tally, loop, seed=settings.seed, log=log,
                       should_stop=should_stop)
        result.points += tally.points
    classic_hands = Hands(settings.person, False, settings.seed)
    if "cvat" in settings.workflows:
        for tally in cvat_strategies(clip.name, gt, classic_hands, settings.cvat_strides,
                                     stop_at_target=settings.stop_at_target,
                                     detections=detections):
            result.points += tally.points
    if "dlib" in settings.workflows and detections is not None:
        result.points += detector_by_frame(clip.name, gt, detections, classic_hands,
                                           stop_at_target=settings.stop_at_target).points
    return result


def run_simulation(clips_root: Path, settings: SimulationSettings, out: Path, *,
                   log: Log = logger.info, progress: Callable[[int, int], None] | None = None,
                   should_stop: ShouldStop | None = None) -> dict:
    """Simulate every clip under ``clips_root`` and write the report into ``out``."""
    settings.check()
    clips = find_clip_folders(clips_root)
    out.mkdir(parents=True, exist_ok=True)
    results: list[ClipResult] = []
    for i, clip in enumerate(clips):
        if progress is not None:
            progress(i, len(clips))
        results.append(simulate_clip(clip, settings, out / "work", log=log,
                                     should_stop=should_stop))
    if progress is not None:
        progress(len(clips), len(clips))
    described = {**asdict(settings), "clips": str(clips_root)}
    return write_report(results, described, out)


def workflow_names(text: str) -> tuple[str, ...]:
    """``--workflows`` parsed: comma-separated names, "all" for every workflow."""
    names = tuple(w.strip() for w in text.split(",") if w.strip())
    return WORKFLOWS if names == ("all",) else names


def parse_strides(text: str) -> tuple[int, ...]:
    """``--cvat-strides`` parsed: comma-separated positive integers."""
    try:
        return tuple(int(k) for k in text.split(",") if k.strip())
    except ValueError:
        raise ValidationError(f"--cvat-strides must be integers like 5,10,20, not {text!r}"
                              ) from None

