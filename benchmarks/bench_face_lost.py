"""Benchmark: a face that leaves the image and returns (issue 12 §1).

    python benchmarks/bench_face_lost.py [--clips 3] [--frames 150] [--leave 60 89]
                                         [--stride 10] [--method flow] [--difficulty hard]
                                         [--size 320 240] [--work DIR] [--out FILE.json]

Each synthetic clip (procedural faces, seeds 0, 1, ...) pans away from the face on frames
``--leave`` (sliding out over the 10 frames before and back in over the 10 after; no keyframe
is written where the face is not wholly inside). Two projects per clip, propagated with
``--method``:

- *unmarked*: nobody marked the absence. Counted: the frames whose face is wholly outside the
  image ("out"), how many of them got landmarks, and how many of them (and of the frames whose
  face is wholly inside, "in") were flagged "face lost?" (``core.face_lost``); the mean
  confidence the run gave the out frames.
- *marked*: the person marked the out frames "no face" (``project.absences``), as FaceProp
  asks. Counted: out frames with landmarks (must be 0) and the NME of the in frames, against
  the unmarked run's.

Prints a Markdown table; ``--out`` writes JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.scratch import fresh_project
from core import metrics
from core.formats.vw300 import import_300vw
from core.review_queue import contiguous_segments
from core.store import Project
from evaluation.bench import read_ground_truth
from evaluation.synthetic.clip import make_clip
from trainer.jobs import propagate_video


def _nme(points: np.ndarray, truth: np.ndarray) -> float:
    return 100.0 * float(np.mean(metrics.nme(points, truth))) if len(truth) else float("nan")


def _propagate(clip: Path, project_path: Path, method: str, absent: list[tuple[int, int]]):
    with Project.create_or_open(project_path) as project:
        [imported] = import_300vw(project, clip)
        for first, last in absent:
            project.absences.mark(imported.video_id, first, last)
        run = propagate_video(project, imported.video_id, method)
        labels = project.runs.pseudo_labels(run.id)
        stats = project.runs.frame_stats(run.id)
    return labels, stats


def measure_clip(clip: Path, frames: int, size: tuple[int, int], method: str,
                 work: Path) -> dict:
    truth = read_ground_truth(clip, frames)
    width, height = size
    x, y = truth[..., 0], truth[..., 1]
    outside = (x < 0) | (y < 0) | (x > width - 1) | (y > height - 1)
    out = np.flatnonzero(outside.all(axis=1))
    inside = np.flatnonzero(~outside.any(axis=1))
    labels, stats = _propagate(clip, fresh_project(work / f"{clip.name}-unmarked.sqlite"),
                               method, [])
    lost = np.zeros(frames, bool)
    lost[stats.frames] = stats["face_lost"] > 0
    labelled = np.zeros(frames, bool)
    labelled[labels.frames] = True
    confidence = np.zeros(frames)
    confidence[labels.frames] = labels.confidence.mean(axis=1)
    spans = contiguous_segments(out)
    marked, _ = _propagate(clip, fresh_project(work / f"{clip.name}-marked.sqlite"), method,
                           spans)
    marked_labelled = np.zeros(frames, bool)
    marked_labelled[marked.frames] = True
    index_of = {int(f): i for i, f in enumerate(marked.frames)}
    both = [t for t in inside if t in index_of]
    return {
        "clip": clip.name, "out_frames": len(out), "in_frames": len(inside),
        "out_with_landmarks_unmarked": int(labelled[out].sum()),
        "out_flagged": int(lost[out].sum()), "in_flagged": int(lost[inside].sum()),
        "out_mean_confidence": round(float(confidence[out].mean()), 3) if len(out) else None,
        "out_with_landmarks_marked": int(marked_labelled[out].sum()),
        "nme_in_unmarked": round(_nme(labels.points[inside], truth[inside]), 3),
        "nme_in_marked": round(_nme(marked.points[[index_of[t] for t in both]],
                                    truth[both]), 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--leave", type=int, nargs=2, default=(60, 89))
    parser.add_argument("--stride", type=int, default=10)
    parser.add_argument("--method", default="flow")
    parser.add_argument("--difficulty", default="hard")
    parser.add_argument("--size", type=int, nargs=2, default=(320, 240))
    parser.add_argument("--work", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="faceprop-face-lost-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for seed in range(args.clips):
        clip = work / f"clip{seed:03d}"
        if not (clip / "clip.json").is_file():
            make_clip(clip, None, frames=args.frames, stride=args.stride,
                      difficulty=args.difficulty, seed=seed, size=tuple(args.size),
                      leave=tuple(args.leave))
        rows.append(measure_clip(clip, args.frames, tuple(args.size), args.method, work))
    header = list(rows[0])
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(row[h]) for h in header) + " |")
    if args.out:
        args.out.write_text(json.dumps({"args": vars(args) | {"work": str(work),
                                                             "out": str(args.out)},
                                        "rows": rows}, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
