"""The ``propagate`` subcommand: pseudo-label every frame of a video from its keyframes.

With ``--json`` it speaks the trainer protocol of DESIGN.md §2 on stdout, one JSON object a line:
``{"event": "progress", "task", "phase", "step", "total", "eta_s", "losses"}`` (phases: flow,
train, distill, predict), ``{"event": "run", "run_id", "video_id", "status"}``,
``{"event": "done", "result"}``, ``{"event": "error", "message"}``; the GUI reads these from its
QProcess. SIGTERM, Ctrl-C or the ``--stop-file`` appearing stop a TSAL job at a clean point: it
saves a checkpoint, keeps the results so far (run status "stopped") and ``--resume`` continues.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cli.project_commands import add_project_argument
from cli.reporting import Reporter
from core.errors import ValidationError
from core.store import Project


def register(subparsers: argparse._SubParsersAction) -> None:
    from trainer.jobs import DEFAULT_METHOD, PROPAGATORS

    parser = subparsers.add_parser(
        "propagate", help="pseudo-label every frame of a video from its keyframes",
        description="Reads the keyframes of a video from the project, propagates them to every "
                    "frame and stores the pseudo-labels, per-point confidence and per-frame "
                    "statistics as one run. The default method trains TSAL on the video "
                    "(warm-starting from its last checkpoint) and fuses it with optical-flow "
                    "tracking. Ctrl-C, SIGTERM or the stop file stop cleanly: a TSAL job keeps "
                    "its results and a checkpoint (--resume continues); earlier runs stay.")
    add_project_argument(parser)
    parser.add_argument("--video", default="all",
                        help="video id, or 'all' (default) for every video with keyframes")
    parser.add_argument("--method", default=DEFAULT_METHOD, choices=sorted(PROPAGATORS),
                        help=f"propagation method (default: {DEFAULT_METHOD})")
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when present), cpu, or cuda[:N] (default: auto)")
    parser.add_argument("--preset", default="fast", choices=("fast", "quality"),
                        help="TSAL network and schedule: fast (CPU) or quality (GPU)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: 0)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the stopped TSAL job of each video")
    parser.add_argument("--no-warm-start", dest="warm_start", action="store_false",
                        help="train from scratch and write no checkpoint")
    parser.add_argument("--stop-file", type=Path, default=None,
                        help="stop cleanly (checkpoint, keep results) when this file appears")
    parser.set_defaults(handler=propagate)


def propagate(args: argparse.Namespace, reporter: Reporter) -> int:
    from trainer.jobs import propagate_video

    with Project.open(args.project) as project:
        project.runs.mark_abandoned()
        if args.video == "all":
            counts = project.labels.count()
            video_ids = [v.id for v in project.videos.all() if counts.get(v.id)]
            if not video_ids:
                raise ValidationError(f"{args.project}: no video has a keyframe yet")
        else:
            try:
                video_ids = [int(args.video)]
            except ValueError:
                raise ValidationError(f"--video must be a video id or 'all', not "
                                      f"{args.video!r}") from None
        def should_stop() -> bool:
            return reporter.should_stop() or bool(args.stop_file and args.stop_file.exists())

        runs = []
        for video_id in video_ids:
            run = propagate_video(project, video_id, args.method,
                                  progress=reporter.progress(f"video {video_id}"),
                                  should_stop=should_stop, device=args.device,
                                  preset=args.preset, seed=args.seed, resume=args.resume,
                                  checkpoints=args.warm_start)
            reporter.event("run", run_id=run.id, video_id=video_id, status=run.status)
            runs.append(run)
    payload = {"run_ids": [r.id for r in runs], "run_id": runs[-1].id,
               "statuses": [r.status for r in runs]}
    lines = [f"run {r.id} (video {r.video_id}, {r.method}): {r.status} in "
             f"{r.timings.get('total_s', 0):.1f}s" for r in runs]
    reporter.result(payload, "\n".join(lines))
    return 0 if all(r.status in ("done", "stopped") for r in runs) else 130
