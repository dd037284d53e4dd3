"""CVAT for video 1.1 XML: export each video's face as a ``points`` track, import one back.

Written (through ``export_target``): ``OUT/<video>/annotations.xml`` per video, the layout of
CVAT's own "CVAT for video 1.1" export, following CVAT's documented XML format
(docs.cvat.ai, "XML annotation format", version 1.1, interpolation mode): ``<meta><task>`` with
``mode`` interpolation, the task size, one label ``face`` of type ``points`` and the
``original_size``; one ``<track label="face" source="manual">`` whose ``<points frame=...
keyframe= outside= occluded= points="x1,y1;x2,y2;..." z_order="0">`` shapes hold the 68 points in
iBUG order.

Conventions:

- Coordinates: CVAT draws the image over [0, W] x [0, H], so the centre of pixel column i is at
  x = i + 0.5 (a shape dragged to the bottom-right pixel's far corner reads (W, H)). FaceProp
  points are pixel indices (the centre of the top-left pixel is (0, 0)), so the export adds
  ``CVAT_OFFSET`` = 0.5 and the import subtracts it; numbers are written with Python's shortest
  float repr, so the round trip is exact.
- ``frame`` is the 0-based frame index; the task must hold every frame of the video (an import
  refuses a task with a start frame or a frame filter).
- ``keyframe="1"``: a person labelled the frame (a project annotation); ``keyframe="0"``: a
  pseudo-label of the run the export took. ``outside="1"``: the video has no label on the frame
  (for now the only sign of "no face"); its points repeat the nearest label, as CVAT expects. With
  ``labelled_only`` only the keyframes are written (CVAT interpolates between them) and one
  ``outside`` shape ends the track after the last keyframe.
- ``occluded="1"`` when any point is hidden; the hidden points (0-based iBUG indices, comma
  separated) are in the shape's ``occluded_points`` text attribute, declared in the label's
  meta so CVAT keeps it. A file without the attribute: ``occluded="1"`` hides every point.

Import reads the ``face`` track(s): shapes with ``keyframe="1"`` and ``outside="0"`` become
annotations (source ``"imported"``); the others are ignored (CVAT's interpolation between
keyframes, or frames where the face is outside). CVAT itself keeps only ``keyframe="1"`` shapes
of a track when it loads a file, so in CVAT the frames between keyframes show its own
interpolation, not FaceProp's pseudo-labels.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from core.errors import CancelledError, FormatError
from core.formats.export_target import check_target, staged_export
from core.formats.pts import MAX_COORDINATE
from core.formats.video_labels import (
    ExportedVideo,
    FrameLabel,
    ImportedVideo,
    ParsedLabels,
    VideoLabels,
    check_video_files,
    collect_labels,
    project_video,
    store_labels,
)
from core.formats.xml_tree import XmlNode, parse_xml
from core.landmarks import N_POINTS
from core.progress import Progress, ShouldStop

logger = logging.getLogger(__name__)

CVAT_FILE = "annotations.xml"
CVAT_OFFSET = 0.5
FACE_LABEL = "face"
OCCLUDED_ATTRIBUTE = "occluded_points"


# -- export ---------------------------------------------------------------------------------

def _points_text(points: np.ndarray) -> str:
    return ";".join(f"{float(x) + CVAT_OFFSET!r},{float(y) + CVAT_OFFSET!r}"
                    for x, y in np.asarray(points, dtype=np.float32))


def _shape(frame: int, label: FrameLabel, *, keyframe: bool, outside: bool) -> str:
    hidden = np.flatnonzero(~np.asarray(label.visible, dtype=bool)).tolist()
    occluded = int(bool(hidden) and not outside)
    return (f'    <points frame="{frame}" keyframe="{int(keyframe)}" outside="{int(outside)}" '
            f'occluded="{occluded}" points="{_points_text(label.points)}" z_order="0">\n'
            f'      <attribute name="{OCCLUDED_ATTRIBUTE}">'
            f'{",".join(map(str, hidden)) if not outside else ""}</attribute>\n'
            "    </points>\n")


def _track_shapes(entry: VideoLabels, labelled_only: bool) -> Iterator[str]:
    """One shape per frame (keyframe, pseudo-label or outside), or with ``labelled_only`` the
    keyframes and one outside shape after the last."""
    labels, count = entry.labels, entry.video.frame_count
    if not labels:
        return
    frames = sorted(labels)
    if labelled_only:
        for frame in frames:
            yield _shape(frame, labels[frame], keyframe=True, outside=False)
        if frames[-1] + 1 < count:
            yield _shape(frames[-1] + 1, labels[frames[-1]], keyframe=True, outside=True)
        return
    nearest = labels[frames[0]]
    for frame in range(count):
        label = labels.get(frame)
        if label is not None:
            yield _shape(frame, label, keyframe=label.keyframe, outside=False)
            nearest = label
        else:
            starts_run = frame == 0 or frame - 1 in labels
            yield _shape(frame, nearest, keyframe=starts_run, outside=True)


def write_cvat(handle: TextIO, entry: VideoLabels, labelled_only: bool = False,
               label: str = FACE_LABEL, should_stop: ShouldStop | None = None) -> None:
    """Write one video's ``annotations.xml``, shape by shape."""
    video = entry.video
    now = datetime.now(timezone.utc).isoformat(sep=" ")
    meta = f"""  <meta>
    <task>
      <id>{video.id}</id>
      <name>{escape(video.name)}</name>
      <size>{video.frame_count}</size>
      <mode>interpolation</mode>
      <overlap>0</overlap>
      <bugtracker></bugtracker>
      <flipped>False</flipped>
      <created>{now}</created>
      <updated>{now}</updated>
      <labels>
        <label>
          <name>{escape(label)}</name>
          <type>points</type>
          <attributes>
            <attribute>
              <name>{OCCLUDED_ATTRIBUTE}</name>
              <mutable>True</mutable>
              <input_type>text</input_type>
              <default_value></default_value>
              <values></values>
            </attribute>
          </attributes>
        </label>
      </labels>
      <segments>
        <segment>
          <id>0</id>
          <start>0</start>
          <stop>{max(video.frame_count - 1, 0)}</stop>
          <url></url>
        </segment>
      </segments>
      <owner>
        <username></username>
        <email></email>
      </owner>
      <original_size>
        <width>{video.width}</width>
        <height>{video.height}</height>
      </original_size>
    </task>
    <dumped>{now}</dumped>
  </meta>
"""
    handle.write('<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n'
                 f"  <version>1.1</version>\n{meta}")
    if entry.labels:
        handle.write(f'  <track id="0" label={quoteattr(label)} source="manual">\n')
        for shape in _track_shapes(entry, labelled_only):
            if should_stop is not None and should_stop():
                raise CancelledError("export cancelled")
            handle.write(shape)
        handle.write("  </track>\n")
    handle.write("</annotations>\n")


