"""Benchmark: does the review queue spread out, and are the flagged points the wrong ones?

    python benchmarks/bench_suspects.py [--clips DIR | --faces DIR] [--count 3] [--frames 300]
        [--stride 10] [--difficulty hard] [--method final] [--top 5,10] [--tau 0.02,0.05]
        [--out FILE.json]

Makes synthetic clips with ground truth (as ``main.py synth`` does; or takes ``--clips``),
propagates each through the product's own job (``trainer.jobs.propagate_video``, as the bench
does) and scores, against the clip's ``gt/``:

- the per-frame error estimates (``frame_error``: −ln of the frame's mean confidence × 0.08;
  the mean of per-point −ln c × 0.08; the frame statistics' suggestion score): Pearson and
  Spearman correlation with the true NME on non-keyframes;
- ``suspect_points`` (new) against the old rule (confidence < 0.5): precision, recall and F1
  of the flagged points, a point being truly wrong when its error exceeds τ × the inter-ocular
  distance (each ``--tau``; the new rule is given the same τ); over every non-keyframe and over
  the new queue's top frames;
- the queue against the old ranking (suggestion score, 3 frames apart): ``review_queue`` of
  ``frame_error`` and the GUI's ``rank_suggestions`` (the same queue over the suggestion
  score); for the top k, the fraction of the clip's error (sum over frames of NME) inside the
  keyframe gaps the suggestions fall in (their influence), the NME left after correcting them
  (their ground truth, spread linearly to zero at the neighbouring constraints: the re-solve),
  the minimum distance between suggestions and how many share a keyframe gap with a better
  one;
- the loop a person follows in the GUI: correct the top suggestion (its ground truth), let the
  project re-solve around it (``resolve_edit``, no training), rank again from the re-solved
  run, k times; the NME over all frames after k corrections, for each ranking.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.reporting import emit
from core import metrics
from core.formats.vw300 import find_clip_folders, import_300vw
from core.landmarks import inter_ocular_distance
from core.propagation.edits import resolve_edit
from core.review_queue import frame_error, review_queue
from core.store import FrameStats, Project
from core.suggest import rank_suggestions, suspect_points
from evaluation.bench import read_ground_truth
from evaluation.synthetic.clip import make_clips
from trainer.jobs import propagate_video

OLD_THRESHOLD = 0.5
OLD_MIN_GAP = 3


def old_rank(score: np.ndarray, keyframes: list[int], limit: int) -> list[int]:
    """The ranking before issue 11: highest suggestion score first, 3 frames apart."""
    keep = (score > 0) & ~np.isin(np.arange(len(score)), keyframes)
    order = np.flatnonzero(keep)[np.argsort(-score[keep], kind="stable")]
    chosen: list[int] = []
    for i in order:
        if len(chosen) == limit:
            break
        if all(abs(int(i) - j) >= OLD_MIN_GAP for j in chosen):
            chosen.append(int(i))
    return chosen


def old_suspects(confidence: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.asarray(confidence) < OLD_THRESHOLD)


def _rank(v: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(v, kind="stable"), kind="stable").astype(float)


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    rank = _rank
    return float(np.corrcoef(rank(x), rank(y))[0, 1])


def estimate_quality(estimates: dict[str, np.ndarray], nme: np.ndarray,
                     scored: np.ndarray) -> dict[str, dict[str, float]]:
    return {name: {"pearson": round(float(np.corrcoef(e[scored], nme[scored])[0, 1]), 3),
                   "spearman": round(_spearman(e[scored], nme[scored]), 3)}
            for name, e in estimates.items()}


def flag_counts(flags: dict[int, np.ndarray], wrong: np.ndarray) -> dict[str, int]:
    """True/false positives and false negatives of flagged points over ``flags``' frames."""
    tp = fp = fn = 0
    for frame, flagged in flags.items():
        mask = np.zeros(wrong.shape[1], dtype=bool)
        mask[flagged] = True
        tp += int((mask & wrong[frame]).sum())
        fp += int((mask & ~wrong[frame]).sum())
        fn += int((~mask & wrong[frame]).sum())
    return {"tp": tp, "fp": fp, "fn": fn}


