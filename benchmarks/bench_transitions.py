"""Benchmark: shot transitions found while tracking a keyframe gap (issue 12 §2).

    python benchmarks/bench_transitions.py [--clips 3] [--frames 240] [--cuts 3]
                                           [--dissolve 12] [--stride 10] [--size 320 240]
                                           [--work DIR] [--out FILE.json]

The clips of ``bench_cuts.py`` (procedural faces, seeds 0, 1, ...): *dissolve* (cross-dissolves
between shots of other faces, which the index does not find), *hard* (hard cuts, here left
for the tracker as if the index had missed them), and the cut-free *pan* (away from the face
and back) and *fast* (hard motion). Each is tracked with ``flow_track`` from keyframes every
``--stride`` frames and the last, twice: as the product does (a gap whose two tracks follow two
faces is split at the change of shot, ``core.propagation.transitions``) and with every gap
blended, as before. Reports per kind the transitions found against the true cuts (precision,
recall; a find counts within half the dissolve + 1 frames) and the NME of the frames within
``--dissolve`` frames of a cut and of the whole clip, split against blended.

With ``--method METHOD`` (e.g. ``final``) each dissolve clip is also propagated in a project as
the product does (``trainer.jobs.propagate_video``, keyframes every ``--stride`` frames), with
the split and with every gap blended, and the NME of the non-keyframes within ``--dissolve``
frames of a cut is compared with the others'.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_cuts import _clip, _match, add_clip_arguments
from core import metrics
from core.propagation import transitions
from core.propagation.flow import flow_track
from core.video import VideoReader
from evaluation.bench import read_ground_truth

KINDS = ("dissolve", "hard", "pan", "fast")


@contextmanager
def splitting(on: bool) -> Iterator[None]:
    """As the product tracks (``on``), or with every gap blended, as before the split."""
    original = transitions.is_transition
    if not on:
        transitions.is_transition = lambda *args: False
    try:
        yield
    finally:
        transitions.is_transition = original


def _track(frames: list[np.ndarray], keys: dict[int, np.ndarray], split: bool):
    with splitting(split):
        return flow_track(frames.__getitem__, len(frames), keys)


def measure(folder: Path, truth: list[int], args: argparse.Namespace) -> dict:
    with VideoReader(folder / "vid.avi") as reader:
        frames = [reader.frame(i) for i in range(reader.frame_count)]
    n = len(frames)
    gt = read_ground_truth(folder, n)
    keys = {t: gt[t] for t in sorted({*range(0, n, args.stride), n - 1})}
    near = np.zeros(n, bool)
    for cut in truth:
        near[max(0, cut - args.dissolve):cut + args.dissolve] = True
    near[list(keys)] = False
    row: dict = {"clip": folder.name, "truth": truth}
    for name, split in (("split", True), ("blended", False)):
        result = _track(frames, keys, split)
        errors = 100.0 * np.asarray(metrics.nme(result.points, gt))
        row[name] = {"found": result.info.get("transitions", []),
                     "nme_near": round(float(errors[near].mean()), 3) if near.any() else None,
                     "nme": round(float(errors.mean()), 3)}
    return row


def propagated(folder: Path, truth: list[int], args: argparse.Namespace, work: Path) -> dict:
    """NME near the cuts and elsewhere of ``--method`` in a project, split against blended."""
    from benchmarks.scratch import fresh_project
    from core.formats.vw300 import import_300vw
    from core.store import Project
    from trainer.jobs import propagate_video

    clip = work / f"keys-{folder.name}"
    if not clip.exists():
        shutil.copytree(folder, clip)
        shutil.rmtree(clip / "annot")
        (clip / "annot").mkdir()
        n = len(list((clip / "gt").glob("*.pts")))
        for t in sorted({*range(0, n, args.stride), n - 1}):
            shutil.copy(clip / "gt" / f"{t + 1:06d}.pts", clip / "annot" / f"{t + 1:06d}.pts")
    row: dict = {"clip": folder.name}
    for name, split in (("split", True), ("blended", False)):
        path = fresh_project(work / f"{clip.name}-{args.method}-{name}.faceprop.sqlite")
        with splitting(split), Project.create_or_open(path) as project:
            [imported] = import_300vw(project, clip)
            keys = set(project.labels.frames(imported.video_id))
            run = propagate_video(project, imported.video_id, args.method)
            labels = project.runs.pseudo_labels(run.id)
        gt = read_ground_truth(clip, len(labels.frames))
        errors = 100.0 * np.asarray(metrics.nme(labels.points, gt[labels.frames]))
        near = np.array([any(abs(int(f) - c) < args.dissolve for c in truth)
                         and int(f) not in keys for f in labels.frames])
        rest = np.array([not m and int(f) not in keys for f, m in zip(labels.frames, near)])
        row[name] = {"transitions": (run.metrics or {}).get("transitions", []),
                     "near": round(float(errors[near].mean()), 3),
                     "rest": round(float(errors[rest].mean()), 3)}
    return row


def _mean(clips: list[dict], variant: str, key: str) -> str:
    values = [c[variant][key] for c in clips if c[variant][key] is not None]
    return f"{np.mean(values):.2f}" if values else "—"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_clip_arguments(parser)
    parser.add_argument("--stride", type=int, default=10)
    parser.add_argument("--method", help="also propagate the dissolve clips with this method")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="faceprop-transitions-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    print("| kind | true cuts | found | precision | recall | NME % near cuts: split / blended "
          "| NME % of the clips: split / blended |")
    print("|---|---|---|---|---|---|---|")
    for kind in KINDS:
        clips = [measure(*_clip(kind, seed, args, work), args) for seed in range(args.clips)]
        rows += [{"kind": kind, **c} for c in clips]
        hits = false = missed = 0
        for c in clips:
            h, f, m = _match(c["split"]["found"], c["truth"], args.dissolve // 2 + 1)
            hits, false, missed = hits + h, false + f, missed + m
        precision = hits / (hits + false) if hits + false else 1.0
        recall = hits / (hits + missed) if hits + missed else 1.0

        print(f"| {kind} | {hits + missed} | {hits + false} | {precision:.2f} | {recall:.2f} | "
              f"{_mean(clips, 'split', 'nme_near')} / {_mean(clips, 'blended', 'nme_near')} | "
              f"{_mean(clips, 'split', 'nme')} / {_mean(clips, 'blended', 'nme')} |",
              flush=True)
    if args.method:
        print(f"\n{args.method}, in a project: | clip | NME % near the dissolves: split / "
              "blended | NME % elsewhere: split / blended |")
        for seed in range(args.clips):
            row = propagated(*_clip("dissolve", seed, args, work), args, work)
            rows.append({"kind": f"dissolve-{args.method}", **row})
            s, b = row["split"], row["blended"]
            print(f"| {row['clip']} | {s['near']} / {b['near']} | {s['rest']} / {b['rest']} |",
                  flush=True)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
