"""CVAT for video 1.1 XML: a hand-written file in CVAT's documented format imports and exports
back the same; exports carry provenance as keyframe flags; bad files are refused by line."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from core.errors import FormatError
from core.formats.cvat import CVAT_OFFSET, export_cvat, import_cvat, read_cvat
from core.landmarks import N_POINTS, mean_shape
from core.store import Project
from tests.conftest import write_numbered_video
from tests.core.test_coco import FRAMES, KEYFRAMES, face, hidden, labelled_project


def cvat_points(frame: int) -> str:
    """68 points as CVAT writes them: "x,y;x,y;..." with two decimals, image-corner origin."""
    pts = mean_shape() * 50 + [80.0 + frame, 50.0]
    return ";".join(f"{x:.2f},{y:.2f}" for x, y in pts)


# Follows "XML annotation format", version 1.1, interpolation (video) mode, of CVAT's
# documentation (docs.cvat.ai/docs/other/xml_format, also cvat-ai/cvat
# site/content/en/docs/manual/advanced/xml_format.md): <meta><task> with the labels and
# original_size, then one <track> per object whose shapes carry frame, keyframe, outside,
# occluded. Frame 1 is an interpolated shape, frame 6 ends the face (outside), frame 9 is a
# keyframe marked occluded without the occluded_points attribute; a person track is beside it.
HAND_WRITTEN = f"""<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <task>
      <id>7</id>
      <name>clip</name>
      <size>12</size>
      <mode>interpolation</mode>
      <overlap>0</overlap>
      <bugtracker></bugtracker>
      <flipped>False</flipped>
      <created>2024-03-01 10:00:00.000000+00:00</created>
      <updated>2024-03-01 10:30:00.000000+00:00</updated>
      <labels>
        <label>
          <name>face</name>
          <type>points</type>
          <attributes>
            <attribute>
              <name>occluded_points</name>
              <mutable>True</mutable>
              <input_type>text</input_type>
              <default_value></default_value>
              <values></values>
            </attribute>
          </attributes>
        </label>
        <label>
          <name>person</name>
          <type>any</type>
          <attributes>
          </attributes>
        </label>
      </labels>
      <segments>
        <segment>
          <id>7</id>
          <start>0</start>
          <stop>11</stop>
          <url>http://localhost:8080/api/jobs/7</url>
        </segment>
      </segments>
      <owner>
        <username>annotator</username>
        <email></email>
      </owner>
      <original_size>
        <width>160</width>
        <height>120</height>
      </original_size>
    </task>
    <dumped>2024-03-01 10:31:00.000000+00:00</dumped>
  </meta>
  <track id="0" label="face" source="manual">
    <points frame="0" keyframe="1" outside="0" occluded="0" points="{cvat_points(0)}" z_order="0">
      <attribute name="occluded_points"></attribute>
    </points>
    <points frame="1" keyframe="0" outside="0" occluded="0" points="{cvat_points(1)}" z_order="0">
      <attribute name="occluded_points"></attribute>
    </points>
    <points frame="4" keyframe="1" outside="0" occluded="1" points="{cvat_points(4)}" z_order="0">
      <attribute name="occluded_points">36,37,38</attribute>
    </points>
    <points frame="6" keyframe="1" outside="1" occluded="0" points="{cvat_points(4)}" z_order="0">
      <attribute name="occluded_points"></attribute>
    </points>
    <points frame="9" keyframe="1" outside="0" occluded="1" points="{cvat_points(9)}" z_order="0">
    </points>
  </track>
  <track id="1" label="person" source="manual">
    <box frame="0" xtl="10.00" ytl="5.00" xbr="150.00" ybr="118.00" outside="0" occluded="0" keyframe="1" z_order="0">
    </box>
  </track>
