"""Sanity check on a real video without ground truth: held-out detector labels as reference.

    python benchmarks/bench_real_video.py VIDEO [--every 12] [--methods interpolation,flow,final]

Real footage has motion the synthetic clips do not (camera shake, real head turns, H.264
artefacts, another frame rate). With no human labels for every frame, dlib's 68-point predictor
labels every ``every``-th frame; the even-numbered of those become keyframes and the odd ones are
held out. Each method propagates from the keyframes and is scored (NME, inter-ocular) against
the held-out detections. dlib's own error (several % NME on the synthetic clips) is in every
number, so only the comparison between methods means something: a method that follows real
motion worse than the tracker (say, an over-smoothing final stage) shows up as a larger error.
Needs the optional dlib extra.
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
from core.propagation import dlib_available, dlib_detect
from core.store import Project
from trainer.jobs import propagate_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--every", type=int, default=12)
    parser.add_argument("--methods", default="interpolation,flow,final")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    available, why = dlib_available()
    if not available:
        sys.exit(f"needs dlib: {why}")
    with tempfile.TemporaryDirectory() as tmp, \
            Project.create_or_open(Path(tmp) / "real.faceprop.sqlite") as project:
        video = project.videos.add(args.video)
        n = video.frame_count
        labelled = list(range(0, n, args.every))
        with project.videos.open_reader(video.id) as reader:
            frames = {i: reader.frame(i) for i in labelled}
        detection = dlib_detect(lambda i: frames[labelled[i]], len(labelled))
        detected = detection.points
        found = {f for i, f in enumerate(labelled) if detection.confidence[i].mean() > 0}
        keys = [f for f in labelled[0::2] if f in found]
        held = [f for f in labelled[1::2] if f in found]  # frames where dlib found no face drop
        for i, frame in enumerate(labelled):
            if frame in keys:
                # the held-in detections stand in for a person's keyframes here
                project.labels.set(video.id, frame, detected[i], source="imported")
        reference = np.stack([detected[labelled.index(f)] for f in held])
        report: dict[str, object] = {"video": str(args.video), "frames": n, "fps": video.fps,
                                     "keyframes": len(keys), "held_out": len(held)}
        for method in args.methods.split(","):
            started = time.perf_counter()
            run = propagate_video(project, video.id, method, checkpoints=False)
            pred = project.runs.pseudo_labels(run.id).points[held]
            errors = np.asarray(metrics.nme(pred, reference))
            estimated = (run.metrics or {}).get("estimated_nme")
            report[method] = {"nme_vs_held_out_dlib_percent": round(float(errors.mean()) * 100, 2),
                              "median_percent": round(float(np.median(errors)) * 100, 2),
                              "seconds": round(time.perf_counter() - started, 1),
                              # the run's own estimate from its held-out keyframes (also
                              # against dlib's labels: comparable with the first figure)
                              "estimated_nme_percent": None if estimated is None
                              else round(100 * float(estimated), 2),
                              # one shot: a shot change found while tracking is a false one
                              "transitions": (run.metrics or {}).get("transitions", [])}
            print(method, report[method], flush=True)
    emit(report, args.out)


if __name__ == "__main__":
    main()