def export_cvat(project, target: str | os.PathLike[str], *,
                video_ids: Sequence[int] | None = None, run_id: int | None = None,
                labelled_only: bool = False, force: bool = False,
                progress: Progress | None = None, should_stop: ShouldStop | None = None
                ) -> list[ExportedVideo]:
    """Write ``target/<video>/annotations.xml`` for each video, atomically."""
    target = Path(target)
    check_target(project, target, force)
    videos = collect_labels(project, video_ids=video_ids, run_id=run_id,
                            labelled_only=labelled_only)
    manifest = {"dataset": "cvat-video-1.1", "file": CVAT_FILE,
                "videos": [{"id": v.video.id, "name": v.video.name, "folder": v.folder,
                            "run": v.run_id} for v in videos]}
    with staged_export(project, target, manifest) as staging:
        for done, entry in enumerate(videos):
            if should_stop is not None and should_stop():
                raise CancelledError("export cancelled")
            (staging / entry.folder).mkdir()
            with (staging / entry.folder / CVAT_FILE).open("w", encoding="utf-8") as handle:
                write_cvat(handle, entry, labelled_only, should_stop=should_stop)
            if progress is not None:
                progress(done + 1, len(videos))
    return [ExportedVideo(target / v.folder / CVAT_FILE, v.video.id, len(v.labels), v.keyframes,
                          len(v.labels) - v.keyframes, v.run_id) for v in videos]


