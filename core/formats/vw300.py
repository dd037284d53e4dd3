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
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from core.errors import CancelledError, FormatError, StoreError
from core.formats.export_target import check_target, export_videos, safe_folder_name, staged_export
from core.formats.pts import read_pts, write_pts
from core.frame_numbers import frame_index, frame_label, frame_number
from core.progress import Progress, ShouldStop
from core.review_states import state_counts
from core.segments import absent_mask, face_segments

logger = logging.getLogger(__name__)


VIDEO_SUFFIXES = (".avi", ".mp4", ".mov", ".mkv", ".m4v", ".webm")


@dataclass(frozen=True)
class ImportedClip:
    folder: Path
    video_id: int
    frames: int
    keyframes: int
    reused_video: bool
    container_frames: int = 0
    warnings: list[str] = field(default_factory=list)


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
    return f"{frame_number(frame):06d}.pts"


def frame_from_file_name(path: Path) -> int:
    """0-based frame of an ``annot/`` file; FormatError naming the file when it is not numeric."""
    if not path.stem.isdigit() or int(path.stem) < 1:
        raise FormatError(f"{path}: annotation file names must be 1-based frame numbers like "
                          "000001.pts")
    return frame_index(int(path.stem))


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
    files: dict[int, Path] = {}
    for path in sorted((folder / "annot").glob("*.pts")):
        if should_stop is not None and should_stop():
            raise CancelledError("import cancelled")
        frame = frame_from_file_name(path)
        if frame in files:
            raise FormatError(f"{path} and {files[frame].name}: both are {frame_label(frame)}; "
                              "keep one of them")
        files[frame] = path
        labels[frame] = read_pts(path)
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
    """One clip in one transaction: the video row and its keyframes together (or the keyframes
    alone when the video is already in the project)."""
    from core.video import file_hash

    warnings: list[str] = []

    def check(video) -> None:  # VideoInfo or VideoRecord: frame_count, width, height
        beyond = [f for f in labels if f >= video.frame_count]
        if beyond:
            first = min(beyond)
            raise FormatError(f"{folder / 'annot' / frame_file_name(first)}: "
                              f"{frame_label(first)} is beyond the end of {video_path.name} "
                              f"({video.frame_count} decodable frames)")
        warnings.extend(_far_outside(folder, labels, video.width, video.height))

    existing = project.videos.find_by_hash(file_hash(video_path))
    if existing is not None:
        check(existing)
        project.labels.set_many(existing.id, {f: (p, None) for f, p in labels.items()},
                                source="imported", author=author)
        video = existing
    else:
        video = project.videos.add(video_path, transcode=transcode, name=folder.name,
                                   should_stop=should_stop, check=check, author=author or "",
                                   labels={f: (p, None) for f, p in labels.items()})
    return ImportedClip(folder=folder, video_id=video.id, frames=video.frame_count,
                        keyframes=len(labels), reused_video=existing is not None,
                        container_frames=video.container_frame_count, warnings=warnings)


def _far_outside(folder: Path, labels: dict[int, np.ndarray], width: int, height: int
                 ) -> list[str]:
    """Warnings for labels with points more than one frame size outside the frame: legal, but
    usually a wrong coordinate system or a typo."""
    size = np.array([width, height], dtype=np.float64)
    warnings = []
    for frame in sorted(labels):
        points = labels[frame].astype(np.float64)
        far = ((points < -size) | (points > 2 * size)).any(axis=1)
        if far.any():
            x, y = points[int(np.argmax(far))]
            warnings.append(f"{folder / 'annot' / frame_file_name(frame)}: {frame_label(frame)} "
                            f"has {int(far.sum())} points far outside the {width}x{height} frame "
                            f"(e.g. {x + 1:.1f}, {y + 1:.1f}); check the file")
    return warnings


def export_300vw(project, target: str | os.PathLike[str], *,
                 video_ids: Sequence[int] | None = None, run_id: int | None = None,
                 labelled_only: bool = False, force: bool = False, keep_gaps: bool = False,
                 progress: Progress | None = None, should_stop: ShouldStop | None = None
                 ) -> list[ExportedClip]:
    """Write a folder of 300VW clips, one per video, atomically.

    Each frame takes its manual annotation if there is one, else the pseudo-label of ``run_id``
    (or of the video's latest finished run). Without ``labelled_only`` every frame must be
    covered, except frames marked "no face": a 300VW clip labels every frame, so a video with
    such frames becomes one clip per face segment (``<video>_seg01/`` …, numbered from
    000001.pts, the source frames in ``provenance.csv`` and in a top-level ``segments.csv``),
    or, with ``keep_gaps``, one clip whose no-face frames have no ``.pts`` and are listed in
    ``provenance.csv``.
    """
    target = Path(target)
    check_target(project, target, force)
    plans = _plan_export(project, video_ids, run_id, labelled_only, keep_gaps)
    total = sum(len(plan.frames) for plan in plans)
    manifest = {"videos": [{"id": p.video.id, "name": p.video.name, "folder": p.folder_name,
                            "run": p.run_id} for p in plans]}
    with staged_export(project, target, manifest) as staging:
        if any(p.segment is not None for p in plans):
            _write_segments_csv(staging / "segments.csv", plans)
        done = 0
        results = []
        for plan in plans:
            results.append(_write_clip(project, plan, staging, labelled_only, should_stop))
            done += len(plan.frames)
            if progress is not None:
                progress(done, total)
    return [replace(r, folder=target / r.folder.name) for r in results]


