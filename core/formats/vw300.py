"""300VW dataset folders: import into a project and export from it.

A clip folder holds ``vid.avi`` (or another container named ``vid.*``) and ``annot/NNNNNN.pts``
with six-digit 1-based frame numbers (``000001.pts`` is the first decoded frame). Import accepts a
sparse ``annot/`` (missing files are unlabelled frames) and validates everything before writing.
Export writes every frame (manual labels win over pseudo-labels) plus ``provenance.csv``, into a
temporary folder that is renamed into place, so a failed export never leaves a half dataset.
"""

from __future__ import annotations

import csv
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from core.errors import CancelledError, FacePropError, FormatError, StoreError
from core.formats.pts import read_pts, write_pts

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
ShouldStop = Callable[[], bool]

VIDEO_SUFFIXES = (".avi", ".mp4", ".mov", ".mkv", ".m4v", ".webm")


@dataclass(frozen=True)
class ImportedClip:
    folder: Path
    video_id: int
    frames: int
    keyframes: int
    reused_video: bool


@dataclass(frozen=True)
class ExportedClip:
    folder: Path
    video_id: int
    frames: int
    manual: int
    pseudo: int
    run_id: int | None


def frame_file_name(frame: int) -> str:
    """``000001.pts`` for frame 0: six digits, 1-based."""
    return f"{frame + 1:06d}.pts"


def frame_from_file_name(path: Path) -> int:
    """0-based frame of an ``annot/`` file; FormatError naming the file when it is not numeric."""
    if not path.stem.isdigit() or int(path.stem) < 1:
        raise FormatError(f"{path}: annotation file names must be 1-based frame numbers like "
                          "000001.pts")
    return int(path.stem) - 1


def clip_video_file(folder: Path) -> Path:
    candidates = sorted(p for p in folder.iterdir()
                        if p.stem == "vid" and p.suffix.lower() in VIDEO_SUFFIXES)
    if not candidates:
        raise FormatError(f"{folder}: no vid.avi (or vid.mp4, ...) in this 300VW clip folder")
    return candidates[0]


def is_clip_folder(folder: Path) -> bool:
    return folder.is_dir() and (folder / "annot").is_dir() and any(
        p.stem == "vid" and p.suffix.lower() in VIDEO_SUFFIXES for p in folder.iterdir())


def find_clip_folders(source: str | os.PathLike[str]) -> list[Path]:
    """One clip folder, or every clip folder directly inside ``source``."""
    root = Path(source)
    if not root.is_dir():
        raise FormatError(f"{root}: no such folder")
    if is_clip_folder(root):
        return [root]
    clips = sorted(p for p in root.iterdir() if is_clip_folder(p))
    if not clips:
        raise FormatError(f"{root}: not a 300VW clip folder (vid.avi + annot/) and holds none")
    return clips


def read_annot_folder(folder: Path, should_stop: ShouldStop | None = None
                      ) -> dict[int, np.ndarray]:
    """Every ``annot/*.pts`` of a clip, by 0-based frame; the first bad file raises."""
    labels: dict[int, np.ndarray] = {}
    for path in sorted((folder / "annot").glob("*.pts")):
        if should_stop is not None and should_stop():
            raise CancelledError("import cancelled")
        labels[frame_from_file_name(path)] = read_pts(path)
    return labels


def import_300vw(project, source: str | os.PathLike[str], *, transcode: bool = False,
                 author: str | None = None, progress: Progress | None = None,
                 should_stop: ShouldStop | None = None) -> list[ImportedClip]:
    """Import one clip folder or a folder of them; each clip is all or nothing.

    Every ``.pts`` of every clip is parsed before anything is written. A clip whose video is
    already in the project (same content) adds its labels to that video.
    """
    clips = find_clip_folders(source)
    parsed = [(folder, clip_video_file(folder), read_annot_folder(folder, should_stop))
              for folder in clips]
    results = []
    for done, (folder, video_path, labels) in enumerate(parsed):
        if progress is not None:
            progress(done, len(parsed))
        results.append(_import_clip(project, folder, video_path, labels, transcode, author,
                                    should_stop))
    if progress is not None:
        progress(len(parsed), len(parsed))
    return results


def _import_clip(project, folder: Path, video_path: Path, labels: dict[int, np.ndarray],
                 transcode: bool, author: str | None, should_stop: ShouldStop | None
                 ) -> ImportedClip:
    from core.video import file_hash

    existing = project.videos.find_by_hash(file_hash(video_path))
    video = existing or project.videos.add(video_path, transcode=transcode, name=folder.name,
                                           should_stop=should_stop)
    beyond = [f for f in labels if f >= video.frame_count]
    try:
        if beyond:
            first = min(beyond)
            raise FormatError(f"{folder / 'annot' / frame_file_name(first)}: frame {first + 1} "
                              f"is beyond the end of {video_path.name} "
                              f"({video.frame_count} decodable frames)")
        project.labels.set_many(video.id, {f: (p, None) for f, p in labels.items()},
                                source="imported", author=author)
    except FacePropError:
        if existing is None:
            project.videos.remove(video.id)
        raise
    return ImportedClip(folder=folder, video_id=video.id, frames=video.frame_count,
                        keyframes=len(labels), reused_video=existing is not None)


