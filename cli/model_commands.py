"""The project model's subcommands (issue 13 §2): ``train-model`` learns from the keyframes
of every video of a project; ``predict-keyframe`` places a frame's 68 points with it, inside a
face box, for a person to correct. Frames are numbered from 1, as in every message."""

from __future__ import annotations

import argparse

from cli.project_commands import add_project_argument
from cli.reporting import Reporter
from core.frame_numbers import frame_index, frame_label
from core.store import Project


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train-model", help="train the project model on every video's keyframes",
        description="Trains one network on the keyframes (frames whose every point is placed "
                    "or accepted) of all the project's videos and keeps it beside the project. "
                    "A video's first propagation then starts from it instead of from nothing, "
                    "and predict-keyframe uses it. Ctrl-C stops without changing the model.")
    add_project_argument(parser)
    parser.add_argument("--preset", default="fast", choices=("fast", "quality"),
                        help="network size (default: fast)")
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when present), cpu, or cuda[:N] (default: auto)")
    parser.set_defaults(handler=train_model)

    parser = subparsers.add_parser(
        "predict-keyframe", help="place a frame's 68 points with the project model",
        description="The project model places the 68 points of FRAME inside a face box (by "
                    "default the box of the nearest keyframe) and stores them with every "
                    "point 'predicted', for you to correct or accept. Run train-model first.")
    parser.add_argument("frame", type=int, help="the frame (1-based)")
    add_project_argument(parser)
    parser.add_argument("--video", type=int, required=True, help="the video id (see info)")
    parser.add_argument("--box", type=float, nargs=4, metavar=("X0", "Y0", "X1", "Y1"),
                        help="face box in pixels (default: the nearest keyframe's)")
    parser.add_argument("--replace", action="store_true",
                        help="overwrite the frame's labels if it has some")
    parser.add_argument("--print-only", action="store_true",
                        help="print the points (x y per line; with --json in the result) and "
                             "store nothing")
    parser.set_defaults(handler=predict_keyframe)


def train_model(args: argparse.Namespace, reporter: Reporter) -> int:
    from trainer.project_jobs import train_project_model

    with Project.open(args.project) as project:
        summary = train_project_model(project, preset=args.preset, device=args.device,
                                      progress=reporter.progress("train-model"),
                                      should_stop=reporter.should_stop)
    reporter.result(summary, f"project model trained on {summary['keyframes']} keyframes of "
                             f"{summary['videos']} video(s) in {summary['seconds']:.0f} s: "
                             f"{summary['model']}")
    return 0


def predict_keyframe(args: argparse.Namespace, reporter: Reporter) -> int:
    from trainer.project_jobs import predict_keyframe as predict
    from trainer.project_jobs import predict_points

    frame = frame_index(args.frame)
    with Project.open(args.project) as project:
        if args.print_only:
            result = predict_points(project, args.video, frame, args.box)
            points = result.pop("points")
            reporter.result({**result, "points": points.round(3).tolist()},
                            "\n".join(f"{x:.2f} {y:.2f}" for x, y in points))
            return 0
        result = predict(project, args.video, frame, args.box, replace=args.replace)
    reporter.result(result, f"video {args.video} {frame_label(frame)}: 68 points placed in "
                            f"box {result['box']} by the project model (trained on "
                            f"{result['trained_on']} keyframes); correct them, then accept")
    return 0