</annotations>
"""  # noqa: E501


def expected_points(frame: int) -> np.ndarray:
    """What FaceProp stores for ``cvat_points(frame)``: pixel indices, half a pixel less."""
    text = cvat_points(frame)
    xy = np.array([[float(v) for v in pair.split(",")] for pair in text.split(";")])
    return (xy - CVAT_OFFSET).astype(np.float32)


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_a_hand_written_cvat_file_imports_its_keyframes(tmp_path):
    video = write_numbered_video(tmp_path / "clip.avi", frames=FRAMES)
    (tmp_path / "tracks.xml").write_text(HAND_WRITTEN)
    parsed = read_cvat(tmp_path / "tracks.xml")
    assert parsed.task_name == "clip" and parsed.labels.size == (160, 120)
    assert parsed.ignored == {"interpolated": 1, "outside": 1}
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        imported = import_cvat(project, parsed, video=video)
        assert (imported.keyframes, imported.name) == (3, "clip")
        labels = project.labels.all(imported.video_id)
    assert sorted(labels) == [0, 4, 9]
    for frame, annotation in labels.items():
        np.testing.assert_array_equal(annotation.points, expected_points(frame))
        assert annotation.source == "imported"
    assert labels[0].visible.all()
    assert np.flatnonzero(~labels[4].visible).tolist() == [36, 37, 38]
    assert not labels[9].visible.any()  # occluded="1" and no occluded_points: all hidden


def test_the_hand_written_file_exports_back_as_written(tmp_path):
    video = write_numbered_video(tmp_path / "clip.avi", frames=FRAMES)
    (tmp_path / "tracks.xml").write_text(HAND_WRITTEN)
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        import_cvat(project, tmp_path / "tracks.xml", video=video)
        [result] = export_cvat(project, tmp_path / "out", labelled_only=True)
    assert result.path == tmp_path / "out" / "clip" / "annotations.xml"
    ours = {int(s.get("frame")): s for s in ET.parse(result.path).getroot().iter("points")}
    theirs = {int(s.get("frame")): s for s in ET.fromstring(HAND_WRITTEN.encode()).iter("points")
              if s.get("keyframe") == "1" and s.get("outside") == "0"}
    assert sorted(ours) == [0, 4, 9, 10]  # the keyframes, then outside after the last one
    assert (ours[10].get("outside"), ours[10].get("keyframe")) == ("1", "1")
    for frame, shape in theirs.items():
        mine = ours[frame]
        for name in ("keyframe", "outside", "occluded", "z_order"):
            assert mine.get(name) == shape.get(name), (frame, name)
        np.testing.assert_allclose(
            [[float(v) for v in p.split(",")] for p in mine.get("points").split(";")],
            [[float(v) for v in p.split(",")] for p in shape.get("points").split(";")],
            atol=1e-4)
    assert ours[4].find("attribute").text == "36,37,38"
    assert ours[9].find("attribute").text == ",".join(map(str, range(N_POINTS)))
    meta = ET.parse(result.path).getroot().find("meta/task")
    assert meta.findtext("mode") == "interpolation" and meta.findtext("size") == "12"
    assert meta.findtext("original_size/width") == "160"
    assert meta.find("labels/label/name").text == "face"


def test_export_marks_provenance_and_frames_without_labels(tmp_path):
    project_path, video = labelled_project(tmp_path)
    with Project.open(project_path) as project:
        original = project.labels.all(1)
        [result] = export_cvat(project, tmp_path / "out")
    assert (result.frames, result.keyframes, result.pseudo) == (10, 3, 7)
    root = ET.parse(result.path).getroot()
    assert root.findtext("version") == "1.1"
    [track] = root.findall("track")
    assert (track.get("label"), track.get("source")) == ("face", "manual")
    shapes = {int(s.get("frame")): s for s in track.iter("points")}
    assert sorted(shapes) == list(range(FRAMES))  # one shape per frame
    for frame, shape in shapes.items():
        flags = (shape.get("keyframe"), shape.get("outside"))
        if frame in KEYFRAMES:
            assert flags == ("1", "0")
            assert shape.get("occluded") == "1"  # hidden(frame) hides three points
            assert shape.find("attribute").text == ",".join(
                map(str, np.flatnonzero(~hidden(frame))))
        elif frame <= 8:
            assert flags == ("0", "0")  # a pseudo-label of the run
        else:
            assert flags == ("1" if frame == 9 else "0", "1")  # no label: outside
        xy = np.array([[float(v) for v in p.split(",")]
                       for p in shape.get("points").split(";")])
        expected = face(frame) if frame in KEYFRAMES else face(min(frame, 8)) + 0.25
        np.testing.assert_allclose(xy - CVAT_OFFSET, expected, atol=1e-5)
    with Project.create_or_open(tmp_path / "again.faceprop.sqlite") as again:
        imported = import_cvat(again, tmp_path / "out" / "clip", video=video)
        labels = again.labels.all(imported.video_id)
    assert sorted(labels) == list(KEYFRAMES)  # pseudo-labels are not keyframes
    for frame, annotation in labels.items():
        np.testing.assert_array_equal(annotation.points, original[frame].points)  # exact
        np.testing.assert_array_equal(annotation.visible, original[frame].visible)


def _damaged(how: str) -> str:
    text = HAND_WRITTEN
    frame4 = '<points frame="4" keyframe="1"'
    replacements = {
        "frame not a number": (frame4, '<points frame="x" keyframe="1"'),
        "67 points": (cvat_points(4), cvat_points(4).rsplit(";", 1)[0]),
        "bad coordinate": (cvat_points(4), "nan,1;" + cvat_points(4).split(";", 1)[1]),
        "keyframe 2": (frame4, '<points frame="4" keyframe="2"'),
        "not well formed": ("</points>\n    <points frame=\"9\"", "\n    <points frame=\"9\""),
        "for images": ('<track id="1"', '<image id="0" name="a.jpg" width="160" height="120">'
                                        '</image>\n  <track id="1"'),
        "no face": ('label="face" source', 'label="faces" source'),
        "start frame": ("<overlap>0</overlap>", "<start_frame>5</start_frame>"),
        "frame filter": ("<overlap>0</overlap>", "<frame_filter>step=2</frame_filter>"),
        "doctype": ("<annotations>", '<!DOCTYPE annotations [<!ENTITY a "b">]>\n<annotations>'),
        "skeleton": ('<points frame="9"', '<skeleton frame="9"'),
        "occluded points": (">36,37,38<", ">36,x<"),
        "beyond the end": (frame4, '<points frame="12" keyframe="1"'),
        "other size": ("<width>160</width>", "<width>320</width>"),
    }
    old, new = replacements[how]
    assert old in text
    text = text.replace(old, new, 1)
    if how == "skeleton":
        text = text.replace("    </points>\n  </track>\n  <track id=\"1\"",
                            "    </skeleton>\n  </track>\n  <track id=\"1\"")
    return text


FRAME4 = line_of(HAND_WRITTEN, '<points frame="4"')


@pytest.mark.parametrize(("how", "message"), [
    ("frame not a number", f'line {FRAME4}: <points frame="x">: frame is not a number'),
    ("67 points", f'line {FRAME4}: <points frame="4">: points has 67 points, expected 68'),
    ("bad coordinate", r"point 1 \('nan,1'\) is not 'x,y' with finite coordinates"),
    ("keyframe 2", f"line {FRAME4}: <points frame=\"4\">: keyframe is '2', not 0 or 1"),
    ("not well formed", r"line \d+: not well-formed XML \(mismatched tag\)"),
    ("for images", r"line \d+: a 'CVAT for images' file"),
    ("no face", r"no track labelled 'face' \(found: 'faces', 'person'\)"),
    ("start frame", r"line \d+: the task starts at frame 5"),
    ("frame filter", r"the task uses the frame filter 'step=2'"),
    ("doctype", r"line 2: a <!DOCTYPE> declaration"),
    ("skeleton", r"the 'face' track holds <skeleton> shapes"),
    ("occluded points", r"occluded_points lists 'x', not a point index"),
    ("beyond the end", f'line {FRAME4}: <points frame="12">: frame 13 is beyond the end of '
                       r"clip \(12 decodable frames\)"),
    ("other size", r"<original_size> says the frames are 320x120 but clip is 160x120"),
])
def test_bad_input_names_the_line_and_leaves_the_project_unchanged(tmp_path, how, message):
    video = write_numbered_video(tmp_path / "clip.avi", frames=FRAMES)
    (tmp_path / "tracks.xml").write_text(_damaged(how))
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        with pytest.raises(FormatError, match=f"tracks.xml: .*{message}"):
            import_cvat(project, tmp_path / "tracks.xml", video=video)
        assert project.videos.all() == []
        record = project.videos.add(video)
        project.labels.set(record.id, 2, face(2))
        with pytest.raises(FormatError, match=message):  # onto the project's "clip" video
            import_cvat(project, tmp_path / "tracks.xml")
        assert project.labels.frames(record.id) == [2]


def test_a_task_without_a_known_video_asks_for_one(tmp_path: Path):
    (tmp_path / "tracks.xml").write_text(HAND_WRITTEN)
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        with pytest.raises(FormatError, match=r"no video named like task 'clip'; pass --video"):
            import_cvat(project, tmp_path / "tracks.xml")
        with pytest.raises(FormatError, match=r"missing.avi: no such video file"):
            import_cvat(project, tmp_path / "tracks.xml", video=tmp_path / "missing.avi")
        assert project.videos.all() == []
