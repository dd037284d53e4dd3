"""Instant local re-solve: how long an edit takes to recompute its gap, without training.

    python benchmarks/bench_resolve.py [--frames 300] [--stride 30] [--edits 8] [--size 640x480]

Makes a synthetic 640×480 clip with a keyframe every ``--stride`` frames (so each gap is
``stride`` frames), propagates it once with the flow method (a stand-in for a finished run: the
re-solve only needs a run's stored result), then edits one frame in the middle of ``--edits``
gaps (two mouth points moved, the rest predicted) and times ``resolve_edit``: the tracking of
the gap, the fusion with the stored result, the smoother with the new constraint and the write of
the derived revision. Reports the median and worst time with the frames cold (decoded from the
file, as after opening a video) and warm (in the reader's cache, as when the person has just
looked at them). Target (issue 11): ≤ 300 ms for a 30-frame gap on a 2-core CPU.

It also says what the re-solve buys: with ``--accuracy``, each edited frame becomes a whole
keyframe (its ground truth) and the mean NME of the frames of its two gaps is reported before
the edit, after the re-solve, and after a full re-propagation with the same method.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.formats.vw300 import import_300vw
from core.metrics import nme
from core.propagation.edits import resolve_edit
from core.review_states import PLACED, PREDICTED
from core.store import Project
from evaluation.bench import read_ground_truth
from evaluation.synthetic.clip import make_clip
from trainer.jobs import propagate_video


def accuracy(project: Project, video: int, clip: Path, middles: list[int], stride: int) -> None:
    """Mean NME (%) of the edited gaps: before, after the re-solve, after a re-propagation."""
    gt = read_ground_truth(clip, project.videos.get(video).frame_count)
    base = propagate_video(project, video, "flow")
    before = project.runs.pseudo_labels(base.id).points
    for middle in middles:
        project.labels.set(video, middle, gt[middle])  # the edit: a whole new keyframe
    resolved = resolve_edit(project, video, middles)
    after = project.runs.pseudo_labels(resolved.id).points
    full = project.runs.pseudo_labels(propagate_video(project, video, "flow").id).points
    frames = sorted({f for m in middles for f in range(m - stride // 2 + 1, m + stride // 2)
                     if f != m})
    row = [float(np.mean(nme(p[frames], gt[frames]))) * 100 for p in (before, after, full)]
    print(f"gap NME (%): before {row[0]:.2f}, after the re-solve {row[1]:.2f}, after a full "
          f"re-propagation {row[2]:.2f} ({len(frames)} frames)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=300, help="clip length (default 300)")
    parser.add_argument("--stride", type=int, default=30, help="gap length (default 30)")
    parser.add_argument("--edits", type=int, default=8, help="gaps edited (default 8)")
    parser.add_argument("--size", default="640x480", help="frame size (default 640x480)")
    parser.add_argument("--accuracy", action="store_true",
                        help="also measure the NME before/after the re-solve (see above)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as work:
        clip = make_clip(Path(work) / "clip", frames=args.frames, stride=args.stride,
                         difficulty="hard", seed=3, size=(width, height)).path
        with Project.create_or_open(Path(work) / "p.faceprop.sqlite") as project:
            [imported] = import_300vw(project, clip)
            video = imported.video_id
            propagate_video(project, video, "flow")
            keys = project.labels.frames(video)
            middles = [(a + b) // 2 for a, b in pairwise(keys)][:args.edits]
            timings: dict[str, list[float]] = {"cold": [], "warm": []}
            for middle in middles:
                for mode in ("cold", "warm"):
                    points = project.runs.pseudo_labels(project.runs.latest(video).id).points
                    moved = points[middle].copy()
                    moved[[48, 54]] += 3.0 if mode == "cold" else -3.0
                    states = np.full(68, PREDICTED, np.uint8)
                    states[[48, 54]] = PLACED
                    project.labels.set(video, middle, moved, source="corrected", states=states)
                    with project.videos.open_reader(video) as reader:
                        if mode == "warm":
                            for i in range(middle - args.stride, middle + args.stride + 1):
                                reader.frame(min(max(i, 0), args.frames - 1))
                        started = time.perf_counter()
                        resolve_edit(project, video, [middle], reader=reader)
                        timings[mode].append((time.perf_counter() - started) * 1000)
            if args.accuracy:
                accuracy(project, video, clip, middles, args.stride)
    print("| frames | gap | edits | cold median | cold worst | warm median | warm worst |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {args.frames} ({width}×{height}) | {args.stride} | {len(middles)} | "
          f"{statistics.median(timings['cold']):.0f} ms | {max(timings['cold']):.0f} ms | "
          f"{statistics.median(timings['warm']):.0f} ms | {max(timings['warm']):.0f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
