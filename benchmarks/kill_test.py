"""Kill test: SIGKILL FaceProp at random moments of import, propagate and export, then check that
nothing a user did was lost or left half-written.

    python benchmarks/kill_test.py --kills 30 [--seed 0] [--out KILLS/]

Eight small clips of numbered frames with a few .pts keyframes are made and three imported;
then, until ``--kills`` processes have been killed, an operation is picked at random (import of
a clip, propagate with the flow baseline or the TSAL default, export, export --force over the
previous export), started as a real ``main.py`` process and killed with SIGKILL after a random
delay drawn over that operation's own measured duration (from just before the end of the
interpreter's start-up, so that most kills land in the work itself). After each kill the next
command (``info``) runs, and the checks are:

- ``PRAGMA integrity_check`` is "ok";
- every video's keyframes equal the .pts files that were imported (points to 1e-4 px);
- no video without keyframes (a kill between a video's row and its labels);
- no run shown as "running" by ``info``;
- no staging folder (``.*.tmp-*``, ``.*.old-*``) left beside the export, and an export folder,
  when there is one, is complete (it holds the manifest and every clip's ``annot/``).

Prints one line per kill and a summary; exits 1 when there is any finding.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.formats.pts import read_pts, write_pts  # noqa: E402
from core.landmarks import mean_shape  # noqa: E402
from tests.conftest import write_numbered_video  # noqa: E402

OPERATIONS = ("import", "propagate-flow", "propagate-final", "export", "export-force")
#: Clips imported (and propagated) before the kills; the others are new videos to import.
SEEDED = 3


def make_clips(folder: Path, count: int = 8, frames: int = 40) -> list[Path]:
    clips = []
    for c in range(count):
        clip = folder / f"clip{c + 1:02d}"
        (clip / "annot").mkdir(parents=True)
        write_numbered_video(clip / "vid.avi", frames=frames + 3 * c)
        for f in range(0, frames, 10):
            write_pts(clip / "annot" / f"{f + 1:06d}.pts", mean_shape() * 30 + 70 + f * 0.5 + c)
        clips.append(clip)
    return clips


def command(operation: str, project: Path, clips: list[Path], export: Path,
            rng: random.Random) -> list[str]:
    base = [sys.executable, str(ROOT / "main.py")]
    if operation == "import":
        return [*base, "import-300vw", str(rng.choice(clips)), "--project", str(project)]
    if operation.startswith("propagate"):  # one video: a kill lands at any phase of a job
        method = operation.split("-", 1)[1]
        return [*base, "propagate", "--project", str(project), "--method", method, "--video",
                str(rng.randint(1, SEEDED))]
    if operation == "export-force":  # every frame, pseudo-labels included, over the last export
        videos = [arg for v in range(1, SEEDED + 1) for arg in ("--video", str(v))]
        return [*base, "export-300vw", str(export), "--project", str(project), "--force",
                *videos]
    return [*base, "export-300vw", str(export), "--project", str(project), "--labelled-only"]


def expected_keyframes(clips: list[Path]) -> dict[str, dict[int, np.ndarray]]:
    return {clip.name: {int(p.stem) - 1: read_pts(p) for p in (clip / "annot").glob("*.pts")}
            for clip in clips}


def check(project: Path, export: Path, expected: dict[str, dict[int, np.ndarray]]) -> list[str]:
    """Everything that must hold after a kill and the next command."""
    findings = []
    info = subprocess.run([sys.executable, str(ROOT / "main.py"), "--json", "info", "--project",
                           str(project)], capture_output=True, text=True, timeout=300)
    if info.returncode != 0:
        return [f"info failed ({info.returncode}): {info.stderr.strip()[-300:]}"]
    result = [json.loads(line) for line in info.stdout.splitlines() if line.strip()][-1]["result"]
    running = [r["id"] for r in result["runs"] if r["status"] == "running"]
    if running:
        findings.append(f"runs shown as running: {running}")
    uri = f"file:{project}?mode=ro"
    with sqlite3.connect(uri, uri=True) as db:
        if db.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            findings.append("integrity_check failed")
        for video_id, name in db.execute("SELECT id, name FROM videos").fetchall():
            rows = db.execute("SELECT frame, points FROM annotations WHERE video_id = ?",
                              (video_id,)).fetchall()
            stored = {f: np.frombuffer(b, dtype="<f4").reshape(68, 2) for f, b in rows}
            if not stored:
                findings.append(f"video {video_id} ({name}) has no keyframes")
            elif set(stored) != set(expected[name]) or any(
                    np.abs(stored[f] - expected[name][f]).max() > 1e-4 for f in stored):
                findings.append(f"video {video_id} ({name}): keyframes changed")
    leftovers = [p.name for p in export.parent.iterdir()
                 if p.name.startswith(".") and (".tmp-" in p.name or ".old-" in p.name)]
    if leftovers:
        findings.append(f"staging folders left: {leftovers}")
    if export.exists():
        if not (export / ".faceprop-export.json").is_file():
            findings.append("export folder without its manifest")
        elif any(not (clip / "annot").is_dir() for clip in export.iterdir() if clip.is_dir()):
            findings.append("export folder with an incomplete clip")
    return findings


def calibrate(operations, project, clips, export, rng) -> dict[str, float]:
    """Each operation's duration, run once to the end (they also seed the project)."""
    durations = {}
    for clip in clips[:SEEDED]:
        subprocess.run(command("import", project, [clip], export, rng), check=True,
                       capture_output=True, timeout=600)
    started = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "main.py"), "info", "--project", str(project)],
                   check=True, capture_output=True, timeout=600)
    durations["start-up"] = time.perf_counter() - started
    for operation in operations:
        started = time.perf_counter()
        pool = clips[SEEDED:SEEDED + 1] if operation == "import" else clips  # a new video
        subprocess.run(command(operation, project, pool, export, rng), check=True,
                       capture_output=True, timeout=1800)
        durations[operation] = time.perf_counter() - started
        if operation.startswith("propagate"):  # every video gets a finished run to export
            for video in range(1, SEEDED + 1):
                subprocess.run([sys.executable, str(ROOT / "main.py"), "propagate", "--project",
                                str(project), "--method", "flow", "--video", str(video)],
                               check=True, capture_output=True, timeout=600)
    return durations


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=30, help="SIGKILLs to deliver (default 30)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--operations", default=",".join(OPERATIONS),
                        help=f"comma-separated subset of {', '.join(OPERATIONS)} (default: all)")
    parser.add_argument("--out", type=Path, default=None,
                        help="work folder (default: a temporary folder, removed afterwards)")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    operations = tuple(o for o in args.operations.split(",") if o)
    unknown = set(operations) - set(OPERATIONS)
    if unknown:
        parser.error(f"unknown operations {sorted(unknown)}")
    work = args.out or Path(tempfile.mkdtemp(prefix="faceprop-kill-"))
    work.mkdir(parents=True, exist_ok=True)
    clips = make_clips(work / "clips")
    expected = expected_keyframes(clips)
    project, export = work / "kill.faceprop.sqlite", work / "exports" / "out"
    export.parent.mkdir(exist_ok=True)
    durations = calibrate(operations, project, clips, export, rng)
    print("durations (s): " + ", ".join(f"{k} {v:.1f}" for k, v in durations.items()))
    kills, findings_total, finished = 0, 0, 0
    per_operation = dict.fromkeys(operations, 0)
    while kills < args.kills:
        operation = rng.choice(operations)
        # most kills land in the work itself, some in the start-up before it
        delay = rng.uniform(0.6 * durations["start-up"], durations[operation])
        process = subprocess.Popen(command(operation, project, clips, export, rng),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if process.poll() is not None:
            finished += 1
            continue
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
        per_operation[operation] += 1
        findings = check(project, export, expected)
        findings_total += len(findings)
        status = "ok" if not findings else "; ".join(findings)
        print(f"kill {kills:2d}: {operation:<16} after {delay:5.2f}s  {status}", flush=True)
    print(f"{kills} kills ({', '.join(f'{k} {v}' for k, v in per_operation.items())}), "
          f"{finished} runs finished before their kill time, {findings_total} findings")
    if args.out is None:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 1 if findings_total else 0


if __name__ == "__main__":
    sys.exit(main())