def prf(counts: dict[str, int]) -> dict[str, float]:
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    p = tp / (tp + fp) if tp + fp else float("nan")
    r = tp / (tp + fn) if tp + fn else float("nan")
    f = 2 * p * r / (p + r) if tp else 0.0
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f, 3), **counts}


def resolve(pred: np.ndarray, gt: np.ndarray, keyframes: list[int],
            picks: list[int]) -> np.ndarray:
    """Points after correcting ``picks`` to their ground truth, each correction spread linearly
    to zero at its neighbouring constraints (the nearest one's offset held past the ends)."""
    constraints = sorted({*keyframes, *picks})
    offset = np.zeros_like(pred, dtype=np.float64)
    for c in picks:
        offset[c] = gt[c] - pred[c]
    t = np.arange(len(pred))
    idx = np.array(constraints)
    lo = np.clip(np.searchsorted(idx, t, side="right") - 1, 0, len(idx) - 1)
    hi = np.clip(np.searchsorted(idx, t, side="left"), 0, len(idx) - 1)
    span = idx[hi] - idx[lo]
    alpha = np.where(span > 0, (t - idx[lo]) / np.maximum(span, 1), 0.0)[:, None, None]
    return pred + (1 - alpha) * offset[idx[lo]] + alpha * offset[idx[hi]]


def queue_quality(picks: list[int], nme: np.ndarray, pred: np.ndarray, gt: np.ndarray,
                  keyframes: list[int]) -> dict[str, float]:
    bounds = sorted({-1, *keyframes, len(nme)})
    gaps = {int(np.searchsorted(bounds, c)) for c in picks}  # gap i: (bounds[i-1], bounds[i])
    covered = sum(float(nme[bounds[i - 1] + 1:bounds[i]].sum()) for i in gaps)
    ordered = sorted(picks)
    distance = min((b - a for a, b in pairwise(ordered)), default=0)
    after = np.asarray(metrics.nme(resolve(pred, gt, keyframes, picks), gt))
    return {"covered": round(covered / max(float(nme.sum()), 1e-12), 3),
            "nme_after": round(float(after.mean()) * 100, 3),
            "min_distance": int(distance), "sharing_a_gap": len(picks) - len(gaps)}


def _top_frame(ranking: str, stats: FrameStats, keys: list[int], n: int) -> int | None:
    if ranking == "old (score, 3 apart)":
        score = np.zeros(n)
        score[stats.frames] = stats["suggestion_score"]
        picks = old_rank(score, keys, 1)
        return picks[0] if picks else None
    estimate = "confidence" if ranking == "queue (frame_error)" else "score"
    ranked = rank_suggestions(stats, set(keys), 1, estimate=estimate)
    return ranked[0].frame if ranked else None


def correction_loop(path: Path, gt: np.ndarray, ranking: str, k_max: int) -> list[float]:
    """NME % over all frames after each of ``k_max`` corrections made one at a time: the top
    suggestion of ``ranking`` set to its ground truth, then the project's re-solve."""
    nme: list[float] = []
    with Project.open(path) as project:
        video_id = project.videos.all()[0].id
        for _ in range(k_max):
            run = project.runs.latest(video_id)
            keys = project.labels.frames(video_id)
            frame = _top_frame(ranking, project.runs.frame_stats(run.id), keys, len(gt))
            if frame is None:
                break
            project.labels.set(video_id, frame, gt[frame], author="bench")
            resolve_edit(project, video_id, [frame])
            points = project.runs.pseudo_labels(project.runs.latest(video_id).id).points.copy()
            frames, manual, _visible, _sources = project.labels.arrays(video_id)
            points[frames] = manual
            nme.append(round(float(np.mean(metrics.nme(points, gt))) * 100, 3))
    return nme