def export_300vw(project, target: str | os.PathLike[str], *,
                 video_ids: Sequence[int] | None = None, run_id: int | None = None,
                 labelled_only: bool = False, force: bool = False,
                 progress: Progress | None = None, should_stop: ShouldStop | None = None
                 ) -> list[ExportedClip]:
    """Write a folder of 300VW clips, one per video, atomically.

    Each frame takes its manual annotation if there is one, else the pseudo-label of ``run_id``
    (or of the video's latest finished run). Without ``labelled_only`` every frame must be covered.
    """
    target = Path(target)
    if target.exists() and (not target.is_dir() or any(target.iterdir())) and not force:
        raise FormatError(f"{target}: exists and is not empty; choose another folder or use "
                          "--force to replace it")
    if not target.parent.is_dir():
        raise FormatError(f"{target.parent}: no such folder")
    plans = _plan_export(project, video_ids, run_id, labelled_only)
    total = sum(len(plan.frames) for plan in plans)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        done = 0
        results = []
        for plan in plans:
            results.append(_write_clip(project, plan, staging, labelled_only, should_stop))
            done += len(plan.frames)
            if progress is not None:
                progress(done, total)
        _replace_folder(staging, target)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        where = exc.filename or staging
        raise FormatError(f"{where}: export to {target} failed ({exc.strerror or exc}); "
                          "nothing was changed there") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [replace(r, folder=target / r.folder.name) for r in results]


@dataclass
class _ClipPlan:
    video: object  # VideoRecord
    folder_name: str
    frames: list[int]
    manual: dict
    pseudo: object | None  # PseudoLabels
    run_id: int | None


def _plan_export(project, video_ids, run_id, labelled_only) -> list[_ClipPlan]:
    videos = project.videos.all()
    if run_id is not None:
        run = project.runs.get(run_id)
        videos = [v for v in videos if v.id == run.video_id]
    elif video_ids is not None:
        wanted = set(video_ids)
        missing = wanted - {v.id for v in videos}
        if missing:
            raise StoreError(f"{project.target}: no video with id {min(missing)}")
        videos = [v for v in videos if v.id in wanted]
    if not videos:
        raise StoreError(f"{project.target}: the project has no videos to export")
    plans, used_names = [], set()
    for video in videos:
        manual = project.labels.all(video.id)
        run = project.runs.get(run_id) if run_id is not None else project.runs.latest(video.id)
        pseudo = project.runs.pseudo_labels(run.id) if run is not None else None
        if labelled_only:
            frames = sorted(manual)
        else:
            covered = set(manual) | (set(pseudo.frames.tolist()) if pseudo is not None else set())
            missing = [f for f in range(video.frame_count) if f not in covered]
            if missing:
                hint = ("it has no finished propagation run" if pseudo is None
                        else f"run {run.id} does not cover them")
                raise StoreError(f"video {video.id} ({video.name}): {len(missing)} frames have no "
                                 f"label (first: frame {missing[0] + 1}) and {hint}; propagate "
                                 "first or export with --labelled-only")
            frames = list(range(video.frame_count))
        name = _unique_name(video.name, used_names)
        plans.append(_ClipPlan(video, name, frames, manual, pseudo,
                               run.id if run is not None else None))
    return plans


def _unique_name(name: str, used: set[str]) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "video"
    candidate, n = safe, 1
    while candidate in used:
        n += 1
        candidate = f"{safe}-{n}"
    used.add(candidate)
    return candidate


def _write_clip(project, plan: _ClipPlan, staging: Path, labelled_only: bool,
                should_stop: ShouldStop | None) -> ExportedClip:
    folder = staging / plan.folder_name
    annot = folder / "annot"
    annot.mkdir(parents=True)
    _write_video(project, plan.video, folder / "vid.avi", should_stop)
    rows = []
    manual_count = pseudo_count = 0
    for frame in plan.frames:
        if should_stop is not None and should_stop():
            raise CancelledError("export cancelled")
        if frame in plan.manual:
            annotation = plan.manual[frame]
            points, source, run, confidence = annotation.points, annotation.source, "", 1.0
            manual_count += 1
        else:
            points, conf = plan.pseudo.for_frame(frame)
            source, run, confidence = "pseudo", plan.run_id, float(np.mean(conf))
            pseudo_count += 1
        write_pts(annot / frame_file_name(frame), points)
        rows.append((frame + 1, frame_file_name(frame), source, run, f"{confidence:.4f}"))
    with (folder / "provenance.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["frame", "file", "source", "run", "mean_confidence"])
        writer.writerows(rows)
    return ExportedClip(folder, plan.video.id, len(plan.frames), manual_count, pseudo_count,
                    plan.run_id)


def _write_video(project, video, destination: Path, should_stop: ShouldStop | None) -> None:
    """Copy an AVI as is; re-encode anything else to MJPG frame by frame (frame-exact)."""
    from core.video import write_video

    source = project.videos.resolve_path(video)
    if not source.is_file():
        raise StoreError(f"video {video.id}: file {source} is missing; it cannot be exported")
    if source.suffix.lower() == ".avi":
        shutil.copyfile(source, destination)
        return
    with project.videos.open_reader(video.id) as reader:
        def frames():
            for image in reader.frames():
                if should_stop is not None and should_stop():
                    raise CancelledError("export cancelled")
                yield image

        written = write_video(destination, frames(), fps=video.fps)
    if written != video.frame_count:
        raise StoreError(f"{destination}: wrote {written} frames, expected {video.frame_count}")


def _replace_folder(staging: Path, target: Path) -> None:
    """Move ``staging`` to ``target``; an existing target is kept until the move succeeded."""
    backup = None
    if target.exists():
        backup = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(backup)
    try:
        staging.rename(target)
    except BaseException:
        if backup is not None:
            backup.rename(target)
        raise
    if backup is not None:
        shutil.rmtree(backup, ignore_errors=True)
