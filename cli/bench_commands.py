"""Benchmark subcommands: ``synth`` (clips with exact ground truth), ``bench`` and
``simulate-annotator`` (the correction loop with an oracle annotator)."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.reporting import Reporter
from core.errors import ValidationError

DEFAULT_METHODS = ("interpolation", "flow")


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 640x480, not {text!r}") from None
    if width < 64 or height < 64:
        raise argparse.ArgumentTypeError(f"size {text} is too small (at least 64x64)")
    return width, height


def add_clip_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--faces", type=Path, metavar="DIR",
                        help="face photos with same-stem .pts files (default: drawn faces)")
    parser.add_argument("--count", type=int,
                        help="number of clips (default: one per photo, or 3 drawn faces)")
    parser.add_argument("--frames", type=int, default=300, help="frames per clip")
    parser.add_argument("--stride", type=int, default=10, help="keyframe every K frames")
    parser.add_argument("--difficulty", choices=("easy", "hard"), default="easy",
                        help="hard adds fast motion, expressions and an occluder")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the clips")
    parser.add_argument("--size", type=parse_size, default="640x480", metavar="WxH",
                        help="frame size")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "synth", help="make 300VW clips with exact ground truth",
        description="Animate face photos (or drawn faces) with smooth motion and expressions; "
                    "writes OUT/<clip>/vid.avi, annot/ (keyframes every --stride frames and the "
                    "last frame) and gt/ (every frame).")
    parser.add_argument("out", type=Path, help="folder to write the clips into")
    add_clip_arguments(parser)
    parser.set_defaults(handler=synth)

    parser = subparsers.add_parser(
        "bench", help="score propagation methods on clips with ground truth",
        description="Runs each method on each clip through the same propagation job users run, "
                    "scores non-keyframes and writes OUT/report.md, report.json and PNG charts.")
    parser.add_argument("--clips", type=Path, metavar="DIR",
                        help="existing clips (made by synth); otherwise clips are made first")
    add_clip_arguments(parser)
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                        help="comma-separated method names (default: %(default)s)")
    parser.add_argument("--out", type=Path, required=True,
                        help="folder for the report, charts and scratch projects")
    parser.set_defaults(handler=bench)

    parser = subparsers.add_parser(
        "simulate-annotator", help="measure annotator effort with a simulated annotator",
        description="For each clip: propagate from its keyframes, then repeat --rounds times: "
                    "the strategy picks --per-round frames, they get their ground truth (an "
                    "oracle annotator, optionally noisy) and the video is propagated again "
                    "(warm start). Writes OUT/report.md, report.json and effort curves.")
    parser.add_argument("--clips", type=Path, metavar="DIR", required=True,
                        help="clips with gt/ (made by synth)")
    parser.add_argument("--strategy", default="score,uniform,random",
                        help="comma-separated: score, uniform, random (default: all three)")
    parser.add_argument("--rounds", type=int, default=5, help="correction rounds per clip")
    parser.add_argument("--per-round", type=int, default=3,
                        help="frames the strategy picks in each round")
    parser.add_argument("--method", default="final", help="propagation method (default: final)")
    parser.add_argument("--stride", type=int, default=None,
                        help="start from every K-th ground-truth frame instead of annot/")
    parser.add_argument("--noise", type=float, default=0.0,
                        help="annotation noise σ as a fraction of the inter-ocular distance "
                             "(a careful human: 0.01)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (noise, random strategy)")
    parser.add_argument("--no-dlib", dest="with_dlib", action="store_false",
                        help="skip the dlib correction reference")
    parser.add_argument("--out", type=Path, required=True,
                        help="folder for the report and the effort curves")
    parser.set_defaults(handler=simulate_annotator)


def _make_clips(args: argparse.Namespace, out: Path, reporter: Reporter) -> list:
    from evaluation.synthetic import make_clips

    count = args.count if args.count is not None else (None if args.faces else 3)
    return make_clips(out, args.faces, count=count, frames=args.frames, stride=args.stride,
                      difficulty=args.difficulty, seed=args.seed, size=args.size,
                      progress=reporter.progress("synth"), should_stop=reporter.should_stop)


def synth(args: argparse.Namespace, reporter: Reporter) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    clips = _make_clips(args, args.out, reporter)
    payload = [{"path": str(c.path), "frames": c.frames, "keyframes": len(c.keyframes),
                "face": c.face_name} for c in clips]
    reporter.result(payload, "\n".join(f"wrote {c.path} ({c.frames} frames, "
                                       f"{len(c.keyframes)} keyframes)" for c in clips))
    return 0


def bench(args: argparse.Namespace, reporter: Reporter) -> int:
    from evaluation.bench import run_benchmark, settings_of

    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise ValidationError("--methods names no method")
    args.out.mkdir(parents=True, exist_ok=True)
    clips_root = args.clips
    if clips_root is None:
        clips_root = args.out / "clips"
        clips_root.mkdir(exist_ok=True)
        _make_clips(args, clips_root, reporter)
    report = run_benchmark(clips_root, methods, args.out, settings=settings_of(args),
                           log=reporter.message, progress=reporter.progress("bench"),
                           should_stop=reporter.should_stop)
    reporter.result({"report": str(args.out / "report.md"), "average": report["average"]},
                    (args.out / "report.md").read_text())
    return 0


def simulate_annotator(args: argparse.Namespace, reporter: Reporter) -> int:
    from evaluation.simulate import run_simulation
    from trainer.jobs import get_propagator

    strategies = [s.strip() for s in args.strategy.split(",") if s.strip()]
    get_propagator(args.method)
    report = run_simulation(args.clips, strategies, args.rounds, args.per_round, args.out,
                            method=args.method, noise=args.noise, stride=args.stride,
                            seed=args.seed, with_dlib=args.with_dlib, log=reporter.message,
                            progress=reporter.progress("simulate"),
                            should_stop=reporter.should_stop)
    reporter.result({"report": str(args.out / "report.md"), "summary": report["summary"]},
                    (args.out / "report.md").read_text())
    return 0
