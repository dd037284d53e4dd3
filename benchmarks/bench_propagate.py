"""Benchmark: end-to-end TSAL propagation time, cold and warm-started after one correction.

    python benchmarks/bench_propagate.py [--clip DIR | --face PHOTO] [--frames 300]
                                         [--preset fast] [--baseline-preset full]
                                         [--device auto] [--out FILE.json]

Imports one 300VW clip (default: a synthetic hard 640x480 clip of ``--frames`` frames with
keyframes every 10 frames, 31 for 300; from ``--face`` when given, else a procedural face) into
a scratch project and runs the product's own path (``trainer.jobs.propagate_video``, what
``main.py propagate`` calls): first propagation from scratch, then the annotator's correction
loop — one frame replaced by its ground truth as a new keyframe — and a warm-started
re-propagation.
Reports seconds of both, their ratio (the issue's target is ≤ 25 %), the NME of each against
the clip's ``gt/`` and, as the baselines measured in the same run, interpolation and flow, the
cold run's time over the flow method's (issue 13: ≤ 8x) and, with ``--baseline-preset``, a
cold run of that preset (without checkpoints).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.reporting import emit
from core import metrics
from core.formats.vw300 import import_300vw
from core.store import Project
from evaluation.bench import read_ground_truth
from evaluation.synthetic.clip import make_clip
from evaluation.synthetic.face import load_face
from trainer.jobs import propagate_video


def score_run(project: Project, run_id: int, gt: np.ndarray, keyframes: list[int]) -> float:
    """A stored run's NME % over the non-keyframes."""
    mask = np.zeros(len(gt), dtype=bool)
    mask[keyframes] = True
    pred = project.runs.pseudo_labels(run_id).points
    return metrics.summarise(pred, gt, keyframe_mask=mask)["nme_percent"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, help="a 300VW clip folder with gt/")
    parser.add_argument("--face", type=Path, help="photo with a .pts file for a synthetic clip")
    parser.add_argument("--frames", type=int, default=300, help="synthetic clip length")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--baseline-preset", help="also time a cold run of this preset first "
                        "(e.g. full: the training before the held-out check)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip = args.clip
        if clip is None:
            clip = Path(tmp) / "clip"
            face = load_face(args.face) if args.face else None
            make_clip(clip, face=face, frames=args.frames, stride=10, difficulty="hard",
                      seed=2, size=(640, 480))
        with Project.create_or_open(Path(tmp) / "bench.faceprop.sqlite") as project:
            video_id = import_300vw(project, clip)[0].video_id
            frame_count = project.videos.get(video_id).frame_count
            gt = read_ground_truth(clip, frame_count)
            keys = project.labels.frames(video_id)
            report: dict[str, object] = {"frames": frame_count, "keyframes": len(keys),
                                         "preset": args.preset}
            for method in ("interpolation", "flow"):
                started = time.perf_counter()
                run = propagate_video(project, video_id, method)
                report[method] = {"seconds": round(time.perf_counter() - started, 2),
                                  "nme_percent": round(score_run(project, run.id, gt, keys), 3)}
            if args.baseline_preset:  # no checkpoints: it must not warm-start the cold run
                started = time.perf_counter()
                base = propagate_video(project, video_id, "final", device=args.device,
                                       preset=args.baseline_preset, checkpoints=False)
                report["baseline"] = {"preset": args.baseline_preset,
                                      "seconds": round(time.perf_counter() - started, 2),
                                      "steps": base.metrics.get("steps"),
                                      "nme_percent": round(score_run(project, base.id, gt,
                                                                    keys), 3)}
            started = time.perf_counter()
            cold = propagate_video(project, video_id, "final", device=args.device,
                                   preset=args.preset)
            cold_s = time.perf_counter() - started
            report["cold"] = {"seconds": round(cold_s, 2), "device": cold.device,
                              "steps": cold.metrics.get("steps"),
                              "nme_percent": round(score_run(project, cold.id, gt, keys), 3),
                              "timings": cold.timings}
            report["cold_over_flow"] = round(cold_s / report["flow"]["seconds"], 2)
            # the annotator corrects the worst non-keyframe of the cold run
            pred = project.runs.pseudo_labels(cold.id).points
            errors = metrics.nme(pred, gt)
            errors[keys] = -1
            worst = int(np.argmax(errors))
            project.labels.set(video_id, worst, gt[worst])
            keys2 = project.labels.frames(video_id)
            started = time.perf_counter()
            warm = propagate_video(project, video_id, "final", device=args.device,
                                   preset=args.preset)
            warm_s = time.perf_counter() - started
            report["warm"] = {"seconds": round(warm_s, 2), "corrected_frame": worst,
                              "start": warm.metrics.get("start"),
                              "steps": warm.metrics.get("steps"),
                              "nme_percent": round(score_run(project, warm.id, gt, keys2), 3),
                              "timings": warm.timings}
            report["warm_over_cold"] = round(warm_s / cold_s, 3)
    emit(report, args.out)


if __name__ == "__main__":
    main()