def bench_clip(clip: Path, method: str, work: Path, top: list[int], taus: list[float]) -> dict:
    """Propagate one clip with ``method`` in a scratch project and score it."""
    path = work / f"{clip.name}.faceprop.sqlite"
    with Project.create_or_open(path) as project:
        video_id = import_300vw(project, clip)[0].video_id
        gt = read_ground_truth(clip, project.videos.get(video_id).frame_count)
        keys = project.labels.frames(video_id)
        started = time.perf_counter()
        run = propagate_video(project, video_id, method, checkpoints=False)
        seconds = time.perf_counter() - started
        labels = project.runs.pseudo_labels(run.id)
        stats = project.runs.frame_stats(run.id)
    report = score_clip(gt, labels.points, labels.confidence, keys, stats, top, taus)
    loops = {}
    for i, ranking in enumerate(report["queue"]):
        copy = work / f"{clip.name}.loop{i}.faceprop.sqlite"
        shutil.copyfile(path, copy)
        nme = correction_loop(copy, gt, ranking, max(top))
        loops[ranking] = {str(k): nme[k - 1] if len(nme) >= k else None for k in top}
    nme_all = round(float(np.mean(metrics.nme(labels.points, gt))) * 100, 3)
    return {"clip": clip.name, "method": method, "seconds": round(seconds, 1), **report,
            "loop": {"start": nme_all, **loops}}


def score_clip(gt: np.ndarray, points: np.ndarray, conf: np.ndarray, keys: list[int],
               stats: FrameStats, top: list[int], taus: list[float]) -> dict:
    """Every score of one propagated clip (see the module docstring)."""
    pred = points.astype(np.float64)
    n = len(gt)
    nme = np.asarray(metrics.nme(pred, gt))
    iod = np.array([inter_ocular_distance(g) for g in gt])
    point_error = np.linalg.norm(pred - gt, axis=2) / iod[:, None]
    scored = np.ones(n, dtype=bool)
    scored[keys] = False
    score = np.zeros(n)
    score[stats.frames] = stats["suggestion_score"]
    per_point = (-np.log(np.clip(conf.astype(np.float64), 1e-3, 1.0)) * 0.08).mean(axis=1)
    estimates = {"frame_error": frame_error(conf), "mean of per-point": per_point,
                 "suggestion_score": score}
    k_max = max(top)
    new = [s.frame for s in review_queue(estimates["frame_error"], keys, k_max)]
    gui = [s.frame for s in rank_suggestions(stats, set(keys), k_max)]
    old = old_rank(score, keys, k_max)
    where = {"all non-keyframes": np.flatnonzero(scored), f"top {k_max} of the queue": new}
    flags: dict[str, dict] = {}
    for tau in taus:
        wrong = point_error > tau
        for name, frames in where.items():
            flags[f"tau {tau}, {name}"] = {
                "old": prf(flag_counts({int(f): old_suspects(conf[f]) for f in frames}, wrong)),
                "new": prf(flag_counts({int(f): suspect_points(conf[f], tau=tau)
                                        for f in frames}, wrong))}
    queues = {"old (score, 3 apart)": old, "queue (frame_error)": new,
              "queue (GUI: rank_suggestions)": gui}
    quality = {name: {str(k): queue_quality(q[:k], nme, pred, gt, keys) for k in top}
               for name, q in queues.items()}
    return {"frames": n, "keyframes": len(keys),
            "nme_percent": round(float(nme[scored].mean()) * 100, 3),
            "wrong_points": {str(tau): round(float((point_error[scored] > tau).mean()), 3)
                             for tau in taus},
            "estimates": estimate_quality(estimates, nme, scored), "suspects": flags,
            "queue": quality, "picks": {name: q[:k_max] for name, q in queues.items()}}


