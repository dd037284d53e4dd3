"""The no-face and cuts subcommands (issue 12): frames where no face is to be labelled, and
the shot cuts of a video; propagation never crosses either.

Frames are numbered as a person reads them (1-based, like the 300VW ``.pts`` files and every
message); ``info`` lists each video's no-face ranges and cuts.
"""

from __future__ import annotations

import argparse

from cli.project_commands import add_project_argument
from cli.reporting import Reporter
from core.frame_numbers import frame_index, frame_list
from core.segments import describe_ranges
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
        segments = project.absences.segments(video.id, video.frame_count)
    described = describe_ranges(ranges) or "none"
    reporter.result({"video_id": video.id, "no_face": [list(r) for r in ranges],
                     "segments": [list(s) for s in segments]},
                    f"video {video.id} ({video.name}): no-face frames {described}; "
                    f"{len(segments)} face segment(s)")
    return 0


def register_cuts(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "cuts", help="list, add or remove a video's shot cuts (or find them again)",
        description="A cut at frame F (1-based) starts a new shot: propagation never reaches "
                    "across it and export-300vw starts a new clip there. Cuts are found when "
                    "a video is added; --detect finds them again from the stored index (for "
                    "videos added by an older FaceProp), keeping the cuts added by hand.")
    add_project_argument(parser)
    parser.add_argument("--video", type=int, required=True, help="the video id (see info)")
    parser.add_argument("--add", type=int, action="append", default=[], metavar="F",
                        help="add a cut at frame F (repeatable)")
    parser.add_argument("--remove", type=int, action="append", default=[], metavar="F",
                        help="remove the cut at frame F (repeatable)")
    parser.add_argument("--detect", action="store_true",
                        help="find the cuts again from the video's index first")
    parser.set_defaults(handler=cuts_command)


def cuts_command(args: argparse.Namespace, reporter: Reporter) -> int:
    with Project.open(args.project) as project:
        video = project.videos.get(args.video)
        if args.detect:
            project.cuts.detect(video.id)
        for number in args.add:
            project.cuts.add(video.id, frame_index(number))
        for number in args.remove:
            project.cuts.remove(video.id, frame_index(number))
        cuts = project.cuts.frames(video.id)
        segments = project.absences.segments(video.id, video.frame_count)
    shown = frame_list(cuts) or "none"
    reporter.result({"video_id": video.id, "cuts": cuts, "segments": [list(s) for s in segments]},
                    f"video {video.id} ({video.name}): cuts at frames {shown}; "
                    f"{len(segments)} face segment(s)")
    return 0
