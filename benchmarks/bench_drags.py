"""Benchmark: drags per corrected frame, shape-aware against single-point drags (issue 11 §2).

    python benchmarks/bench_drags.py [--faces DIR] [--clips 3] [--frames 300] [--stride 10]
                                     [--seed 0] [--work DIR] [--out FILE.json]
                                     [--prior-strength N] [--no-slide] [--follow S W]

Makes hard synthetic clips (procedural faces with seeds seed, seed+1, ...; or one per photo of
``--faces``, e.g. ``../shared/data/faces``, real photos with human labels, animated), keyframes
every ``stride`` frames. The simulated person of ``evaluation.person`` then corrects, with and
without the shape model:

- new keyframes from the template: the first keyframe of a video (every keyframe in turn, no
  video data: the generic prior alone), the second keyframe (every later keyframe, the model of
  the first one) and a keyframe added half-way between two labelled ones (the model fit on the
  clip's keyframes, as in the product);
- predicted frames: every non-keyframe as the ``flow`` propagator (``core.propagation
  .flow_track``) leaves it, the model fit on the keyframes.

Prints a Markdown table (drags and seconds per corrected frame, their ratio, final NME) and,
with ``--out``, JSON. ``--work`` keeps the clips and the flow tracks between runs.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.landmarks import inter_ocular_distance
from core.propagation import flow_track
from core.shape_model import PREDICTION_UNCERTAINTY, TEMPLATE_UNCERTAINTY, ShapeModel
from core.shape_prior import ShapePrior, generic_prior
from core.video import VideoReader
from evaluation.bench import read_ground_truth
from evaluation.person import PersonParams, correct_frames, summarise, template_for
from evaluation.synthetic.clip import keyframe_indices, make_clip
from evaluation.synthetic.face import find_faces, load_face

CASES = ("first keyframe (generic prior)", "second keyframe (model of one)",
         "new keyframe (video model)", "predicted frame (flow, video model)")


def _clip(work: Path, name: str, face_path: Path | None, seed: int, frames: int,
          stride: int) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """(ground truth, flow track, keyframes) of one clip, made or read from ``work``."""
    folder = work / name
    cache = folder / "flow.npz"
    keys = keyframe_indices(frames, stride)
    if not (folder / "clip.json").exists():
        face = load_face(face_path) if face_path is not None else None
        make_clip(folder, face, frames=frames, stride=stride, difficulty="hard", seed=seed)
    gt = read_ground_truth(folder, frames)
    if cache.exists():
        with np.load(cache) as data:
            return gt, data["points"], keys
    with VideoReader(folder / "vid.avi") as reader:
        track = flow_track(reader.frame, frames, {k: gt[k] for k in keys})
    np.savez_compressed(cache, points=track.points, confidence=track.confidence)
    return gt, track.points, keys


def _templates(gt: np.ndarray, frames: list[int]) -> np.ndarray:
    return np.stack([template_for(gt[t]) for t in frames])


def _cases(gt: np.ndarray, flow: np.ndarray, keys: list[int], stride: int, prior: ShapePrior
           ) -> dict[str, tuple[ShapeModel, np.ndarray, np.ndarray, float]]:
    """Per case: (model, start shapes, truths, uncertainty of the start shapes)."""
    video_model = ShapeModel.fit(gt[keys], prior)
    halves = [k + stride // 2 for k in keys[:-1] if k + stride // 2 not in keys]
    others = [t for t in range(len(gt)) if t not in set(keys)]
    return {
        CASES[0]: (ShapeModel.fit((), prior), _templates(gt, keys), gt[keys],
                   TEMPLATE_UNCERTAINTY),
        CASES[1]: (ShapeModel.fit(gt[keys[:1]], prior), _templates(gt, keys[1:]),
                   gt[keys[1:]], TEMPLATE_UNCERTAINTY),
        CASES[2]: (video_model, _templates(gt, halves), gt[halves],
                   TEMPLATE_UNCERTAINTY),
        CASES[3]: (video_model, flow[others], gt[others], PREDICTION_UNCERTAINTY),
    }


def _solve_ms(gt: np.ndarray) -> float:
    """Median milliseconds of one drag's solve on a template, with ten points placed."""
    model = ShapeModel.fit(gt[::10])
    start = template_for(gt[5])
    fixed = np.zeros(len(start), dtype=bool)
    fixed[::7] = True
    times = []
    for k in range(200):
        index = 1 + (k * 7) % 67
        index += fixed[index]
        began = time.perf_counter()
        model.solve(start, {index: gt[5][index]}, fixed=fixed,
                    uncertainty=TEMPLATE_UNCERTAINTY)
        times.append(time.perf_counter() - began)
    return 1000 * float(np.median(times))


