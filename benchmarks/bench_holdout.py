"""Benchmark: the held-out estimate of a run's NME against its true NME (issue 12 §3).

    python benchmarks/bench_holdout.py [--clips 3] [--faces DIR] [--frames 300] [--stride 10]
                                       [--difficulty hard] [--method flow] [--size 640 480]
                                       [--work DIR] [--out FILE.json]

Synthetic clips (procedural faces, seeds 0, 1, ...; or one per photo of ``--faces``) with a
keyframe every ``--stride`` frames are propagated with ``--method``; the run's estimated NME
(``core.propagation.holdout``, stored in the run's metrics) is compared with its true NME over
the non-keyframes (mean point error / inter-ocular distance, against ``gt/``). Target: the
estimate within ±30 % of the true NME.
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
from core.store import Project
from evaluation.bench import read_ground_truth
from evaluation.synthetic.clip import make_clips
from trainer.jobs import propagate_video


def measure(clip: Path, method: str, work: Path) -> dict:
    with Project.create_or_open(fresh_project(work / f"{clip.name}-{method}.sqlite")) as project:
        [imported] = import_300vw(project, clip)
        keys = set(project.labels.frames(imported.video_id))
        run = propagate_video(project, imported.video_id, method)
        labels = project.runs.pseudo_labels(run.id)
        gt = read_ground_truth(clip, project.videos.get(imported.video_id).frame_count)
    unlabelled = ~np.isin(labels.frames, list(keys))
    true = 100.0 * float(np.mean(metrics.nme(labels.points[unlabelled],
                                             gt[labels.frames[unlabelled]])))
    estimate = 100.0 * float(run.metrics["estimated_nme"])
    return {"clip": clip.name, "method": method, "true_nme": round(true, 3),
            "estimated_nme": round(estimate, 3), "ratio": round(estimate / true, 3),
            "held_out": run.metrics["held_out_keyframes"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--faces", type=Path)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--stride", type=int, default=10)
    parser.add_argument("--difficulty", default="hard")
    parser.add_argument("--method", default="flow")
    parser.add_argument("--size", type=int, nargs=2, default=(640, 480))
    parser.add_argument("--work", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="faceprop-holdout-"))
    clips_root = work / "clips"
    if not clips_root.is_dir():
        clips_root.mkdir(parents=True)
        make_clips(clips_root, args.faces, count=None if args.faces else args.clips,
                   frames=args.frames, stride=args.stride, difficulty=args.difficulty,
                   size=tuple(args.size))
    rows = [measure(clip, args.method, work)
            for clip in sorted(p for p in clips_root.iterdir() if (p / "clip.json").is_file())]
    print("| clip | method | true NME % | estimated NME % | estimate / true | held out |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['clip']} | {r['method']} | {r['true_nme']} | {r['estimated_nme']} | "
              f"{r['ratio']} | {r['held_out']} |")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
