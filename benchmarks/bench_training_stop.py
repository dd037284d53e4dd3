"""Benchmark: training that stops on the held-out keyframe check against the full schedule.

    python benchmarks/bench_training_stop.py [--faces DIR] [--motions smooth,shaky]
                                             [--variants fast,full] [--only CLIP,...]
                                             [--frames 300] [--stride 10] [--work DIR]
                                             [--out F.json]

Hard synthetic clips (one per photo of ``--faces`` and motion of ``--motions``, plus the
procedural clip of ``bench_propagate.py``) go through ``trainer.tsal.run`` twice in one process:
with the ``fast`` preset (steps budgeted by the frames to label, stopped by the held-out check
of ``trainer/tsal/validation.py``, the network's trust in the fusion chosen there) and with
``full`` (the same network trained for all its 360 steps, the schedule before the check).
Reports per clip the seconds, steps, trust and NME over the non-keyframes of each (final and
teacher alone), and the ratio of the NMEs (issue 13 §1: within 5 % of the full schedule, in at
most 20 s). ``--variants full+dsc,full`` is the ablation of disturbed-sequence consistency,
``--variants fast+shuffle,fast`` that of the shuffle pretext warm-up, ``--variants
fast+mfe,fast`` that of the learned motion field as φ (issue 13 §3) and ``--variants
full+nosic,full,full+nomfds`` those of the seed's two losses.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_motion_prior import _clip_inputs
from benchmarks.reporting import emit
from core import metrics
from evaluation.synthetic.clip import make_clip, make_clips
from trainer.tsal import PRESETS, RunOptions, TSALConfig, run

#: What a ``+EXTRA`` after a preset's name changes (the options of issue 13 §3).
EXTRAS: dict[str, dict[str, object]] = {"dsc": {"use_dsc": True},
                                        "shuffle": {"shuffle_warmup": 60},
                                        "mfe": {"flow": "mfe"},
                                        # the seed's own losses left out (their ablations)
                                        "nosic": {"use_sic": False},
                                        "nomfds": {"use_mfds": False}}


def variant_config(name: str) -> TSALConfig:
    """A preset by name, ``+dsc`` adding disturbed-sequence consistency, ``+shuffle`` the
    shuffle pretext warm-up, ``+mfe`` the learned motion field as φ, ``+nosic`` and
    ``+nomfds`` leaving out shape-inherent consistency or motion-field deviation suppression
    (e.g. ``full+dsc``, ``fast+shuffle``, ``fast+mfe``, ``full+nosic``)."""
    preset, _, extra = name.partition("+")
    if extra and extra not in EXTRAS:
        raise SystemExit(f"unknown variant {name!r}: after '+' use one of {', '.join(EXTRAS)}")
    return replace(PRESETS[preset], **EXTRAS.get(extra, {}))


def measure(clip: Path, variant: str) -> dict:
    frames, keys, gt, fps = _clip_inputs(clip)
    mask = np.zeros(len(gt), bool)
    mask[list(keys)] = True
    started = time.perf_counter()
    result = run(frames.__getitem__, len(frames), keys, variant_config(variant),
                 options=RunOptions(device="cpu", fps=fps))
    seconds = time.perf_counter() - started
    final = result["final"]
    return {"seconds": round(seconds, 1), "steps": final.info["steps"],
            "trust": final.info["trust"][0], "phi": final.info["phi"][0],
            "smooth_accel": final.info["smooth_accel"][0],
            "nme_percent": round(metrics.summarise(final.points, gt, keyframe_mask=mask)
                                 ["nme_percent"], 3),
            "teacher_nme_percent": round(metrics.summarise(
                result["teacher"].points, gt, keyframe_mask=mask)["nme_percent"], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=Path("../shared/data/faces"))
    parser.add_argument("--motions", default="smooth,shaky")
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--stride", type=int, default=10)
    parser.add_argument("--variants", default="fast,full",
                        help="presets to compare, '+dsc' adding disturbed-sequence consistency, "
                             "'+shuffle' the shuffle pretext warm-up, '+mfe' the learned motion "
                             "field as φ, '+nosic' / '+nomfds' without the seed's losses (the "
                             "ratio is the first's NME over the second's)")
    parser.add_argument("--only", help="comma-separated clip names to run (default: all)")
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
        if args.only:
            clips = [c for c in clips if c.name in args.only.split(",")]
        report: dict[str, dict] = {}
        variants = args.variants.split(",")
        for clip in clips:
            report[clip.name] = {v: measure(clip, v) for v in variants}
            first, second = (report[clip.name][v]["nme_percent"] for v in variants[:2])
            report[clip.name]["nme_ratio"] = round(first / second, 3)
            print(clip.name, report[clip.name], file=sys.stderr, flush=True)
    emit(report, args.out)


if __name__ == "__main__":
    main()
