"""Benchmark: training that stops on the held-out keyframe check against the full schedule.

    python benchmarks/bench_training_stop.py [--faces DIR] [--motions smooth,shaky]
                                             [--frames 300] [--stride 10] [--work DIR]
                                             [--out F.json]

Hard synthetic clips (one per photo of ``--faces`` and motion of ``--motions``, plus the
procedural clip of ``bench_propagate.py``) go through ``trainer.tsal.run`` twice in one process:
with the ``fast`` preset (steps budgeted by the frames to label, stopped by the held-out check
of ``trainer/tsal/validation.py``, the network's trust in the fusion chosen there) and with
``full`` (the same network trained for all its 360 steps, the schedule before the check).
Reports per clip the seconds, steps, trust and NME over the non-keyframes of each, and the
ratio of the NMEs (issue 13 §1: within 5 % of the full schedule, in at most 20 s).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_motion_prior import _clip_inputs
from benchmarks.reporting import emit
from core import metrics
from evaluation.synthetic.clip import make_clip, make_clips
from trainer.tsal import PRESETS, RunOptions, run


def measure(clip: Path, preset: str) -> dict:
    frames, keys, gt, fps = _clip_inputs(clip)
    mask = np.zeros(len(gt), bool)
    mask[list(keys)] = True
    started = time.perf_counter()
    result = run(frames.__getitem__, len(frames), keys, PRESETS[preset],
                 options=RunOptions(device="cpu", fps=fps))["final"]
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 1), "steps": result.info["steps"],
            "trust": result.info["trust"][0],
            "nme_percent": round(metrics.summarise(result.points, gt, keyframe_mask=mask)
                                 ["nme_percent"], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=Path("../shared/data/faces"))
    parser.add_argument("--motions", default="smooth,shaky")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--stride", type=int, default=10)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        clips = [work / "procedural"]
        if not clips[0].exists():
            make_clip(clips[0], frames=args.frames, stride=args.stride, difficulty="hard",
                      seed=2, size=(640, 480))
        if args.faces.is_dir():
            for motion in args.motions.split(","):
                made = make_clips(work / "clips", args.faces, frames=args.frames,
                                  stride=args.stride, difficulty="hard", motion=motion)
                clips += [info.path for info in made]
        report: dict[str, object] = {}
        for clip in clips:
            fast, full = measure(clip, "fast"), measure(clip, "full")
            report[clip.name] = {"fast": fast, "full": full,
                                 "nme_ratio": round(fast["nme_percent"] / full["nme_percent"],
                                                    3)}
            print(clip.name, report[clip.name], file=sys.stderr, flush=True)
    emit(report, args.out)


if __name__ == "__main__":
    main()