# -- import ---------------------------------------------------------------------------------

@dataclass
class CvatLabels:
    """A CVAT for video file read and checked: the face keyframes of its one video."""

    path: Path
    task_name: str | None
    labels: ParsedLabels
    ignored: dict[str, int] = field(default_factory=dict)  # "interpolated", "outside"


def cvat_file(source: str | os.PathLike[str]) -> Path:
    """The XML file itself, or ``annotations.xml`` in a folder (CVAT's or our export's)."""
    path = Path(source)
    if path.is_dir():
        path = path / CVAT_FILE
    if not path.is_file():
        raise FormatError(f"{path}: no such file")
    return path


def _flag(node: XmlNode, name: str, where: str, default: str | None = None) -> bool:
    value = node.attrs.get(name, default)
    if value not in ("0", "1"):
        shown = "is missing" if value is None else f"is {value!r}, not 0 or 1"
        raise FormatError(f"{where}: {name} {shown}")
    return value == "1"


def _coordinates(text: str | None, where: str) -> np.ndarray:
    if text is None:
        raise FormatError(f"{where}: points is missing")
    pairs = [p for p in text.strip().split(";") if p.strip()]
    if len(pairs) != N_POINTS:
        raise FormatError(f"{where}: points has {len(pairs)} points, expected {N_POINTS}")
    values = np.empty((N_POINTS, 2), dtype=np.float64)
    for k, pair in enumerate(pairs):
        parts = pair.split(",")
        try:
            xy = [float(v) for v in parts]
        except ValueError:
            xy = []
        if len(xy) != 2 or not all(math.isfinite(v) and abs(v) <= MAX_COORDINATE for v in xy):
            raise FormatError(f"{where}: point {k + 1} ({pair.strip()!r}) is not 'x,y' with "
                              f"finite coordinates within {MAX_COORDINATE:,.0f} pixels")
        values[k] = xy
    return (values - CVAT_OFFSET).astype(np.float32)


def _visibility(node: XmlNode, occluded: bool, where: str) -> np.ndarray:
    visible = np.ones(N_POINTS, dtype=bool)
    attribute = next((c for c in node.children if c.tag == "attribute"
                      and c.attrs.get("name") == OCCLUDED_ATTRIBUTE), None)
    if attribute is None:
        return ~visible if occluded else visible
    for item in filter(None, (s.strip() for s in attribute.text.split(","))):
        if not item.isdigit() or int(item) >= N_POINTS:
            raise FormatError(f"{where}: {OCCLUDED_ATTRIBUTE} lists {item!r}, not a point index "
                              f"0..{N_POINTS - 1}")
        visible[int(item)] = False
    return visible


def _check_task(meta: XmlNode | None, source: str) -> tuple[str | None, tuple[int, int] | None,
                                                             str]:
    """Task name and frame size from ``<meta>``; a task that skips frames is refused."""
    task = None if meta is None else next(
        (c for c in meta.children if c.tag in ("task", "job")), None)
    if task is None:
        return None, None, ""
    fields = {c.tag: c for c in task.children}
    start = fields.get("start_frame")
    if start is not None and start.text.strip() not in ("", "0"):
        raise FormatError(f"{source}: line {start.line}: the task starts at frame "
                          f"{start.text.strip()}; FaceProp reads tasks made from every frame")
    frame_filter = fields.get("frame_filter")
    if frame_filter is not None and frame_filter.text.strip():
        raise FormatError(f"{source}: line {frame_filter.line}: the task uses the frame filter "
                          f"{frame_filter.text.strip()!r}; FaceProp reads tasks made from every "
                          "frame")
    name = fields["name"].text.strip() if "name" in fields else None
    size_node = fields.get("original_size")
    if size_node is None:
        return name, None, ""
    dims = {c.tag: c.text.strip() for c in size_node.children}
    if not (dims.get("width", "").isdigit() and dims.get("height", "").isdigit()):
        raise FormatError(f"{source}: line {size_node.line}: <original_size> needs whole "
                          "numbers in <width> and <height>")
    return name, (int(dims["width"]), int(dims["height"])), \
        f"line {size_node.line}: <original_size>"


