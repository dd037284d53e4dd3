"""A propagation job as a command: its arguments and its loop over videos, shared by
``python -m trainer`` (what the GUI starts) and ``python main.py propagate``.

The loop announces each run as soon as its row exists (``RunCreated``), so whoever started the
process can fail exactly that run when it kills the process, and announces each run's outcome
(``RunFinished``); events follow ``core.protocol``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.errors import ValidationError
from core.progress import Progress, ShouldStop
from core.protocol import DEFAULT_METHOD, EXIT_CANCELLED, EXIT_OK, Event, RunCreated, RunFinished
from core.store import Project, RunRecord


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The propagation job's arguments (the project is added by the caller)."""
    from core.methods import methods_epilog
    from trainer.jobs import PROPAGATORS

    parser.epilog = methods_epilog()

    parser.add_argument("--video", default="all",
                        help="video id, or 'all' (default) for every video with keyframes")
    parser.add_argument("--method", default=DEFAULT_METHOD, choices=sorted(PROPAGATORS),
                        metavar="METHOD",
                        help=f"propagation method, listed below (default: {DEFAULT_METHOD})")
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when present), cpu, or cuda[:N] (default: auto)")
    parser.add_argument("--preset", default="fast", choices=("fast", "full", "quality"),
                        help="TSAL network and schedule: fast (CPU; trains until a held-out "
                             "keyframe check stops improving), full (the fast network trained "
                             "for all its 360 steps: about 5x slower) or quality (GPU) "
                             "(default: fast)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: 0)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the stopped TSAL job of each video")
    parser.add_argument("--no-warm-start", dest="warm_start", action="store_false",
                        help="train from scratch and write no checkpoint")
    parser.add_argument("--crop-memory", type=int, default=1024, metavar="MB",
                        help="memory for the aligned face crops of a TSAL job; a longer video's "
                             "crops go to a temporary file beside the checkpoints "
                             "(default: %(default)s)")
    parser.add_argument("--stop-file", type=Path, default=None,
                        help="stop cleanly (checkpoint, keep results) when this file appears")


def run_jobs(args: argparse.Namespace, progress_for: Callable[[str], Progress],
             emit: Callable[[Event], None], should_stop: ShouldStop
             ) -> tuple[list[RunRecord], dict[str, Any], int]:
    """Propagate the chosen videos; returns their runs, the JSON result and the exit code."""
    from trainer.jobs import propagate_video

    def stop() -> bool:
        return should_stop() or bool(args.stop_file and args.stop_file.exists())

    with Project.open(args.project) as project:
        project.runs.mark_abandoned()
        video_ids = _video_ids(project, args.video)
        runs = []
        for video_id in video_ids:
            run = propagate_video(
                project, video_id, args.method, progress=progress_for(f"video {video_id}"),
                should_stop=stop, device=args.device, preset=args.preset, seed=args.seed,
                resume=args.resume, checkpoints=args.warm_start,
                crop_memory_mb=args.crop_memory,
                on_run_created=lambda r: emit(RunCreated(r.id, r.video_id, r.method)))
            emit(RunFinished(run.id, video_id, run.status))
            runs.append(run)
    result = {"run_ids": [r.id for r in runs], "run_id": runs[-1].id,
              "statuses": [r.status for r in runs]}
    ok = all(r.status in ("done", "stopped") for r in runs)
    return runs, result, EXIT_OK if ok else EXIT_CANCELLED


def _video_ids(project: Project, video: str) -> list[int]:
    if video == "all":
        counts = project.labels.count()
        video_ids = [v.id for v in project.videos.all() if counts.get(v.id)]
        if not video_ids:
            raise ValidationError(f"{project.target}: no video has a keyframe yet")
        return video_ids
    try:
        return [int(video)]
    except ValueError:
        raise ValidationError(f"--video must be a video id or 'all', not {video!r}") from None
