"""What the COCO and CVAT formats share: a video's labels with their provenance on export, and
one video's parsed labels written into a project (one transaction) on import.

Export side: ``collect_labels`` gives, per video, every frame's label with whether a person
labelled it (a project annotation: a keyframe) or the latest finished run predicted it (a
pseudo-label). Import side: ``ParsedLabels`` holds a file's labels for one video together with
the element each came from, so ``store_labels`` can refuse a frame beyond the end of the video or
a frame size that does not match by naming the element, before anything is written.
``write_frame_images`` writes chosen frames of a video as image files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.errors import CancelledError, FormatError, StoreError
from core.formats.export_target import export_videos, safe_folder_name
from core.frame_numbers import frame_label
from core.landmarks import N_POINTS
from core.progress import ShouldStop
from core.segments import absent_mask

logger = logging.getLogger(__name__)

#: Every point of a pseudo-label is visible: runs store a confidence, not a visibility.
_ALL_VISIBLE = np.ones(N_POINTS, dtype=bool)
_ALL_VISIBLE.setflags(write=False)


@dataclass(frozen=True)
class FrameLabel:
    """One exported frame: 0-based float32 points ``(68, 2)``, visibility ``(68,)``."""

    points: np.ndarray
    visible: np.ndarray
    keyframe: bool  # a person labelled it (a project annotation); False: a pseudo-label
    source: str  # the annotation's source ("manual", "imported", ...) or "pseudo"


@dataclass(frozen=True)
class VideoLabels:
    """Every exported frame of one video, by 0-based frame."""

    video: object  # core.store.VideoRecord
    folder: str  # a safe, unique name for the video's files in the export
    run_id: int | None  # the run the pseudo-labels come from
    labels: dict[int, FrameLabel]

    @property
    def keyframes(self) -> int:
        return sum(label.keyframe for label in self.labels.values())


@dataclass(frozen=True)
class ExportedVideo:
    path: Path  # the file or folder written for this video
    video_id: int
    frames: int  # frames with a label in the export
    keyframes: int
    pseudo: int
    run_id: int | None


@dataclass(frozen=True)
class ImportedVideo:
    video_id: int
    name: str
    frames: int
    keyframes: int
    reused_video: bool
    warnings: list[str] = field(default_factory=list)


def collect_labels(project, *, video_ids: Sequence[int] | None = None,
                   run_id: int | None = None, labelled_only: bool = False
                   ) -> list[VideoLabels]:
    """Each chosen video's labels: its annotations and (unless ``labelled_only``) the
    pseudo-labels of ``run_id`` or of its latest finished run on the other frames, never on a
    frame marked "no face" (the frame is left out, as one without a label). Every video
    file is verified first (a replaced file would carry the labels onto other images)."""
    videos = export_videos(project, video_ids, run_id)
    result, used = [], set()
    for video in videos:
        project.videos.verify_file(video.id)
        labels = {frame: FrameLabel(a.points, a.visible, True, a.source)
                  for frame, a in project.labels.all(video.id).items()}
        run = None
        if not labelled_only:
            run = project.runs.get(run_id) if run_id is not None else \
                project.runs.latest(video.id)
        if run is not None:
            pseudo = project.runs.pseudo_labels(run.id)
            absent = absent_mask(project.absences.ranges(video.id), video.frame_count)
            for frame, points in zip(pseudo.frames.tolist(), pseudo.points):
                if not absent[frame]:  # a run made before the frame was marked "no face"
                    labels.setdefault(int(frame), FrameLabel(points, _ALL_VISIBLE, False,
                                                             "pseudo"))
        result.append(VideoLabels(video, safe_folder_name(video.name, used),
                                  None if run is None else run.id, dict(sorted(labels.items()))))
    return result


@dataclass
class ParsedLabels:
    """One video's labels read from a file, before anything is written.

    ``origin[frame]`` names the element a frame came from (``"annotations[3]"``), ``size`` the
    frame size the file states (checked against the video when known).
    """

    source: str  # the file, for messages
    labels: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    origin: dict[int, str] = field(default_factory=dict)
    size: tuple[int, int] | None = None
    size_origin: str = ""

    def add(self, frame: int, points: np.ndarray, visible: np.ndarray, origin: str) -> None:
        if frame in self.labels:
            raise FormatError(f"{self.source}: {origin} and {self.origin[frame]} both label "
                              f"{frame_label(frame)}; FaceProp holds one face per frame")
        self.labels[frame] = (points, visible)
        self.origin[frame] = origin

    def note_size(self, width: int, height: int, origin: str) -> None:
        """The frame size an element states; every element must state the same."""
        if self.size is None:
            self.size, self.size_origin = (width, height), origin
        elif self.size != (width, height):
            raise FormatError(f"{self.source}: {origin} is {width}x{height} but "
                              f"{self.size_origin} of the same video is "
                              f"{self.size[0]}x{self.size[1]}")


def find_video_file(key: str, files: Sequence[Path], single: bool) -> Path | None:
    """The ``--video`` file that belongs to the video a file calls ``key``: same name or stem,
    or the only file given for a file that describes only one video."""
    named = [f for f in files if key in (f.name, f.stem)]
    if len(named) == 1:
        return named[0]
    if not named and single and len(files) == 1:
        return files[0]
    return None


def project_video(project, key: str):  # -> VideoRecord | None
    """The project's video called ``key`` when exactly one has that name."""
    matches = [v for v in project.videos.all() if v.name == key]
    return matches[0] if len(matches) == 1 else None