def parse_cvat(root: XmlNode, source: str, *, label: str = FACE_LABEL) -> CvatLabels:
    """Check a parsed CVAT for video document and collect the face keyframes."""
    if root.tag != "annotations":
        raise FormatError(f"{source}: line {root.line}: <{root.tag}> is not CVAT's "
                          "<annotations> root")
    version = next((c for c in root.children if c.tag == "version"), None)
    if version is not None and not version.text.strip().startswith("1."):
        raise FormatError(f"{source}: line {version.line}: version {version.text.strip()!r}; "
                          "FaceProp reads CVAT XML 1.x")
    image = next((c for c in root.children if c.tag == "image"), None)
    if image is not None:
        raise FormatError(f"{source}: line {image.line}: a 'CVAT for images' file (<image> "
                          "elements); export the task as 'CVAT for video 1.1'")
    name, size, size_origin = _check_task(
        next((c for c in root.children if c.tag == "meta"), None), source)
    parsed = ParsedLabels(source, size=size, size_origin=size_origin)
    result = CvatLabels(Path(source), name, parsed, {"interpolated": 0, "outside": 0})
    tracks = [c for c in root.children if c.tag == "track"]
    faces = [t for t in tracks if t.attrs.get("label") == label]
    if not faces:
        found = ", ".join(sorted({repr(t.attrs.get("label")) for t in tracks})) or "no tracks"
        raise FormatError(f"{source}: no track labelled {label!r} (found: {found})")
    for track in faces:
        for shape in track.children:
            if shape.tag == "attribute":
                continue
            frame_text = shape.attrs.get("frame")
            shown = "" if frame_text is None else f' frame="{frame_text}"'
            where = f"{source}: line {shape.line}: <{shape.tag}{shown}>"
            if shape.tag != "points":
                raise FormatError(f"{where}: the {label!r} track holds <{shape.tag}> shapes; "
                                  "FaceProp reads <points> tracks of 68 points")
            if frame_text is None or not frame_text.isdigit():
                raise FormatError(f"{where}: frame is " + (
                    "missing" if frame_text is None else "not a number"))
            frame = int(frame_text)
            outside = _flag(shape, "outside", where)
            keyframe = _flag(shape, "keyframe", where)
            occluded = _flag(shape, "occluded", where, "0")
            if outside or not keyframe:
                result.ignored["outside" if outside else "interpolated"] += 1
                continue
            points = _coordinates(shape.attrs.get("points"), where)
            parsed.add(frame, points, _visibility(shape, occluded, where),
                       f"line {shape.line}: <points frame=\"{frame}\">")
    return result


def read_cvat(source: str | os.PathLike[str], *, label: str = FACE_LABEL) -> CvatLabels:
    """Read and check a CVAT for video 1.1 file (or a folder holding ``annotations.xml``)."""
    path = cvat_file(source)
    return parse_cvat(parse_xml(path), str(path), label=label)


def import_cvat(project, source: str | os.PathLike[str] | CvatLabels, *,
                video: str | os.PathLike[str] | None = None, label: str = FACE_LABEL,
                transcode: bool = False, author: str | None = None,
                progress: Progress | None = None, should_stop: ShouldStop | None = None
                ) -> ImportedVideo:
    """Import the face keyframes of a CVAT for video file in one transaction, onto ``video``
    (added when new) or the project's video named like the task."""
    cvat = source if isinstance(source, CvatLabels) else read_cvat(source, label=label)
    file = Path(video) if video is not None else None
    existing = None
    if file is not None:
        check_video_files([file])
    else:
        existing = project_video(project, cvat.task_name) if cvat.task_name else None
        if existing is None:
            shown = f"task {cvat.task_name!r}" if cvat.task_name else "this task"
            raise FormatError(f"{cvat.path}: the project has no video named like {shown}; "
                              "pass --video FILE, the video the task was made from")
    if progress is not None:
        progress(0, 1)
    result = store_labels(project, cvat.labels, video_file=file, existing=existing,
                          name=cvat.task_name or (file.stem if file else None),
                          transcode=transcode, author=author, should_stop=should_stop)
    if progress is not None:
        progress(1, 1)
    return result
