"""Benchmark: the project model on a face it has not seen (issue 13 §2).

    python benchmarks/bench_project_model.py [--faces DIR] [--procedural 2] [--frames 300]
                                             [--stride 10] [--work DIR] [--out F.json]

Hard synthetic clips of several faces (the photos of ``--faces`` and ``--procedural``
procedural faces of different seeds). For each face in turn, the other faces' clips are
imported into a scratch project with their keyframes (every ``--stride`` frames) and the
project model is trained on them (``train-model``); then on the held-out face (with
``--same-face``: trained on each photo's clip, measured on a second clip of the same face
with shaky motion, as in a project of one person's videos):

- **Predict keyframe**: every frame halfway between two keyframes is predicted from its true
  face box (the tight box of its ground truth, what a person would draw), against the mean
  shape placed in the same box (what the template gives); NME over those frames;
- **first propagation**: the clip's first ``final`` propagation cold (no project model) and
  started from the project model: seconds, steps and NME over the non-keyframes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_propagate import score_run
from benchmarks.reporting import emit
from core import metrics
from core.formats.vw300 import import_300vw
from core.geometry import apply_affine, invert_affine
from core.store import Project
from evaluation.bench import read_ground_truth
from evaluation.synthetic.clip import make_clip, make_clips
from trainer import jobs
from trainer.project_jobs import predict_points, train_project_model
from trainer.tsal import PRESETS, data, project_model


def _template_in_box(box: tuple[float, float, float, float]) -> np.ndarray:
    cfg = PRESETS["fast"]
    affine = project_model.box_affine(box, cfg.crop, cfg.margin)
    return apply_affine(invert_affine(affine), data.template(cfg.crop, cfg.margin))


def _propagate(project: Project, video_id: int, gt: np.ndarray, keys: list[int]) -> dict:
    started = time.perf_counter()
    run = jobs.propagate_video(project, video_id, "final", checkpoints=True)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 1), "start": run.metrics.get("start"),
            "steps": run.metrics.get("steps"),
            "nme_percent": round(score_run(project, run.id, gt, keys), 3)}


def held_out_face(clips: list[Path], face: Path, work: Path) -> dict:
    """Train on ``clips`` (all but ``face``), measure on ``face``."""
    report: dict[str, object] = {}
    for label, use_model in (("cold", False), ("project", True)):
        path = work / f"{face.name}-{label}.faceprop.sqlite"
        with Project.create_or_open(path) as project:
            if use_model:
                for clip in clips:
                    import_300vw(project, clip)
                report["model"] = train_project_model(project, device="cpu")
            video_id = import_300vw(project, face)[0].video_id
            video = project.videos.get(video_id)
            gt = read_ground_truth(face, video.frame_count)
            keys = project.labels.frames(video_id)
            if use_model:
                halfway = [(a + b) // 2 for a, b in pairwise(keys) if b - a > 1]
                model_err, template_err = [], []
                for frame in halfway:
                    box = project_model.box_of(gt[frame])
                    points = predict_points(project, video_id, frame, box)["points"]
                    model_err.append(metrics.nme(points[None], gt[frame][None])[0])
                    template_err.append(metrics.nme(_template_in_box(box)[None],
                                                    gt[frame][None])[0])
                report["predict_keyframe"] = {
                    "frames": len(halfway),
                    "model_nme_percent": round(100 * float(np.mean(model_err)), 3),
                    "template_nme_percent": round(100 * float(np.mean(template_err)), 3)}
            report[f"propagation_{label}"] = _propagate(project, video_id, gt, keys)
    return report


def make_faces(work: Path, faces: Path, procedural: int, frames: int, stride: int
               ) -> list[Path]:
    """Hard 640 × 480 clips of ``frames`` frames with keyframes every ``stride``: ``procedural``
    procedural faces (seeds 10, 11, …) first, then one per photo of ``faces`` if it exists."""
    clips = []
    for seed in range(10, 10 + procedural):
        clip = work / "clips" / f"procedural_s{seed}"
        if not clip.exists():
            make_clip(clip, frames=frames, stride=stride, difficulty="hard", seed=seed,
                      size=(640, 480))
        clips.append(clip)
    if faces.is_dir():
        clips += [info.path for info in make_clips(work / "clips", faces, frames=frames,
                                                   stride=stride, difficulty="hard")]
    return clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=Path("../shared/data/faces"))
    parser.add_argument("--procedural", type=int, default=2)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--stride", type=int, default=10)
    parser.add_argument("--same-face", action="store_true",
                        help="train on each photo's clip, measure on another clip of the same "
                             "face (shaky motion): a project of one person's videos")
    parser.add_argument("--work", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        clips = make_faces(work, args.faces, args.procedural, args.frames, args.stride)
        report = {}
        if args.same_face:  # each photo's smooth clip teaches, its shaky clip is measured
            shaky = make_clips(work / "shaky", args.faces, frames=args.frames,
                               stride=args.stride, difficulty="hard", motion="shaky")
            pairs = [([c], s.path) for c, s in zip(clips[args.procedural:], shaky)]
        else:
            pairs = [([c for c in clips if c != face], face) for face in clips]
        for teachers, face in pairs:
            report[face.name] = held_out_face(teachers, face, work)
            print(face.name, report[face.name], file=sys.stderr, flush=True)
    emit(report, args.out)


if __name__ == "__main__":
    main()
