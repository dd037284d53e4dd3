"""Benchmark: write and read pseudo-labels for a long video (100,000 frames by default).

    python benchmarks/bench_store.py [--frames 100000] [--out FILE.json]

Reports seconds to write one run's pseudo-labels and statistics in bulk, and to read them back
as arrays (what the GUI does when it opens a project). The baseline, measured in the same run,
is the naive path: one ORM row per frame added through a session and committed once.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.store import Project
from core.store.models import PseudoLabelRow


def long_video(path: Path, frames: int) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (32, 32))
    image = np.zeros((32, 32, 3), np.uint8)
    for i in range(frames):
        image[:] = i % 251
        image[0, 0] = i // 251 % 256
        writer.write(image)
    writer.release()
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--baseline-frames", type=int, default=10_000,
                        help="frames for the naive per-row ORM baseline (it is slow)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    n = args.frames
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 640, (n, 68, 2)).astype(np.float32)
    confidence = rng.uniform(0, 1, (n, 68)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        with Project.create_or_open(tmp / "bench.faceprop.sqlite") as project:
            video = project.videos.add(long_video(tmp / "long.avi", n))
            run = project.runs.create(video.id, "bench")
            start = time.perf_counter()
            project.runs.write_pseudo_labels(run.id, np.arange(n), points, confidence)
            write_s = time.perf_counter() - start
            start = time.perf_counter()
            project.runs.write_frame_stats(run.id, np.arange(n),
                                           {"jitter": rng.uniform(0, 1, n),
                                            "suggestion_score": rng.uniform(0, 1, n)})
            stats_write_s = time.perf_counter() - start
            start = time.perf_counter()
            loaded = project.runs.pseudo_labels(run.id)
            stats = project.runs.frame_stats(run.id)
            read_s = time.perf_counter() - start
            assert np.array_equal(loaded.points, points) and len(stats.frames) == n

            baseline_run = project.runs.create(video.id, "baseline")
            m = min(args.baseline_frames, n)
            start = time.perf_counter()
            with project.session() as session, session.begin():
                for f in range(m):
                    session.add(PseudoLabelRow(run_id=baseline_run.id, video_id=video.id,
                                               frame=f, points=points[f].tobytes(),
                                               confidence=confidence[f].tobytes()))
            baseline_s = (time.perf_counter() - start) * n / m
    result = {"frames": n, "write_pseudo_labels_s": round(write_s, 2),
              "write_frame_stats_s": round(stats_write_s, 2),
              "read_labels_and_stats_s": round(read_s, 2),
              "baseline_orm_rows_s_extrapolated": round(baseline_s, 2),
              "speed_up_vs_baseline": round(baseline_s / write_s, 1)}
    print("| measure | value |\n|---|---|")
    for key, value in result.items():
        print(f"| {key} | {value} |")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