def _row(case: str, single: dict, aware: dict) -> str:
    ratio = aware["drags_per_corrected"] / max(single["drags_per_corrected"], 1e-9)
    return (f"| {case} | {single['frames']} | {single['corrected']} | "
            f"{single['drags_per_corrected']:.2f} | {aware['drags_per_corrected']:.2f} | "
            f"{ratio:.2f} ({100 * (ratio - 1):+.0f} %) | {single['seconds_per_corrected']:.1f} | "
            f"{aware['seconds_per_corrected']:.1f} | {single['nme_percent']:.2f} | "
            f"{aware['nme_percent']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, help="photos with .pts files (one clip each)")
    parser.add_argument("--clips", type=int, default=3, help="procedural clips without --faces")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--stride", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", type=Path, help="keep clips and flow tracks here")
    parser.add_argument("--out", type=Path, help="also write the results as JSON")
    parser.add_argument("--prior-strength", type=float,
                        help="shapes the generic prior is worth (default: the prior's own)")
    parser.add_argument("--no-slide", action="store_true", help="contour points do not slide")
    parser.add_argument("--follow", type=float, nargs=2, metavar=("STRONG", "WEAK"),
                        help="follow weights of the dragged part and of the rest")
    args = parser.parse_args()
    sources: list[tuple[str, Path | None, int]]
    if args.faces:
        sources = [(f"{p.stem}_hard_s{args.seed + i}", p, args.seed + i)
                   for i, p in enumerate(find_faces(args.faces))]
    else:
        sources = [(f"procedural_hard_s{args.seed + i}", None, args.seed + i)
                   for i in range(args.clips)]
    params = PersonParams()
    prior = generic_prior()
    if args.prior_strength is not None:
        prior = replace(prior, strength=args.prior_strength)
    pooled: dict[str, dict[str, list]] = {c: {"single": [], "aware": []} for c in CASES}
    per_clip: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        for name, photo, seed in sources:
            gt, flow, keys = _clip(work, name, photo, seed, args.frames, args.stride)
            per_clip[name] = {"flow_nme_percent": float(100 * np.mean(
                np.linalg.norm(flow - gt, axis=-1).mean(axis=1) / inter_ocular_distance(gt)))}
            for case, (model, starts, truths, unc) in _cases(gt, flow, keys, args.stride,
                                                             prior).items():
                single = correct_frames(starts, truths, seed=seed, params=params)
                aware = correct_frames(starts, truths, seed=seed, model=model, params=params,
                                       uncertainty=unc, slide=not args.no_slide,
                                       follow=tuple(args.follow) if args.follow else None)
                pooled[case]["single"] += single
                pooled[case]["aware"] += aware
                per_clip[name][case] = {"single": summarise(single), "aware": summarise(aware)}
    lines = ["| case | frames | corrected | drags/frame single | drags/frame shape-aware | "
             "ratio (change) | s/corrected frame single | s/corrected frame shape-aware | "
             "NME % single | NME % shape-aware |", "|---|---|---|---|---|---|---|---|---|---|"]
    summary = {}
    for case in CASES:
        single, aware = (summarise(pooled[case][k]) for k in ("single", "aware"))
        summary[case] = {"single": single, "aware": aware}
        lines.append(_row(case, single, aware))
    print("\n".join(lines))
    solve_ms = _solve_ms(gt)
    print(f"\nsolve: {solve_ms:.2f} ms per drag (median of 200, video model, 10 points fixed); "
          "flow NME % per clip: " + ", ".join(f"{k} {v['flow_nme_percent']:.2f}"
                                              for k, v in per_clip.items()))
    if args.out:
        args.out.write_text(json.dumps({"settings": vars(args) | {"faces": str(args.faces),
                                                                  "work": str(args.work),
                                                                  "out": str(args.out)},
                                        "solve_ms": solve_ms, "summary": summary,
                                        "clips": per_clip}, indent=1) + "\n")


if __name__ == "__main__":
    main()
