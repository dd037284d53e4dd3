"""The ``propagate`` subcommand: pseudo-label every frame of a video from its keyframes.

With ``--json`` it speaks the trainer protocol (``core.protocol``) on stdout, one JSON object a
line: progress (phases: flow, train, distill, predict), run_created, run, done, error. The GUI
starts the same job as ``python -m trainer`` (``trainer/runner.py`` holds both). SIGTERM, Ctrl-C
or the ``--stop-file`` appearing stop a TSAL job at a clean point: it saves a checkpoint, keeps
the results so far (run status "stopped") and ``--resume`` continues.
"""

from __future__ import annotations

import argparse

from cli.project_commands import add_project_argument
from cli.reporting import Reporter
from core.frame_numbers import frame_list


def register(subparsers: argparse._SubParsersAction) -> None:
    from trainer.runner import add_arguments

    parser = subparsers.add_parser(
        "propagate", help="pseudo-label every frame of a video from its keyframes",
        description="Reads the keyframes of a video from the project, propagates them to every "
                    "frame and stores the pseudo-labels, per-point confidence and per-frame "
                    "statistics as one run. The default method trains TSAL on the video "
                    "(warm-starting from its last checkpoint) and fuses it with optical-flow "
                    "tracking. Ctrl-C, SIGTERM or the stop file stop cleanly: a TSAL job keeps "
                    "its results and a checkpoint (--resume continues); earlier runs stay.")
    add_project_argument(parser)
    add_arguments(parser)
    parser.set_defaults(handler=propagate)


def propagate(args: argparse.Namespace, reporter: Reporter) -> int:
    from trainer.runner import run_jobs

    runs, result, code = run_jobs(args, reporter.progress, reporter.emit, reporter.should_stop)
    lines = [f"run {r.id} (video {r.video_id}, {r.method}): {r.status} in "
             f"{r.timings.get('total_s', 0):.1f}s{_estimate_text(r.metrics)}"
             f"{_tracker_text(r.method, r.metrics)}{transitions_text(r.metrics)}" for r in runs]
    reporter.result(result, "\n".join(lines))
    return code


def _estimate_text(metrics: dict | None) -> str:
    """``; estimated NME ≈ 1.1 % from 30 held-out keyframes`` when the run has one."""
    nme = (metrics or {}).get("estimated_nme")
    if not isinstance(nme, (int, float)):
        return ""
    count = (metrics or {}).get("held_out_keyframes", "?")
    return f"; estimated NME ≈ {100 * nme:.1f} % from {count} held-out keyframes"


def transitions_text(metrics: dict | None) -> str:
    """``; the shot changes inside a gap at frames 61, 121: add cuts there (cuts --add)`` when
    tracking found dissolves or missed cuts (``core.propagation.transitions``)."""
    frames = (metrics or {}).get("transitions")
    if not isinstance(frames, list) or not frames:
        return ""
    listed = frame_list(frames)
    return (f"; the shot changes inside a keyframe gap at frame{'s' * (len(frames) > 1)} "
            f"{listed} (tracked up to it from each side; `cuts --add` makes it a cut)")


def _tracker_text(method: str, metrics: dict | None) -> str:
    """For a method that asks for the learned motion field, whether the run used it (it is
    kept only where it tracks the held-out keyframes better than Lucas-Kanade)."""
    used = (metrics or {}).get("phi")
    if not method.endswith("-mfe") or not isinstance(used, list) or not used:
        return ""
    kept = sum(1 for tracker in used if tracker == "mfe")
    if kept == len(used):
        return "; tracked with the learned motion field"
    if kept == 0:
        return ("; tracked with Lucas-Kanade (the learned motion field tracked the held-out "
                "keyframes no better)")
    return f"; the learned motion field on {kept} of {len(used)} face segments"
