"""COCO keypoints: export a project as one COCO dataset, import a COCO keypoints file.

Written: ``OUT/annotations.json`` (and with ``frames="jpg"|"png"`` one image per exported frame,
``OUT/<video>/NNNNNN.jpg``), through ``export_target`` (manifest, staging, ``--force`` rules).

Conventions:

- One category ``"face"`` (id 1) with the 68 iBUG point names of ``core.landmarks`` and the
  scheme's drawing edges as ``skeleton`` (1-based keypoint indices, as COCO wants).
- Coordinates are COCO's keypoint convention, pixel indices: (0, 0) is the centre of the top-left
  pixel (COCO's keypoints are integers in [0, W-1]; detectron2 reads them so and adds 0.5 for its
  continuous coordinates). That is FaceProp's own convention, so points are written and read
  unchanged (float32 shortest repr, so the round trip is exact). ``bbox`` is in COCO's
  continuous box coordinates ([0, W]): it covers the whole pixels of the extreme points,
  ``[min x, min y, max x - min x + 1, max y - min y + 1]`` (not clipped to the frame), and
  ``area`` is its width x height (there is no segmentation).
- Visibility: ``v=2`` visible, ``v=1`` occluded (labelled, hidden), ``v=0`` not labelled (never
  written: a FaceProp label has all 68 points). Import skips a face whose points are all v=0 and
  refuses one with only some.
- One image per exported frame, ``file_name`` ``<video folder>/NNNNNN.<ext>`` (1-based, like
  300VW); without ``frames`` no image is written and ``image["faceprop"] = {"video": name,
  "frame_index": 0-based}`` finds the frame in its video. ``annotation["faceprop"] =
  {"source", "keyframe" (a person labelled it), "run"}``; a top-level ``"faceprop"`` block
  describes the videos (size, hash).

Import groups images by ``faceprop.video`` (else the folder of ``file_name``), takes the frame
from ``faceprop.frame_index`` (else a 1-based numeric file name), skips FaceProp pseudo-labels
unless asked, and writes each video's labels in one transaction (source ``"imported"``).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import TextIO

import numpy as np

from core.errors import CancelledError, FormatError
from core.formats.export_target import check_target, staged_export
from core.formats.pts import MAX_COORDINATE
from core.formats.video_labels import (
    ExportedVideo,
    ImportedVideo,
    ParsedLabels,
    VideoLabels,
    check_video_files,
    collect_labels,
    find_video_file,
    project_video,
    store_labels,
    write_frame_images,
)
from core.frame_numbers import frame_index, frame_number
from core.landmarks import EDGES, N_POINTS, POINT_NAMES
from core.progress import Progress, ShouldStop

logger = logging.getLogger(__name__)

#: The dataset file of an export (and what ``read_coco`` looks for in a folder).
COCO_FILE = "annotations.json"
FACE_CATEGORY = "face"
FRAME_FORMATS = ("jpg", "png")
VISIBLE, OCCLUDED, NOT_LABELLED = 2, 1, 0


def category(name: str = FACE_CATEGORY) -> dict:
    """The COCO category of the iBUG-68 face: names and 1-based skeleton edges."""
    return {"id": 1, "name": name, "supercategory": "face", "keypoints": list(POINT_NAMES),
            "skeleton": [[i + 1, j + 1] for i, j in EDGES]}


def frame_file_name(folder: str, frame: int, ext: str = "jpg") -> str:
    """``clip/000001.jpg`` for frame 0 of the video exported as ``clip``."""
    return f"{folder}/{frame_number(frame):06d}.{ext}"


def _short(value: float) -> float:
    """The float32 ``value`` as the shortest decimal that reads back to the same float32."""
    return float(str(np.float32(value)))


def annotation_fields(points: np.ndarray, visible: np.ndarray) -> dict:
    """keypoints, num_keypoints, bbox and area of one face (0-based pixel-index points)."""
    pts = np.asarray(points, dtype=np.float32)
    flags = np.where(np.asarray(visible, dtype=bool), VISIBLE, OCCLUDED)
    keypoints: list[float | int] = []
    for (x, y), v in zip(pts.tolist(), flags.tolist()):
        keypoints += [_short(x), _short(y), int(v)]
    lo, hi = pts.astype(np.float64).min(axis=0), pts.astype(np.float64).max(axis=0)
    bbox = [round(float(v), 3) for v in (*lo, *(hi - lo + 1.0))]
    return {"keypoints": keypoints, "num_keypoints": len(pts), "bbox": bbox,
            "area": round(bbox[2] * bbox[3], 3)}


def _head(videos: Sequence[VideoLabels], frames_written: bool, label: str) -> dict:
    described = [{"id": v.video.id, "name": v.video.name, "folder": v.folder,
                  "frames": v.video.frame_count, "fps": v.video.fps, "width": v.video.width,
                  "height": v.video.height, "content_hash": v.video.content_hash,
                  "run": v.run_id} for v in videos]
    return {"info": {"description": "FaceProp export: 68-point facial landmarks",
                     "version": "1.0", "date_created": datetime.now(timezone.utc).isoformat()},
            "licenses": [], "categories": [category(label)],
            "faceprop": {"version": 1, "coordinates": "pixel indices, (0, 0) is the centre of "
                         "the top-left pixel", "frames_written": frames_written,
                         "videos": described}}


def write_dataset(handle: TextIO, videos: Sequence[VideoLabels], ext: str = "jpg",
                  frames_written: bool = False, label: str = FACE_CATEGORY,
                  tick: Callable[[int], None] | None = None) -> None:
    """Write the COCO JSON of the exported labels, one image and one annotation per labelled
    frame, item by item (a long video never sits in memory as one JSON tree); ``tick(n)`` is
    called after each annotation."""
    def dump(item: dict) -> str:
        return json.dumps(item, separators=(",", ":"))

    handle.write(dump(_head(videos, frames_written, label))[:-1] + ',"images":[')
    image_id = 0
    for entry in videos:
        for frame in entry.labels:
            image_id += 1
            handle.write(("," if image_id > 1 else "") + dump(
                {"id": image_id, "file_name": frame_file_name(entry.folder, frame, ext),
                 "width": entry.video.width, "height": entry.video.height,
                 "faceprop": {"video": entry.video.name, "frame_index": frame}}))
    handle.write('],"annotations":[')
    image_id = 0
    for entry in videos:
        for face in entry.labels.values():
            image_id += 1
            handle.write(("," if image_id > 1 else "") + dump(
                {"id": image_id, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                 **annotation_fields(face.points, face.visible),
                 "faceprop": {"source": face.source, "keyframe": face.keyframe,
                              "run": None if face.keyframe else entry.run_id}}))
            if tick is not None:
                tick(image_id)
    handle.write("]}\n")


def export_coco(project, target: str | os.PathLike[str], *,
                video_ids: Sequence[int] | None = None, run_id: int | None = None,
                labelled_only: bool = False, frames: str | None = None, force: bool = False,
                progress: Progress | None = None, should_stop: ShouldStop | None = None
                ) -> list[ExportedVideo]:
    """Write ``target/annotations.json`` (and with ``frames`` the frame images) atomically.

    Every frame with a label is exported: its annotation, else (unless ``labelled_only``) the
    pseudo-label of ``run_id`` or of the video's latest finished run.
    """
    if frames is not None and frames not in FRAME_FORMATS:
        raise FormatError(f"frames must be one of {', '.join(FRAME_FORMATS)}, not {frames!r}")
    target = Path(target)
    check_target(project, target, force)
    videos = collect_labels(project, video_ids=video_ids, run_id=run_id,
                            labelled_only=labelled_only)
    manifest = {"dataset": "coco-keypoints", "file": COCO_FILE,
                "videos": [{"id": v.video.id, "name": v.video.name, "folder": v.folder,
                            "run": v.run_id} for v in videos]}
    count = sum(len(v.labels) for v in videos)
    total = 2 * count if frames is not None else count

    def tick(done: int) -> None:
        if should_stop is not None and should_stop():
            raise CancelledError("export cancelled")
        if progress is not None and (done % 200 == 0 or done == total):
            progress(done, total)

    with staged_export(project, target, manifest) as staging:
        written = 0
        for entry in videos if frames is not None else ():
            written += write_frame_images(
                project, entry.video.id, list(entry.labels),
                lambda f, folder=entry.folder: staging / frame_file_name(folder, f, frames),
                should_stop)
            if progress is not None:
                progress(written, total)
        with (staging / COCO_FILE).open("w", encoding="utf-8") as handle:
            write_dataset(handle, videos, frames or "jpg", frames_written=frames is not None,
                          tick=lambda n: tick(written + n))
    return [ExportedVideo(target / COCO_FILE, v.video.id, len(v.labels), v.keyframes,
                          len(v.labels) - v.keyframes, v.run_id) for v in videos]


# -- import ---------------------------------------------------------------------------------

@dataclass
class CocoLabels:
    """A COCO keypoints file read and checked: the labels of each video it describes."""

    path: Path
    videos: dict[str, ParsedLabels] = field(default_factory=dict)  # by video name or folder
    skipped_pseudo: int = 0


def coco_file(source: str | os.PathLike[str]) -> Path:
    """The JSON file itself, or ``annotations.json`` in a folder (an export)."""
    path = Path(source)
    if path.is_dir():
        path = path / COCO_FILE
    if not path.is_file():
        raise FormatError(f"{path}: no such file")
    return path


def _kind(value: object, kind: type | tuple[type, ...], where: str, wanted: str) -> object:
    if isinstance(value, bool) or not isinstance(value, kind):
        raise FormatError(f"{where} is not {wanted}")
    return value


def _choose_category(data: dict, source: str, label: str) -> int:
    categories = _kind(data.get("categories"), list, f"{source}: categories", "a list")
    named = []
    for i, cat in enumerate(categories):
        where = f"{source}: categories[{i}]"
        _kind(cat, dict, where, "an object")
        if cat.get("name") == label:
            named.append((i, cat))
    if not named:
        found = ", ".join(repr(c.get("name")) for c in categories) or "none"
        raise FormatError(f"{source}: no category named {label!r} (found: {found})")
    if len(named) > 1:
        raise FormatError(f"{source}: categories[{named[0][0]}] and categories[{named[1][0]}] "
                          f"are both named {label!r}")
    i, cat = named[0]
    keypoints = _kind(cat.get("keypoints"), list, f"{source}: categories[{i}].keypoints",
                      "a list of names")
    if len(keypoints) != N_POINTS:
        raise FormatError(f"{source}: categories[{i}] ({label!r}) has {len(keypoints)} "
                          f"keypoints; FaceProp reads the {N_POINTS}-point iBUG scheme")
    return _kind(cat.get("id"), int, f"{source}: categories[{i}].id", "an integer")


def _image_place(image: dict, where: str) -> tuple[str, int]:
    """(video key, 0-based frame) of one image entry."""
    name = _kind(image.get("file_name", ""), str, f"{where}.file_name", "a string")
    extra = image.get("faceprop")
    if extra is not None:
        _kind(extra, dict, f"{where}.faceprop", "an object")
    extra = extra or {}
    folder = str(PurePosixPath(name.replace("\\", "/")).parent)
    key = extra.get("video", "" if folder == "." else folder)
    _kind(key, str, f"{where}.faceprop.video", "a string")
    if "frame_index" in extra:
        frame = _kind(extra["frame_index"], int, f"{where}.faceprop.frame_index",
                      "an integer")
        if frame < 0:
            raise FormatError(f"{where}.faceprop.frame_index is {frame}; frames are 0-based")
        return key, frame
    stem = PurePosixPath(name.replace("\\", "/")).stem
    if not stem.isdigit() or int(stem) < 1:
        raise FormatError(f"{where} ({name!r}): no faceprop.frame_index and the file name is not "
                          "a 1-based frame number like 000001.jpg")
    return key, frame_index(int(stem))


def _keypoints(ann: dict, where: str) -> tuple[np.ndarray, np.ndarray] | None:
    """0-based points and visibility of one annotation; None when no point is labelled."""
    values = _kind(ann.get("keypoints"), list, f"{where}.keypoints", "a list of numbers")
    if len(values) != 3 * N_POINTS:
        raise FormatError(f"{where}.keypoints has {len(values)} values, expected "
                          f"{3 * N_POINTS} ({N_POINTS} x, y, v triples)")
    for k, value in enumerate(values):
        _kind(value, (int, float), f"{where}.keypoints[{k}]", "a number")
        if not math.isfinite(value) or abs(value) > MAX_COORDINATE:
            raise FormatError(f"{where}.keypoints[{k}] is {value!r}, not a finite coordinate "
                              f"within {MAX_COORDINATE:,.0f} pixels")
    triples = np.asarray(values, dtype=np.float64).reshape(N_POINTS, 3)
    flags = triples[:, 2]
    bad = ~np.isin(flags, (NOT_LABELLED, OCCLUDED, VISIBLE))
    if bad.any():
        k = int(np.argmax(bad))
        raise FormatError(f"{where}.keypoints[{3 * k + 2}]: visibility {values[3 * k + 2]!r} of "
                          f"keypoint {k + 1} is not 0, 1 or 2")
    unlabelled = flags == NOT_LABELLED
    if unlabelled.all():
        return None
    if unlabelled.any():
        k = int(np.argmax(unlabelled))
        raise FormatError(f"{where}.keypoints: keypoint {k + 1} ({POINT_NAMES[k]}) has v=0 (not "
                          f"labelled); FaceProp needs all {N_POINTS} points of a face")
    return triples[:, :2].astype(np.float32), flags == VISIBLE


def parse_coco(data: object, source: str, *, label: str = FACE_CATEGORY,
               include_pseudo: bool = False) -> CocoLabels:
    """Check a loaded COCO dict and group its face labels by video; FormatError naming the
    element (``annotations[12].keypoints ...``) at the first problem."""
    result = CocoLabels(Path(source))
    _kind(data, dict, f"{source}: the top level", "an object")
    category_id = _choose_category(data, source, label)
    images: dict[int, tuple[int, dict]] = {}
    for i, image in enumerate(_kind(data.get("images"), list, f"{source}: images", "a list")):
        where = f"{source}: images[{i}]"
        _kind(image, dict, where, "an object")
        image_id = _kind(image.get("id"), int, f"{where}.id", "an integer")
        if image_id in images:
            raise FormatError(f"{where}.id {image_id} is also the id of "
                              f"images[{images[image_id][0]}]")
        images[image_id] = (i, image)
    annotations = _kind(data.get("annotations"), list, f"{source}: annotations", "a list")
    for i, ann in enumerate(annotations):
        where = f"{source}: annotations[{i}]"
        _kind(ann, dict, where, "an object")
        if ann.get("category_id") != category_id:
            continue
        extra = ann.get("faceprop")
        if isinstance(extra, dict) and extra.get("keyframe") is False and not include_pseudo:
            result.skipped_pseudo += 1
            continue
        image_id = _kind(ann.get("image_id"), int, f"{where}.image_id", "an integer")
        if image_id not in images:
            raise FormatError(f"{where}.image_id {image_id} names no image")
        face = _keypoints(ann, where)
        if face is None:
            continue
        index, image = images[image_id]
        image_where = f"images[{index}]"
        key, frame = _image_place(image, f"{source}: {image_where}")
        parsed = result.videos.get(key)
        if parsed is None:
            parsed = result.videos[key] = ParsedLabels(source)
        parsed.add(frame, face[0], face[1], f"annotations[{i}] ({image_where}, "
                                            f"{image.get('file_name', '')})")
        width, height = image.get("width"), image.get("height")
        if isinstance(width, int) and isinstance(height, int):
            parsed.note_size(width, height, image_where)
    return result


def read_coco(source: str | os.PathLike[str], *, label: str = FACE_CATEGORY,
              include_pseudo: bool = False) -> CocoLabels:
    """Read and check a COCO keypoints file (or an export folder holding one)."""
    path = coco_file(source)
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path}: line {exc.lineno} column {exc.colno}: not valid JSON "
                          f"({exc.msg})") from None
    except UnicodeDecodeError:
        raise FormatError(f"{path}: not a text file") from None
    except OSError as exc:
        raise FormatError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    return parse_coco(data, str(path), label=label, include_pseudo=include_pseudo)


def import_coco(project, source: str | os.PathLike[str] | CocoLabels, *,
                videos: Sequence[str | os.PathLike[str]] = (), label: str = FACE_CATEGORY,
                include_pseudo: bool = False, transcode: bool = False,
                author: str | None = None, progress: Progress | None = None,
                should_stop: ShouldStop | None = None) -> list[ImportedVideo]:
    """Import a COCO keypoints file: each video's labels in one transaction.

    A video is the ``videos`` file with the name (or stem) the file gives it, the only file
    given for a file of one video, or the project's video of that name. The whole file is read
    and every video found before anything is written.
    """
    coco = source if isinstance(source, CocoLabels) else read_coco(
        source, label=label, include_pseudo=include_pseudo)
    files = [Path(v) for v in videos]
    check_video_files(files)
    plan, used = [], set()
    for key, parsed in coco.videos.items():
        file = find_video_file(key, files, single=len(coco.videos) == 1)
        existing = None if file is not None else project_video(project, key)
        if file is None and existing is None:
            shown = repr(key) if key else "(images without a folder)"
            raise FormatError(f"{coco.path}: no video for the frames of video {shown} "
                              f"(e.g. {next(iter(parsed.origin.values()))}); pass --video "
                              "FILE, the video they come from")
        used.add(file)
        plan.append((key, parsed, file, existing))
    unused = [f for f in files if f not in used]
    if unused:
        names = ", ".join(repr(k) for k in coco.videos) or "none"
        raise FormatError(f"{unused[0]}: matches no video labelled in {coco.path} "
                          f"(videos: {names})")
    results = []
    for done, (key, parsed, file, existing) in enumerate(plan):
        if progress is not None:
            progress(done, len(plan))
        results.append(store_labels(project, parsed, video_file=file, existing=existing,
                                    name=key or (file.stem if file else None),
                                    transcode=transcode, author=author,
                                    should_stop=should_stop))
    if progress is not None:
        progress(len(plan), len(plan))
    return results