def summary(clips: list[dict]) -> dict:
    """Pooled over clips: flag counts summed, queue scores and correlations averaged."""
    def mean(values: list[float]) -> float:
        return round(float(np.mean(values)), 3)

    first = clips[0]
    suspects = {where: {rule: prf({c: sum(clip["suspects"][where][rule][c] for clip in clips)
                                   for c in ("tp", "fp", "fn")})
                        for rule in ("old", "new")}
                for where in first["suspects"]}
    queue = {name: {k: {"covered": mean([c["queue"][name][k]["covered"] for c in clips]),
                        "nme_after": mean([c["queue"][name][k]["nme_after"] for c in clips]),
                        "min_distance": min(c["queue"][name][k]["min_distance"]
                                            for c in clips),
                        "sharing_a_gap": sum(c["queue"][name][k]["sharing_a_gap"]
                                             for c in clips)}
                     for k in first["queue"][name]}
             for name in first["queue"]}
    estimates = {name: {m: mean([c["estimates"][name][m] for c in clips])
                        for m in ("pearson", "spearman")} for name in first["estimates"]}
    loop = {name: {k: mean([c["loop"][name][k] for c in clips if "loop" in c
                            and c["loop"][name][k] is not None])
                   for k in first["queue"][name]} for name in first["queue"] if "loop" in first}
    start = mean([c["loop"]["start"] for c in clips]) if "loop" in first else None
    return {"nme_percent": mean([c["nme_percent"] for c in clips]), "estimates": estimates,
            "suspects": suspects, "queue": queue, "loop": loop, "loop_start": start}


def markdown(report: dict) -> str:
    """The summary as Markdown tables (for docs/MEASUREMENTS.md)."""
    total = report["summary"]
    lines = ["| estimate | Pearson | Spearman |", "|---|---|---|"]
    lines += [f"| {name} | {v['pearson']:.3f} | {v['spearman']:.3f} |"
              for name, v in total["estimates"].items()]
    lines += ["", "| points flagged | old P / R / F1 | new P / R / F1 | flagged old / new |",
              "|---|---|---|---|"]
    for where, rules in total["suspects"].items():
        old, new = rules["old"], rules["new"]
        lines.append(f"| {where} | {old['precision']:.2f} / {old['recall']:.2f} / "
                     f"{old['f1']:.2f} | {new['precision']:.2f} / {new['recall']:.2f} / "
                     f"{new['f1']:.2f} | {old['tp'] + old['fp']} / {new['tp'] + new['fp']} |")
    lines += ["", "| ranking | top k | error in their gaps | NME % after correcting | "
              "min distance | sharing a gap |", "|---|---|---|---|---|---|"]
    for name, by_k in total["queue"].items():
        for k, v in by_k.items():
            lines.append(f"| {name} | {k} | {v['covered']:.3f} | {v['nme_after']:.3f} | "
                         f"{v['min_distance']} | {v['sharing_a_gap']} |")
    if total["loop"]:
        ks = list(next(iter(total["loop"].values())))
        lines += ["", f"| correct the top one, re-solve, rank again (NME % from "
                      f"{total['loop_start']:.3f}) | " + " | ".join(f"after {k}" for k in ks)
                  + " |", "|---" * (len(ks) + 1) + "|"]
        lines += [f"| {name} | " + " | ".join(f"{v[k]:.3f}" for k in ks) + " |"
                  for name, v in total["loop"].items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=Path, help="300VW clip folders with gt/")
    parser.add_argument("--faces", type=Path, help="face photos with .pts (else drawn faces)")
    parser.add_argument("--count", type=int, default=None)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--stride", type=int, default=10)
    parser.add_argument("--difficulty", default="hard")
    parser.add_argument("--method", default="final")
    parser.add_argument("--top", default="5,10", help="queue lengths to score")
    parser.add_argument("--tau", default="0.02,0.05",
                        help="a point is wrong above this × inter-ocular distance (a list)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    top = sorted(int(k) for k in args.top.split(","))
    taus = [float(t) for t in args.tau.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        root = args.clips
        if root is None:
            root = Path(tmp) / "clips"
            count = args.count if args.count is not None else (None if args.faces else 3)
            make_clips(root, args.faces, count=count, frames=args.frames, stride=args.stride,
                       difficulty=args.difficulty)
        clips = []
        for clip in find_clip_folders(root):
            clips.append(bench_clip(clip, args.method, Path(tmp), top, taus))
            print(f"{clip.name}: {clips[-1]['seconds']} s", file=sys.stderr, flush=True)
    report = {"method": args.method, "tau": taus, "top": top, "clips": clips,
              "summary": summary(clips)}
    emit(report, args.out)
    print(markdown(report), file=sys.stderr)


if __name__ == "__main__":
    main()