@dataclass
class _ClipPlan:
    video: object  # VideoRecord
    folder_name: str
    frames: list[int]
    manual: dict
    pseudo: object | None  # PseudoLabels
    run_id: int | None
    segment: tuple[int, int] | None = None  # a face segment's source frames: its own clip
    gaps: list[tuple[int, int]] = field(default_factory=list)  # no-face frames, listed

    @property
    def first(self) -> int:
        """The source frame written as 000001.pts."""
        return 0 if self.segment is None else self.segment[0]


def _write_segments_csv(path: Path, plans: list[_ClipPlan]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video_id", "video", "folder", "first_frame", "last_frame"])
        for plan in plans:
            first, last = plan.segment or (0, plan.video.frame_count - 1)
            writer.writerow([plan.video.id, plan.video.name, plan.folder_name,
                             frame_number(first), frame_number(last)])


def _plan_export(project, video_ids, run_id, labelled_only, keep_gaps) -> list[_ClipPlan]:
    videos = export_videos(project, video_ids, run_id)
    plans, used_names = [], set()
    for video in videos:
        project.videos.verify_file(video.id)
        manual = project.labels.all(video.id)
        run = project.runs.get(run_id) if run_id is not None else project.runs.latest(video.id)
        pseudo = project.runs.pseudo_labels(run.id) if run is not None else None
        run_of = run.id if run is not None else None
        absences = [] if labelled_only else project.absences.ranges(video.id)
        absent = absent_mask(absences, video.frame_count)
        if labelled_only:
            frames = sorted(manual)
        else:
            covered = set(manual) | (set(pseudo.frames.tolist()) if pseudo is not None else set())
            missing = [f for f in range(video.frame_count) if f not in covered and not absent[f]]
            if missing:
                hint = ("it has no finished propagation run" if pseudo is None
                        else f"run {run.id} does not cover them")
                raise StoreError(f"video {video.id} ({video.name}): {len(missing)} frames have no "
                                 f"label (first: {frame_label(missing[0])}) and {hint}; "
                                 "propagate first or export with --labelled-only")
            frames = np.flatnonzero(~absent).tolist()
        segments = face_segments(video.frame_count, absences, project.cuts.frames(video.id))
        if len(segments) > 1 and not keep_gaps and not labelled_only:
            for k, segment in enumerate(segments, start=1):
                name = safe_folder_name(f"{video.name}_seg{k:02d}", used_names)
                plans.append(_ClipPlan(video, name, list(range(segment[0], segment[1] + 1)),
                                       manual, pseudo, run_of, segment=segment))
            continue
        name = safe_folder_name(video.name, used_names)
        plans.append(_ClipPlan(video, name, frames, manual, pseudo, run_of, gaps=absences))
    return plans


def _write_clip(project, plan: _ClipPlan, staging: Path, labelled_only: bool,
                should_stop: ShouldStop | None) -> ExportedClip:
    folder = staging / plan.folder_name
    annot = folder / "annot"
    annot.mkdir(parents=True)
    _write_video(project, plan.video, folder / "vid.avi", should_stop, plan.segment)
    rows = []
    manual_count = pseudo_count = 0
    for frame in plan.frames:
        if should_stop is not None and should_stop():
            raise CancelledError("export cancelled")
        if frame in plan.manual:
            annotation = plan.manual[frame]
            points, source, run, confidence = annotation.points, annotation.source, "", 1.0
            counts = state_counts(annotation.states)
            manual_count += 1
        else:
            points, conf = plan.pseudo.for_frame(frame)
            source, run, confidence = "pseudo", plan.pseudo.run_of(frame), float(np.mean(conf))
            counts = {"placed": 0, "accepted": 0, "predicted": len(points)}
            pseudo_count += 1
        name = frame_file_name(frame - plan.first)
        write_pts(annot / name, points)
        rows.append((frame_number(frame - plan.first), name, source, run, f"{confidence:.4f}",
                     counts["placed"], counts["accepted"], counts["predicted"],
                     frame_number(frame)))
    for first, last in plan.gaps:  # --keep-gaps: the no-face frames, without a file
        rows += [(frame_number(f), "", "no_face", "", "", 0, 0, 0, frame_number(f))
                 for f in range(first, last + 1)]
    rows.sort(key=lambda row: row[0])
    with (folder / "provenance.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["frame", "file", "source", "run", "mean_confidence", "placed",
                         "accepted", "predicted", "source_frame"])
        writer.writerows(rows)
    return ExportedClip(folder, plan.video.id, len(plan.frames), manual_count, pseudo_count,
                    plan.run_id)


def _write_video(project, video, destination: Path, should_stop: ShouldStop | None,
                 segment: tuple[int, int] | None = None) -> None:
    """Copy an AVI as is; re-encode anything else, or a ``segment``'s frames, to MJPG frame by
    frame (frame-exact)."""
    from core.video import write_video

    source = project.videos.resolve_path(video)
    if segment is None and source.suffix.lower() == ".avi":
        shutil.copyfile(source, destination)
        return
    first, last = segment or (0, video.frame_count - 1)
    with project.videos.open_reader(video.id) as reader:
        def frames():
            for image in reader.frames(first, last + 1):
                if should_stop is not None and should_stop():
                    raise CancelledError("export cancelled")
                yield image

        written = write_video(destination, frames(), fps=video.fps)
    if written != last - first + 1:
        raise StoreError(f"{destination}: wrote {written} frames, expected {last - first + 1}")
