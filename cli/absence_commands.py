"""The no-face subcommand (issue 12 §1): mark or clear frames where no face is to be labelled.

Frames are numbered as a person reads them (1-based, like the 300VW ``.pts`` files and every
message); ``info`` lists each video's no-face ranges. Propagation never crosses them.
"""

from __future__ import annotations

import argparse

from cli.project_commands import add_project_argument
from cli.reporting import Reporter
from core.frame_numbers import frame_index
from core.segments import describe_ranges, face_segments
from core.store import Project


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "no-face", help="mark frames of a video as showing no face (or clear the mark)",
        description="Mark frames FIRST..LAST (1-based, as in messages and .pts names) of a "
                    "video as 'no face': they get no labels, and propagation runs separately "
                    "on each face segment between them. Frames that hold labels are refused.")
    parser.add_argument("first", type=int, help="first frame (1-based)")
    parser.add_argument("last", type=int, nargs="?", help="last frame (default: FIRST)")
    add_project_argument(parser)
    parser.add_argument("--video", type=int, required=True, help="the video id (see info)")
    parser.add_argument("--clear", action="store_true",
                        help="clear the mark from those frames instead")
    parser.set_defaults(handler=no_face)


def no_face(args: argparse.Namespace, reporter: Reporter) -> int:
    last = args.first if args.last is None else args.last
    with Project.open(args.project) as project:
        video = project.videos.get(args.video)
        project.absences.mark(video.id, frame_index(args.first), frame_index(last),
                              absent=not args.clear)
        ranges = project.absences.ranges(video.id)
        segments = face_segments(video.frame_count, ranges)
    described = describe_ranges(ranges) or "none"
    reporter.result({"video_id": video.id, "no_face": [list(r) for r in ranges],
                     "segments": [list(s) for s in segments]},
                    f"video {video.id} ({video.name}): no-face frames {described}; "
                    f"{len(segments)} face segment(s)")
    return 0
