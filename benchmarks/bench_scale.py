"""Benchmark: long videos (issue 12 §4) — time per frame of each phase, peak memory, database
size, and the GUI on the long one.

    python benchmarks/bench_scale.py [--frames 300,3000,30000] [--method final] [--steps 30]
                                     [--work DIR] [--out FILE.json]

A 300-frame hard synthetic clip (640x480, procedural face) is played forwards and backwards
until each length of ``--frames`` is reached (smooth motion throughout, no cut) and written as a
300VW folder with a keyframe every 30 frames. Each length then goes through the commands a user
runs, each in its own process:

- index: ``import-300vw`` (decode every frame: fingerprints, cuts, hash; labels checked);
- propagate: ``propagate --method final`` — the run's own timings split it into flow (with the
  held-out tracking), crops, train, predict; "smooth" is the rest of its compute (fusion, the
  smoother's choice and solve, face-lost flags, statistics); "write" is the rest of the
  process's wall time (start-up, storing the pseudo-labels);
- export: ``export-300vw``.

A process's peak RSS is its VmHWM, sampled every 50 ms while it runs.

Then the database size, and on the longest video the GUI: open until the first frame is painted
with the run loaded, and Right-key to painted frame (``bench_gui.py --project``). Targets: peak
RSS under 2 GB at 30,000 frames; per-frame propagation time at 30,000 within 1.5x of 3,000.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.formats.pts import write_pts
from core.store import Project
from core.video import VideoReader, write_video
from evaluation.bench import read_ground_truth
from evaluation.synthetic.clip import make_clip, pts_name

ROOT = Path(__file__).resolve().parents[1]
STRIDE = 30


def _high_water_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), 0 once it has gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    line = next((x for x in status.splitlines() if x.startswith("VmHWM:")), "VmHWM: 0 kB")
    return int(line.split()[1]) / 1024


def _run(command: list[str]) -> dict:
    """Run ``command``: its wall seconds, its own peak RSS (MB) and its output; RuntimeError with
    its error output when it fails. The peak is the child's VmHWM, read every 50 ms while it
    runs (``getrusage``'s maxrss would include the parent's memory at the fork)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    peak = [0.0]

    def watch() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], _high_water_mb(process.pid))
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    stdout, stderr = process.communicate()
    watcher.join()
    wall = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {stderr.decode()[-2000:]}")
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(peak[0], 1),
            "stdout": stdout.decode()}


def long_clip(base: Path, frames: int, out: Path) -> Path:
    """``base`` played forwards and backwards to ``frames`` frames, keyframes every STRIDE."""
    with VideoReader(base / "vid.avi") as reader:
        images = list(reader.frames(0, reader.frame_count))
    gt = read_ground_truth(base, len(images))
    period = 2 * len(images)
    order = [i % period if i % period < len(images) else period - 1 - i % period
             for i in range(frames)]
    (out / "annot").mkdir(parents=True, exist_ok=True)
    write_video(out / "vid.avi", (images[i] for i in order), fps=30.0, quality=90)
    for t in [*range(0, frames, STRIDE), frames - 1]:
        write_pts(out / "annot" / pts_name(t), gt[order[t]])
    return out


def measure(clip: Path, work: Path, method: str) -> dict:
    keyframes = len(list((clip / "annot").glob("*.pts")))
    project = work / f"{clip.name}.faceprop.sqlite"
    main = [sys.executable, "main.py"]
    index = _run([*main, "import-300vw", "--project", str(project), str(clip)])
    propagate = _run([*main, "propagate", "--project", str(project), "--method", method])
    export = _run([*main, "export-300vw", "--project", str(project),
                   str(work / f"{clip.name}-out"), "--force"])
    with Project.open(project) as opened:
        video = opened.videos.all()[0]
        run = opened.runs.latest(video.id)
        n = video.frame_count
    timings = run.timings or {}
    parts = {name: float(timings.get(f"{name}_s", 0.0))
             for name in ("flow", "crops", "train", "predict")}
    parts["smooth"] = max(float(timings.get("compute_s", 0.0)) - sum(parts.values()), 0.0)
    parts["write"] = max(propagate["wall_s"] - float(timings.get("compute_s", 0.0)), 0.0)
    size = sum(p.stat().st_size for p in work.glob(f"{clip.name}.faceprop.sqlite*"))
    per_frame = {name: round(1000 * value / n, 3) for name, value in parts.items()}
    return {"frames": n, "keyframes": keyframes,
            "ms_per_frame": {"index": round(1000 * index["wall_s"] / n, 3), **per_frame,
                             "propagate": round(1000 * propagate["wall_s"] / n, 3),
                             "export": round(1000 * export["wall_s"] / n, 3)},
            "seconds": {"index": index["wall_s"], "propagate": propagate["wall_s"],
                        "export": export["wall_s"], **{k: round(v, 1) for k, v in parts.items()}},
            "peak_rss_mb": {"index": index["peak_rss_mb"], "propagate": propagate["peak_rss_mb"],
                            "export": export["peak_rss_mb"]},
            "database_mb": round(size / 2**20, 1), "project": str(project)}


def gui(project: Path, steps: int) -> dict:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "benchmarks/bench_gui.py", "--project", str(project),
                          "--steps", str(steps)], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", default="300,3000,30000")
    parser.add_argument("--method", default="final")
    parser.add_argument("--steps", type=int, default=30, help="key presses timed in the GUI")
    parser.add_argument("--work", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="faceprop-scale-"))
    base = work / "base"
    if not (base / "clip.json").is_file():
        make_clip(base, None, frames=300, stride=STRIDE, difficulty="hard", seed=0,
                  size=(640, 480))
    rows = []
    for count in (int(v) for v in args.frames.split(",")):
        clip = work / f"long{count}"
        if not (clip / "vid.avi").is_file():
            long_clip(base, count, clip)
        rows.append(measure(clip, work, args.method))
        print(json.dumps(rows[-1]), flush=True)
    report = {"rows": rows, "gui": gui(Path(rows[-1]["project"]), args.steps)}
    if len(rows) >= 2:
        a, b = rows[-2], rows[-1]
        report["propagate_per_frame_ratio"] = round(
            b["ms_per_frame"]["propagate"] / a["ms_per_frame"]["propagate"], 3)
    print(json.dumps({k: v for k, v in report.items() if k != "rows"}), flush=True)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
