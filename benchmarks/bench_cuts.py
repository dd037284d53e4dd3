"""Benchmark: shot-cut detection from the video index (issue 12 §2).

    python benchmarks/bench_cuts.py [--clips 3] [--frames 240] [--cuts 3] [--dissolve 12]
                                    [--fade 12] [--size 320 240] [--work DIR] [--out FILE.json]
                                    [--video FILE ...]

Synthetic clips (procedural faces, seeds 0, 1, ...), each indexed as ``add-video`` indexes it
(``core.video.probe_video``) and searched by ``core.cuts.detect_cuts``:

- *hard*: ``--cuts`` hard cuts between shots of other faces (hard motion);
- *dissolve*: the same with ``--dissolve`` frames of cross-dissolve at each cut;
- *fade*: the same with ``--fade`` frames of fade through black at each cut;
- *pan*: one shot whose camera pans away from the face and back (no cut);
- *fast*: one shot of hard motion (no cut).

With ``--nme METHOD`` each *hard* and *fade* clip is also propagated (its keyframes: every
shot's first frame, or with a fade the first and last frames at full brightness around it, and
every ``--stride``-th frame outside the fades, so the frames before a cut have a keyframe on one
side only) twice, with the cuts found and with none (as before issue 12), and the NME of the
non-keyframes within ``--near`` frames of a cut is compared with that of the others.

A detection counts as true when it lies within 1 frame of a hard cut, or within half the
dissolve or fade (+1) of its middle. Prints precision and recall per kind (pooled over the
clips) and the false detections of the cut-free kinds. Each ``--video`` (real footage, e.g.
``../shared/data/videos/*.mp4``) is searched as it is (a single shot: every detection is
false), as *jump cuts* made from it: its frames with three stretches of ``--jump`` frames
left out, so the picture jumps at three known frames, and edited three ways that are not cuts
(a dip to black and back, a fade into a later part of the same shot, a drop of exposure).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.cuts import detect_cuts
from core.video import probe_video
from evaluation.synthetic.clip import make_clip

if TYPE_CHECKING:
    import numpy as np

KINDS = ("hard", "dissolve", "fade", "pan", "fast")


def _clip(kind: str, seed: int, args: argparse.Namespace, work: Path) -> tuple[Path, list[int]]:
    folder = work / f"{kind}{seed:03d}"
    options: dict = {"difficulty": "hard"}
    if kind in ("hard", "dissolve", "fade"):
        options.update(cuts=args.cuts, dissolve=args.dissolve if kind == "dissolve" else 0,
                       fade=args.fade if kind == "fade" else 0)
    if kind == "pan":
        options.update(leave=(args.frames // 2 - 10, args.frames // 2 + 10))
    if not (folder / "clip.json").is_file():
        make_clip(folder, None, frames=args.frames, stride=args.frames, seed=seed,
                  size=tuple(args.size), **options)
    truth = json.loads((folder / "clip.json").read_text()).get("cuts", [])
    return folder, truth


def _jump_cuts(video: Path, jump: int, work: Path) -> tuple[Path, list[int]]:
    """``video`` with three stretches of ``jump`` frames left out: (its path, the cut frames)."""
    from core.video import VideoReader, write_video

    out = work / f"{video.stem}-jumps.avi"
    with VideoReader(video) as reader:
        n, fps = reader.frame_count, reader.fps
        starts = [round(n * k / 4) for k in (1, 2, 3)]
        skipped = {f for s in starts for f in range(s, s + jump)}
        kept = [f for f in range(n) if f not in skipped]
        write_video(out, (reader.frame(f) for f in kept), fps=fps)
    cuts = [kept.index(s + jump) for s in starts if s + jump in kept]
    return out, cuts


def _edited(video: Path, work: Path) -> dict[str, Path]:
    """``video`` edited three ways that are not cuts of the face: a 12-frame dip to black and
    back to the same shot, a fade into a later part of it, and a drop of the exposure to 0.6 ×
    half-way."""
    import numpy as np

    from core.video import VideoReader, write_video

    with VideoReader(video) as reader:
        n, fps = reader.frame_count, reader.fps
        frames = [reader.frame(f) for f in range(n)]
    middle, half = n // 2, 6

    def faded(before: list, after: list) -> list:
        level = [*(np.arange(half)[::-1] / half), *(np.arange(half) / half)]
        return [*before[:-half], *(np.clip(f * lv, 0, 255).astype(np.uint8)
                                   for f, lv in zip(before[-half:] + after[:half], level)),
                *after[half:]]

    edits = {"dip": faded(frames[:middle], frames[middle:]),
             "scene": faded(frames[:middle - 40], frames[middle + 80:]),
             "exposure": frames[:middle] + [(f * 0.6).astype(np.uint8) for f in frames[middle:]]}
    paths = {}
    for name, edited in edits.items():
        paths[name] = work / f"{video.stem}-{name}.avi"
        write_video(paths[name], iter(edited), fps=fps)
    return paths


def _nme_near_cuts(folder: Path, truth: list[int], args: argparse.Namespace,
                   work: Path) -> dict:
    """Propagate a hard clip with its cuts and with none; NME near the cuts and elsewhere."""
    import numpy as np

    from benchmarks.scratch import fresh_project
    from core import metrics
    from core.formats.vw300 import import_300vw
    from core.store import Project
    from evaluation.bench import read_ground_truth
    from trainer.jobs import propagate_video

    frames = args.frames
    half = (json.loads((folder / "clip.json").read_text()).get("fade", 0) + 1) // 2
    clip = work / f"nme-{folder.name}"
    if not clip.exists():  # keyframes: shot starts and every stride-th frame, none in a fade
        shutil.copytree(folder, clip)
        shutil.rmtree(clip / "annot")
        (clip / "annot").mkdir()
        starts = {c + half for c in truth} | {c - 1 - half for c in truth if half}
        for t in sorted({*range(0, frames, args.stride), *starts}):
            if any(c - half <= t < c + half for c in truth):
                continue
            shutil.copy(clip / "gt" / f"{t + 1:06d}.pts", clip / "annot" / f"{t + 1:06d}.pts")
    gt = read_ground_truth(clip, frames)
    result = {"clip": folder.name}
    for used in ("found", "none"):
        with Project.create_or_open(fresh_project(work / f"nme-{folder.name}-{used}.sqlite")
                                    ) as project:
            [imported] = import_300vw(project, clip)
            if used == "none":
                project.cuts.replace(imported.video_id, [])
            keys = set(project.labels.frames(imported.video_id))
            run = propagate_video(project, imported.video_id, args.nme)
            labels = project.runs.pseudo_labels(run.id)
        errors = 100.0 * np.asarray(metrics.nme(labels.points, gt[labels.frames]))
        near = np.array([any(abs(int(f) - c) <= args.near for c in truth)
                         and int(f) not in keys for f in labels.frames])
        rest = np.array([not n and int(f) not in keys for f, n in zip(labels.frames, near)])
        result[used] = {"near": _mean(errors[near]), "rest": _mean(errors[rest])}
        if half:  # the frames near a fade that are at least half as bright as the shot
            dark = np.array([any(c - 1 - half / 2 < int(f) < c + half / 2 for c in truth)
                             for f in labels.frames])
            result[used]["near_visible"] = _mean(errors[near & ~dark])
    return result


def _mean(errors: np.ndarray) -> float | None:
    """The mean, rounded; None (JSON null, not NaN) when there is no frame to average."""
    return round(float(errors.mean()), 3) if errors.size else None


def _match(found: list[int], truth: list[int], tolerance: int) -> tuple[int, int, int]:
    """(true positives, false positives, missed): each true cut matches one detection."""
    left = list(found)
    hits = 0
    for cut in truth:
        near = [f for f in left if abs(f - cut) <= tolerance]
        if near:
            left.remove(min(near, key=lambda f: abs(f - cut)))
            hits += 1
    return hits, len(left), len(truth) - hits


def add_clip_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of the synthetic films (``_clip``) and of where results go."""
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--cuts", type=int, default=3)
    parser.add_argument("--dissolve", type=int, default=12)
    parser.add_argument("--fade", type=int, default=12)
    parser.add_argument("--size", type=int, nargs=2, default=(320, 240))
    parser.add_argument("--work", type=Path)
    parser.add_argument("--out", type=Path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_clip_arguments(parser)
    parser.add_argument("--video", type=Path, nargs="*", default=[])
    parser.add_argument("--jump", type=int, default=45)
    parser.add_argument("--nme", metavar="METHOD", help="also propagate the hard clips")
    parser.add_argument("--stride", type=int, default=10)
    parser.add_argument("--near", type=int, default=5)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="faceprop-cuts-"))
    work.mkdir(parents=True, exist_ok=True)
    rows, details = [], []
    for kind in KINDS:
        tp = fp = missed = 0
        for seed in range(args.clips):
            folder, truth = _clip(kind, seed, args, work)
            _info, index = probe_video(folder / "vid.avi")
            found = detect_cuts(index.fingerprints)
            tolerance = {"dissolve": args.dissolve // 2 + 1,
                         "fade": args.fade // 2 + 1}.get(kind, 1)
            hits, false, miss = _match(found, truth, tolerance)
            tp, fp, missed = tp + hits, fp + false, missed + miss
            details.append({"kind": kind, "seed": seed, "truth": truth, "found": found})
        precision = tp / (tp + fp) if tp + fp else 1.0
        recall = tp / (tp + missed) if tp + missed else 1.0
        rows.append({"kind": kind, "true_cuts": tp + missed, "detected": tp + fp,
                     "precision": round(precision, 3), "recall": round(recall, 3),
                     "false": fp})
    print("| kind | true cuts | detected | precision | recall | false detections |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['kind']} | {r['true_cuts']} | {r['detected']} | {r['precision']} | "
              f"{r['recall']} | {r['false']} |")
    real = []
    for video in args.video:
        info, index = probe_video(video)
        found = detect_cuts(index.fingerprints)
        jumped, truth = _jump_cuts(video, args.jump, work)
        _info, jump_index = probe_video(jumped)
        jump_found = detect_cuts(jump_index.fingerprints)
        hits, false, missed = _match(jump_found, truth, 1)
        real.append({"video": str(video), "frames": info.frame_count, "cuts": found,
                     "jump_truth": truth, "jump_found": jump_found})
        print(f"{video.name}: {info.frame_count} frames, cuts found {found or 'none'}; "
              f"with jump cuts at {truth}: found {jump_found} ({hits} true, {false} false, "
              f"{missed} missed)")
        for name, path in _edited(video, work).items():  # none of these is a cut
            real[-1][name] = detect_cuts(probe_video(path)[1].fingerprints)
            print(f"  {name}: cuts found {real[-1][name] or 'none'}")
    nme = []
    if args.nme:
        for kind in ("hard", "fade"):
            for seed in range(args.clips):
                folder, truth = _clip(kind, seed, args, work)
                nme.append(_nme_near_cuts(folder, truth, args, work))
        print("\n| clip | cuts used | NME % near cuts | NME % elsewhere |")
        print("|---|---|---|---|")
        for row in nme:
            for used in ("found", "none"):
                visible = row[used].get("near_visible")
                print(f"| {row['clip']} | {used} | {row[used]['near']} | {row[used]['rest']} |"
                      + (f" near, at least half bright: {visible}" if visible is not None else ""))
    if args.out:
        args.out.write_text(json.dumps({"rows": rows, "clips": details, "real": real,
                                        "nme": nme}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
