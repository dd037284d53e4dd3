"""Format subcommands: ``export --format`` and ``import --format`` for 300VW, COCO and CVAT.

300VW stays the default format; ``export-300vw`` and ``import-300vw`` (``cli.project_commands``)
remain as aliases: ``--format 300vw`` calls the very same handlers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from cli import project_commands
from cli.project_commands import add_project_argument, project_for_writing
from cli.reporting import Reporter
from core.errors import ValidationError
from core.store import Project

FORMATS = ("300vw", "coco", "cvat")
FACE_LABEL = "face"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export", help="export the project as 300VW clips, COCO keypoints or CVAT XML",
        description="Write every labelled frame (manual labels win over the pseudo-labels of "
                    "each video's latest finished run). 300vw: OUT/<video>/vid.avi + "
                    "annot/NNNNNN.pts + provenance.csv; coco: OUT/annotations.json (with "
                    "--frames, the frame images too); cvat: OUT/<video>/annotations.xml (CVAT "
                    "for video 1.1). The export is written to a temporary folder and moved "
                    "into place, so a failure leaves OUT as it was.")
    parser.add_argument("out", type=Path, metavar="OUT",
                        help="folder to write (new or empty, or an earlier export with --force)")
    parser.add_argument("--format", "-f", choices=FORMATS, default="300vw",
                        help="dataset format (default: %(default)s)")
    add_project_argument(parser)
    parser.add_argument("--run", type=int, metavar="ID",
                        help="take pseudo-labels from this run (default: each video's latest "
                             "finished run)")
    parser.add_argument("--video", type=int, action="append", dest="videos", metavar="ID",
                        help="export only this video id; repeatable (default: every video)")
    parser.add_argument("--labelled-only", action="store_true",
                        help="write only manually labelled frames (default: off; 300vw and "
                             "coco then skip the other frames, cvat lets CVAT interpolate)")
    parser.add_argument("--keep-gaps", action="store_true",
                        help="300vw only: a video with 'no face' frames stays one clip, those "
                             "frames without .pts, instead of one clip per face segment "
                             "(default: off)")
    parser.add_argument("--frames", choices=("jpg", "png"),
                        help="coco only: also write each exported frame as an image, "
                             "OUT/<video>/NNNNNN.jpg (default: none; images reference their "
                             "video and frame index)")
    parser.add_argument("--force", action="store_true",
                        help="replace OUT when it holds an earlier FaceProp export, never "
                             "anything else (default: off)")
    parser.add_argument("--verify-full", action="store_true",
                        help="compare each video's whole content hash, not just sampled "
                             "blocks (default: off)")
    parser.set_defaults(handler=export_command)

    parser = subparsers.add_parser(
        "import", help="import 300VW clips, COCO keypoints or CVAT XML into a project",
        description="The project is created if missing. The whole file is read and checked "
                    "before anything is written; each video's labels are written in one "
                    "transaction (source 'imported').")
    parser.add_argument("source", type=Path, metavar="SRC",
                        help="300vw: a clip folder or a folder of them; coco: a .json file or "
                             "a folder holding annotations.json; cvat: an .xml file or a folder "
                             "holding annotations.xml")
    parser.add_argument("--format", "-f", choices=FORMATS, default="300vw",
                        help="dataset format (default: %(default)s)")
    add_project_argument(parser)
    parser.add_argument("--video", type=Path, action="append", dest="videos", metavar="FILE",
                        help="coco and cvat: the video the labels belong to (added to the "
                             "project unless it is there already); coco: repeatable, matched "
                             "by name (default: the project's video of the same name)")
    parser.add_argument("--label", default=FACE_LABEL,
                        help="coco: the category, cvat: the track label that holds the 68 "
                             "points (default: %(default)s)")
    parser.add_argument("--include-pseudo", action="store_true",
                        help="coco: also import annotations a FaceProp export marked as "
                             "pseudo-labels, as keyframes (default: off, they are skipped)")
    parser.add_argument("--transcode", action="store_true",
                        help="store an intra-frame MJPG copy of each new video for instant "
                             "seeks (default: off)")
    parser.set_defaults(handler=import_command)


def _refuse(condition: object, message: str) -> None:
    if condition:
        raise ValidationError(message)


def export_command(args: argparse.Namespace, reporter: Reporter) -> int:
    if args.format == "300vw":
        _refuse(args.frames, "--frames applies to --format coco only")
        return project_commands.export_300vw(args, reporter)
    from core.formats.coco import export_coco
    from core.formats.cvat import export_cvat

    _refuse(args.frames and args.format != "coco", "--frames applies to --format coco only")
    common = {"video_ids": args.videos, "run_id": args.run,
              "labelled_only": args.labelled_only, "force": args.force,
              "progress": reporter.progress("export"), "should_stop": reporter.should_stop}
    with Project.open(args.project) as project:
        if args.verify_full:
            for video in project.videos.all():
                project.videos.verify_file(video.id, full=True)
        if args.format == "coco":
            results = export_coco(project, args.out, frames=args.frames, **common)
        else:
            results = export_cvat(project, args.out, **common)
    payload = [{"path": str(r.path), "video_id": r.video_id, "frames": r.frames,
                "keyframes": r.keyframes, "pseudo": r.pseudo, "run_id": r.run_id}
               for r in results]
    lines = [f"exported video {r.video_id} to {r.path}: {r.frames} frames ({r.keyframes} "
             f"keyframes, {r.pseudo} pseudo-labelled)" for r in results]
    reporter.result(payload, "\n".join(lines))
    return 0


def import_command(args: argparse.Namespace, reporter: Reporter) -> int:
    _refuse(args.include_pseudo and args.format != "coco",
            "--include-pseudo applies to --format coco only")
    _refuse(args.label != FACE_LABEL and args.format == "300vw",
            "--label applies to --format coco and cvat only")
    if args.format == "300vw":
        _refuse(args.videos, "--video applies to --format coco and cvat only (a 300VW clip "
                "folder holds its video, vid.avi)")
        return project_commands.import_300vw(args, reporter)
    videos = args.videos or []
    if args.format == "coco":
        from core.formats.coco import import_coco, read_coco

        # a bad file fails before a project file is created
        parsed = read_coco(args.source, label=args.label, include_pseudo=args.include_pseudo)
        with project_for_writing(args.project) as project:
            results = import_coco(project, parsed, videos=videos, transcode=args.transcode,
                                  progress=reporter.progress("import"),
                                  should_stop=reporter.should_stop)
        notes = [f"skipped {parsed.skipped_pseudo} pseudo-labels (--include-pseudo imports "
                 "them)"] if parsed.skipped_pseudo else []
    else:
        from core.formats.cvat import import_cvat, read_cvat

        if len(videos) > 1:
            raise ValidationError("--video: a CVAT for video file labels one video; give one")
        parsed = read_cvat(args.source, label=args.label)
        with project_for_writing(args.project) as project:
            results = [import_cvat(project, parsed, video=videos[0] if videos else None,
                                   transcode=args.transcode,
                                   progress=reporter.progress("import"),
                                   should_stop=reporter.should_stop)]
        ignored = parsed.ignored
        notes = [f"ignored {ignored['interpolated']} interpolated (keyframe=\"0\") and "
                 f"{ignored['outside']} outside shapes"] if any(ignored.values()) else []
    for result in results:
        for warning in result.warnings:
            reporter.message(f"warning: {warning}")
    payload = [{"video_id": r.video_id, "name": r.name, "frames": r.frames,
                "keyframes": r.keyframes, "reused_video": r.reused_video,
                "warnings": r.warnings} for r in results]
    lines = [f"imported {r.keyframes} keyframes into video {r.video_id} ({r.name}, {r.frames} "
             "frames)" for r in results] + notes
    reporter.result(payload, "\n".join(lines))
    return 0
