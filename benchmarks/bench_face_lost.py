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
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.formats.pts import read_pts
from core.formats.vw300 import import_300vw
from core.landmarks import inter_ocular_distance
from core.review_queue import contiguous_segments
from core.store import Project
from evaluation.synthetic.clip import make_clip
from trainer.jobs import propagate_video


def _truth(clip: Path, frames: int) -> np.ndarray:
    return np.stack([read_pts(clip / "gt" / f"{t + 1:06d}.pts") for t in range(frames)])


def _nme(points: np.ndarray, truth: np.ndarray) -> float:
    errors = [np.linalg.norm(p - g, axis=1).mean() / inter_ocular_distance(g)
              for p, g in zip(points, truth)]
    return 100.0 * float(np.mean(errors)) if errors else float("nan")


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
    truth = _truth(clip, frames)
    width, height = size
    x, y = truth[..., 0], truth[..., 1]
    outside = (x < 0) | (y < 0) | (x > width - 1) | (y > height - 1)
    out = np.flatnonzero(outside.all(axis=1))
    inside = np.flatnonzero(~outside.any(axis=1))
    labels, stats = _propagate(clip, work / f"{clip.name}-unmarked.sqlite", method, [])
    lost = np.zeros(frames, bool)
    lost[stats.frames] = stats["face_lost"] > 0
    labelled = np.zeros(frames, bool)
    labelled[labels.frames] = True
    confidence = np.zeros(frames)
    confidence[labels.frames] = labels.confidence.mean(axis=1)
    spans = contiguous_segments(out)
    marked, _ = _propagate(clip, work / f"{clip.name}-marked.sqlite", method, spans)
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
        for stale in work.glob(f"{clip.name}-*.sqlite*"):  # projects and their checkpoints
            if stale.is_dir():
                shutil.rmtree(stale)
            else:
                stale.unlink()
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