def check_video_files(files: Sequence[Path]) -> None:
    """FormatError naming the first ``--video`` file that does not exist."""
    for path in files:
        if not Path(path).is_file():
            raise FormatError(f"{path}: no such video file")


def store_labels(project, parsed: ParsedLabels, *, video_file: Path | None = None,
                 existing=None, name: str | None = None, transcode: bool = False,
                 author: str | None = None, should_stop: ShouldStop | None = None
                 ) -> ImportedVideo:
    """Write one video's labels in one transaction: with the new video row when ``video_file``
    is not yet in the project, else into the video that is (``existing``, or the one with the
    file's content). Labels beyond the video's end or a stated frame size that differs from the
    video's are refused, naming the element, before anything is written."""
    from core.video import file_hash

    warnings: list[str] = []
    labels = dict(parsed.labels)

    def check(video) -> None:  # VideoInfo or VideoRecord: frame_count, width, height
        shown = name or (video_file.name if video_file is not None else "the video")
        beyond = [f for f in labels if f >= video.frame_count]
        if beyond:
            first = min(beyond)
            raise FormatError(f"{parsed.source}: {parsed.origin[first]}: {frame_label(first)} "
                              f"is beyond the end of {shown} ({video.frame_count} decodable "
                              "frames)")
        if parsed.size is not None and parsed.size != (video.width, video.height):
            raise FormatError(f"{parsed.source}: {parsed.size_origin} says the frames are "
                              f"{parsed.size[0]}x{parsed.size[1]} but {shown} is "
                              f"{video.width}x{video.height}; is it the right video?")
        warnings[:] = far_outside(parsed, video.width, video.height)

    if existing is None and video_file is not None:
        existing = project.videos.find_by_hash(file_hash(video_file))
    if existing is not None:
        check(existing)
        if labels:
            project.labels.set_many(existing.id, labels, source="imported", author=author)
        return ImportedVideo(existing.id, existing.name, existing.frame_count, len(labels),
                             True, warnings)
    if video_file is None:
        raise FormatError(f"{parsed.source}: no video to put these labels on; pass --video FILE")
    video = project.videos.add(video_file, transcode=transcode, name=name,
                               should_stop=should_stop, check=check, author=author or "",
                               labels=labels)
    return ImportedVideo(video.id, video.name, video.frame_count, len(labels), False, warnings)


def far_outside(parsed: ParsedLabels, width: int, height: int) -> list[str]:
    """Warnings for labels with points more than one frame size outside the frame: legal, but
    usually a wrong coordinate system or the wrong video."""
    size = np.array([width, height], dtype=np.float64)
    warnings = []
    for frame in sorted(parsed.labels):
        points = np.asarray(parsed.labels[frame][0], dtype=np.float64)
        far = ((points < -size) | (points > 2 * size)).any(axis=1)
        if far.any():
            warnings.append(f"{parsed.source}: {parsed.origin[frame]}: {int(far.sum())} points "
                            f"of {frame_label(frame)} lie far outside the {width}x{height} "
                            "frame; check the file")
    return warnings



def write_frame_images(project, video_id: int, frames: Sequence[int],
                       path_of: Callable[[int], Path], should_stop: ShouldStop | None = None
                       ) -> int:
    """Write ``frames`` of a video as images (JPEG quality 95 or PNG, by ``path_of``'s suffix),
    decoding the video once from the first to the last; returns how many were written."""
    import cv2

    wanted = set(frames)
    if not wanted:
        return 0
    first, last = min(wanted), max(wanted)
    with project.videos.open_reader(video_id) as reader:
        for frame, image in enumerate(reader.frames(first, last + 1), first):
            if should_stop is not None and should_stop():
                raise CancelledError("export cancelled")
            if frame not in wanted:
                continue
            path = path_of(frame)
            path.parent.mkdir(parents=True, exist_ok=True)
            params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.suffix == ".jpg" else []
            if not cv2.imwrite(str(path), image, params):
                raise StoreError(f"{path}: could not write the frame image")
    return len(wanted)
