"""Benchmark subcommands: ``synth`` (clips with exact ground truth), ``bench`` and
``simulate-annotator`` (a simulated person's seconds in each labelling workflow)."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.reporting import Reporter
from core.errors import ValidationError

#: evaluation.synthetic.motion.MOTIONS, spelled out so that the command line starts without numpy
#: (a test keeps the two equal).
CLIP_MOTIONS = ("smooth", "shaky")

DEFAULT_METHODS = ("interpolation", "flow")

#: simulate-annotator's defaults, kept here so that building the parser imports no evaluation
#: module (tests/evaluation/test_simulate.py checks them against evaluation.simulate's).
SIMULATION_WORKFLOWS = ("faceprop", "faceprop-no-shape", "uniform", "random", "cvat", "dlib")
SIMULATION_DEFAULTS = argparse.Namespace(stride=30, rounds=8, per_round=5, method="final",
                                         cvat_strides=(5, 10, 20, 40), seed=0)
PERSON_DEFAULTS = argparse.Namespace(review_s=2.0, drag_s=1.5, accept_s=0.5, threshold=0.02,
                                     drag_noise=0.01)


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
    parser.add_argument("--motion", choices=CLIP_MOTIONS, default="smooth",
                        help="smooth: slow head motion; shaky: twice as fast with a hand-held "
                             "camera's tremor")
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
        "simulate-annotator", help="measure a simulated person's seconds in each workflow",
        description="A simulated person labels each clip in each workflow: FaceProp's loop "
                    "(keyframes every --stride frames from the template, propagate, then rounds "
                    "of --per-round frames picked by a strategy, each reviewed, dragged and "
                    "accepted, re-solved, then propagated again), CVAT's (keyframes with "
                    "interpolation) and correcting dlib frame by frame. Reports working and "
                    "waiting seconds, and the working seconds per minute of video until a clip "
                    "reaches mean NME <= 1 % with no frame over 4 %. Writes OUT/report.md, "
                    "report.json and effort curves (PNG).")
    add_simulation_arguments(parser)
    parser.set_defaults(handler=simulate_annotator)


def add_simulation_arguments(parser: argparse.ArgumentParser) -> None:
    """simulate-annotator's options: the clips, the workflows, the person's constants (their
    defaults are ``SimulationSettings``'s and ``PersonParams``'s; a test keeps them equal)."""
    person, defaults = PERSON_DEFAULTS, SIMULATION_DEFAULTS
    clips = parser.add_argument_group("clips")
    clips.add_argument("--clips", type=Path, metavar="DIR",
                       help="clips with gt/ (made by synth); otherwise made into OUT/clips")
    clips.add_argument("--faces", type=Path, metavar="DIR",
                       help="face photos with same-stem .pts files (default: drawn faces)")
    clips.add_argument("--count", type=int,
                       help="number of clips made (default: one per photo, or 3 drawn faces)")
    clips.add_argument("--frames", type=int, default=300, help="frames per clip made")
    clips.add_argument("--difficulty", choices=("easy", "hard"), default="easy",
                       help="of the clips made: hard adds fast motion, expressions and an "
                            "occluder")
    clips.add_argument("--size", type=parse_size, default="640x480", metavar="WxH",
                       help="frame size of the clips made")
    flow = parser.add_argument_group("workflows")
    flow.add_argument("--workflows", default="all",
                      help=f"comma-separated, or all: {', '.join(SIMULATION_WORKFLOWS)} "
                           "(default: all)")
    flow.add_argument("--stride", type=int, default=defaults.stride,
                      help="FaceProp's first keyframes: every K-th frame and the last "
                           "(default: %(default)s)")
    flow.add_argument("--rounds", type=int, default=defaults.rounds,
                      help="most correction rounds of FaceProp's loop (default: %(default)s)")
    flow.add_argument("--per-round", type=int, default=defaults.per_round,
                      help="frames the strategy presents in each round (default: %(default)s)")
    flow.add_argument("--method", default=defaults.method,
                      help="propagation method of FaceProp's loop (default: %(default)s)")
    flow.add_argument("--no-shape-aware", dest="shape_aware", action="store_false",
                      help="single-point drags in faceprop, uniform and random too "
                           "(faceprop-no-shape always drags single points)")
    flow.add_argument("--cvat-strides", default=",".join(map(str, defaults.cvat_strides)),
                      help="CVAT's keyframe spacings tried before its review pass; halving is "
                           "always tried too (default: %(default)s)")
    flow.add_argument("--all-rounds", dest="stop_at_target", action="store_false",
                      help="go on after the target is met (longer effort curves)")
    flow.add_argument("--seed", type=int, default=defaults.seed,
                      help="random seed: the clips made, the person's hands, random picks")
    hand = parser.add_argument_group("the person")
    hand.add_argument("--review-s", type=float, default=person.review_s,
                      help="seconds to review a presented frame (default: %(default)s)")
    hand.add_argument("--drag-s", type=float, default=person.drag_s,
                      help="seconds per drag (default: %(default)s)")
    hand.add_argument("--accept-s", type=float, default=person.accept_s,
                      help="seconds to accept a frame (default: %(default)s)")
    hand.add_argument("--tau", type=float, default=person.threshold,
                      help="smallest error the person sees and fixes, × inter-ocular distance "
                           "(default: %(default)s)")
    hand.add_argument("--noise", type=float, default=person.drag_noise,
                      help="σ of where a drag lands around the truth, × inter-ocular distance "
                           "(default: %(default)s)")
    parser.add_argument("--out", type=Path, required=True,
                        help="folder for the report, the effort curves and scratch projects")


def _make_clips(args: argparse.Namespace, out: Path, reporter: Reporter) -> list:
    from evaluation.synthetic import make_clips

    count = args.count if args.count is not None else (None if args.faces else 3)
    return make_clips(out, args.faces, count=count, frames=args.frames, stride=args.stride,
                      difficulty=args.difficulty, seed=args.seed, size=args.size,
                      progress=reporter.progress("synth"), should_stop=reporter.should_stop,
                      motion=getattr(args, "motion", "smooth"))


def _clips_root(args: argparse.Namespace, reporter: Reporter) -> Path:
    """``--clips`` when given; otherwise clips made into OUT/clips (the report's folder)."""
    args.out.mkdir(parents=True, exist_ok=True)
    if args.clips is not None:
        return args.clips
    clips_root = args.out / "clips"
    clips_root.mkdir(exist_ok=True)
    _make_clips(args, clips_root, reporter)
    return clips_root


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
    clips_root = _clips_root(args, reporter)
    report = run_benchmark(clips_root, methods, args.out, settings=settings_of(args),
                           log=reporter.message, progress=reporter.progress("bench"),
                           should_stop=reporter.should_stop)
    reporter.result({"report": str(args.out / "report.md"), "average": report["average"]},
                    (args.out / "report.md").read_text())
    return 0


def simulate_annotator(args: argparse.Namespace, reporter: Reporter) -> int:
    from evaluation.person import PersonParams
    from evaluation.simulate import (
        SimulationSettings,
        parse_strides,
        run_simulation,
        workflow_names,
    )

    settings = SimulationSettings(
        workflows=workflow_names(args.workflows), rounds=args.rounds, per_round=args.per_round,
        method=args.method, stride=args.stride, shape_aware=args.shape_aware,
        cvat_strides=parse_strides(args.cvat_strides), seed=args.seed,
        stop_at_target=args.stop_at_target,
        person=PersonParams(review_s=args.review_s, drag_s=args.drag_s,
                            accept_s=args.accept_s, threshold=args.tau,
                            drag_noise=args.noise))
    settings.check()
    clips_root = _clips_root(args, reporter)
    report = run_simulation(clips_root, settings, args.out, log=reporter.message,
                            progress=reporter.progress("simulate"),
                            should_stop=reporter.should_stop)
    reporter.result({"report": str(args.out / "report.md"), "summary": report["summary"]},
                    (args.out / "report.md").read_text())
    return 0
