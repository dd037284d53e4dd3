"""Project subcommands: import-300vw, add-video, export-300vw, info."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cli.reporting import Reporter
from core.store import Project
from core.store.opening import is_url


def add_project_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--project", "-p", required=True, metavar="P.faceprop.sqlite",
                        help="project file (or a database URL such as postgresql://...)")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "import-300vw", help="import a 300VW clip folder (or a folder of them) into a project",
        description="Import vid.avi + annot/*.pts clips; the project is created if missing. "
                    "Every .pts is checked before anything is written.")
    parser.add_argument("source", type=Path, help="a clip folder or a folder of clip folders")
    add_project_argument(parser)
    parser.add_argument("--transcode", action="store_true",
                        help="store an intra-frame MJPG copy of each video for instant seeks")
    parser.set_defaults(handler=import_300vw)

    parser = subparsers.add_parser(
        "add-video", help="add a video to a project (indexed frame-exactly once)",
        description="Decode the video once to count its true frames and build the frame index.")
    parser.add_argument("video", type=Path, help="the video file (anything FFmpeg reads)")
    add_project_argument(parser)
    parser.add_argument("--transcode", action="store_true",
                        help="convert to MJPG in the project's media folder first")
    parser.add_argument("--name", help="display name (default: the file name)")
    parser.set_defaults(handler=add_video)

    parser = subparsers.add_parser(
        "export-300vw", help="export the project as 300VW clip folders",
        description="Write OUT/<video>/vid.avi, annot/NNNNNN.pts for every frame (manual labels "
                    "win over pseudo-labels) and provenance.csv; a video with frames marked "
                    "'no face' becomes one clip per face segment, OUT/<video>_seg01/ …, listed "
                    "in OUT/segments.csv (see --keep-gaps). The export is written to a "
                    "temporary folder and moved into place, so a failure leaves OUT as it was.")
    parser.add_argument("out", type=Path, help="the folder to write (created; see --force)")
    add_project_argument(parser)
    parser.add_argument("--run", type=int, help="take pseudo-labels from this run "
                        "(default: each video's latest finished run)")
    parser.add_argument("--video", type=int, action="append", dest="videos",
                        help="export only this video id (repeatable)")
    parser.add_argument("--labelled-only", action="store_true",
                        help="write only manually labelled frames (a sparse annot/)")
    parser.add_argument("--keep-gaps", action="store_true",
                        help="a video with frames marked 'no face' stays one clip whose "
                             "no-face frames have no .pts (listed in provenance.csv) instead "
                             "of one clip per face segment")
    parser.add_argument("--force", action="store_true",
                        help="replace OUT when it holds an earlier FaceProp export (never "
                             "anything else)")
    parser.add_argument("--verify-full", action="store_true",
                        help="compare each video's whole content hash, not just sampled blocks")
    parser.set_defaults(handler=export_300vw)

    parser = subparsers.add_parser(
        "info", help="describe a project as JSON",
        description="Videos, frames, keyframes and runs, as JSON (frame indices in JSON are "
                    "0-based; messages name frames 1-based, like 000001.pts). Also removes "
                    "the staging folders of exports that were killed.")
    add_project_argument(parser)
    parser.set_defaults(handler=info)

    parser = subparsers.add_parser(
        "check", help="check the project database and every video file",
        description="SQLite's integrity check, then each video file against the full content "
                    "hash stored when it was added. Exit 2 when anything is wrong.")
    add_project_argument(parser)
    parser.set_defaults(handler=check)


@contextmanager
def project_for_writing(target: str) -> Iterator[Project]:
    """Open (or create) a project for a command that adds to it; a project file this command
    created is removed again when the command fails before adding anything to it."""
    path = None if is_url(str(target)) else Path(target)
    fresh = path is not None and (not path.exists() or path.stat().st_size == 0)
    project = Project.create_or_open(target)
    try:
        yield project
    except BaseException:
        empty = fresh and not project.videos.all()
        project.close()
        if empty and path is not None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        raise
    project.close()


def import_300vw(args: argparse.Namespace, reporter: Reporter) -> int:
    from core.formats.vw300 import find_clip_folders
    from core.formats.vw300 import import_300vw as run_import

    find_clip_folders(args.source)  # a wrong source fails before a project file is created
    with project_for_writing(args.project) as project:
        clips = run_import(project, args.source, transcode=args.transcode,
                           progress=reporter.progress("import"),
                           should_stop=reporter.should_stop)
    for clip in clips:
        for warning in clip.warnings:
            reporter.message(f"warning: {warning}")
    payload = [{"folder": str(c.folder), "video_id": c.video_id, "frames": c.frames,
                "container_frames": c.container_frames, "keyframes": c.keyframes,
                "reused_video": c.reused_video, "warnings": c.warnings} for c in clips]
    lines = [f"imported {c.folder.name}: video {c.video_id}, {c.frames} frames"
             f"{_truncation_note(c.frames, c.container_frames)}, {c.keyframes} keyframes"
             for c in clips]
    reporter.result(payload, "\n".join(lines))
    return 0


def _truncation_note(frames: int, container_frames: int) -> str:
    """Said whenever a video decodes fewer (or more) frames than its container claims."""
    if container_frames in (0, frames):
        return ""
    return (f" (the container claims {container_frames}; only {frames} decode, so labels are "
            f"kept for frames 1..{frames})")


def add_video(args: argparse.Namespace, reporter: Reporter) -> int:
    with project_for_writing(args.project) as project:
        video = project.videos.add(args.video, transcode=args.transcode, name=args.name,
                                   progress=reporter.progress("index"),
                                   should_stop=reporter.should_stop)
    payload = {"video_id": video.id, "name": video.name, "frames": video.frame_count,
               "container_frames": video.container_frame_count, "fps": video.fps,
               "size": [video.width, video.height], "seek_exact": video.seek_exact}
    note = _truncation_note(video.frame_count, video.container_frame_count)
    reporter.result(payload, f"added video {video.id} ({video.name}): {video.frame_count} "
                             f"decodable frames{note}")
    return 0


def export_300vw(args: argparse.Namespace, reporter: Reporter) -> int:
    from core.formats.vw300 import export_300vw as run_export

    with Project.open(args.project) as project:
        if args.verify_full:
            for video in project.videos.all():
                project.videos.verify_file(video.id, full=True)
        clips = run_export(project, args.out, video_ids=args.videos, run_id=args.run,
                           labelled_only=args.labelled_only, force=args.force,
                           keep_gaps=getattr(args, "keep_gaps", False),
                           progress=reporter.progress("export"),
                           should_stop=reporter.should_stop)
    payload = [{"folder": str(c.folder), "video_id": c.video_id, "frames": c.frames,
                "manual": c.manual, "pseudo": c.pseudo, "run_id": c.run_id} for c in clips]
    lines = [f"exported {c.folder}: {c.frames} frames ({c.manual} manual, {c.pseudo} "
             f"pseudo-labelled)" for c in clips]
    reporter.result(payload, "\n".join(lines))
    return 0


def project_summary(project: Project) -> dict[str, Any]:
    keyframes = project.labels.count()
    absent = project.absences.counts()
    videos = []
    for video in project.videos.all():
        latest = project.runs.latest(video.id)
        videos.append({
            "id": video.id, "name": video.name, "path": video.path,
            "frames": video.frame_count, "fps": video.fps, "size": [video.width, video.height],
            "keyframes": keyframes.get(video.id, 0),
            "no_face_frames": absent.get(video.id, 0),
            "cuts": project.cuts.frames(video.id),
            "no_face": [list(r) for r in project.absences.ranges(video.id)]
            if video.id in absent else [],
            "latest_run": None if latest is None else latest.id})
    runs = [{"id": r.id, "video_id": r.video_id, "method": r.method, "status": r.status,
             "device": r.device, "started_at": r.started_at, "finished_at": r.finished_at,
             "timings": r.timings, "metrics": r.metrics} for r in project.runs.all()]
    return {"project": project.target, "schema_version": project.schema_version(),
            "videos": videos, "frames": sum(v["frames"] for v in videos),
            "keyframes": sum(v["keyframes"] for v in videos),
            "no_face_frames": sum(v["no_face_frames"] for v in videos), "runs": runs}


def info(args: argparse.Namespace, reporter: Reporter) -> int:
    from core.formats.export_target import clean_stale_staging

    with Project.open(args.project) as project:
        for folder in clean_stale_staging(project):
            reporter.message(f"removed {folder}, left by an export that was killed")
        reporter.result(project_summary(project))
    return 0


def check(args: argparse.Namespace, reporter: Reporter) -> int:
    from core.errors import FacePropError

    problems: list[str] = []
    with Project.open(args.project) as project:
        problems += project.integrity_problems()
        videos = project.videos.all()
        for done, video in enumerate(videos):
            reporter.progress("check")(done, len(videos))
            try:
                project.videos.verify_file(video.id, full=True)
            except FacePropError as exc:
                problems.append(str(exc))
        reporter.progress("check")(len(videos), len(videos))
    reporter.result({"problems": problems},
                    "\n".join(problems) if problems else
                    f"{args.project}: database intact, {len(videos)} video files unchanged")
    return 2 if problems else 0
