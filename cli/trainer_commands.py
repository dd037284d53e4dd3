"""The ``propagate`` subcommand: pseudo-label every frame of a video from its keyframes.

With ``--json`` it speaks the trainer protocol of DESIGN.md §2 on stdout, one JSON object a line:
``{"event": "progress", "phase", "step", "total", "eta_s"}``, ``{"event": "done", "run_id"}``,
``{"event": "error", "message"}``; the GUI reads these from its QProcess.
"""

from __future__ import annotations

import argparse

from cli.project_commands import add_project_argument
from cli.reporting import Reporter
from core.errors import ValidationError
from core.store import Project

DEFAULT_METHOD = "flow"


def register(subparsers: argparse._SubParsersAction) -> None:
    from trainer.jobs import PROPAGATORS

    parser = subparsers.add_parser(
        "propagate", help="pseudo-label every frame of a video from its keyframes",
        description="Reads the keyframes of a video from the project, propagates them to every "
                    "frame and stores the pseudo-labels, per-point confidence and per-frame "
                    "statistics as one run. Ctrl-C or SIGTERM stops cleanly (the run is marked "
                    "cancelled and earlier runs stay in use).")
    add_project_argument(parser)
    parser.add_argument("--video", default="all",
                        help="video id, or 'all' (default) for every video with keyframes")
    parser.add_argument("--method", default=DEFAULT_METHOD, choices=sorted(PROPAGATORS),
                        help=f"propagation method (default: {DEFAULT_METHOD})")
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
        runs = []
        for video_id in video_ids:
            run = propagate_video(project, video_id, args.method,
                                  progress=reporter.progress(f"video {video_id}"),
                                  should_stop=reporter.should_stop)
            reporter.event("run", run_id=run.id, video_id=video_id, status=run.status)
            runs.append(run)
    payload = {"run_ids": [r.id for r in runs], "run_id": runs[-1].id,
               "statuses": [r.status for r in runs]}
    lines = [f"run {r.id} (video {r.video_id}, {r.method}): {r.status} in "
             f"{r.timings.get('total_s', 0):.1f}s" for r in runs]
    reporter.result(payload, "\n".join(lines))
    return 0 if all(r.status == "done" for r in runs) else 130
