"""Shot transitions found while tracking (issue 12 §2): a dissolve between two faces is split
where the shot changes instead of blended, a still face is not, and the frames reach the run."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from cli.trainer_commands import transitions_text
from core import metrics
from core.formats.vw300 import import_300vw
from core.landmarks import mean_shape
from core.propagation import transitions
from core.propagation.edits import resolve_edit
from core.propagation.flow import flow_track
from core.store import Project
from core.video import VideoReader
from evaluation.bench import read_ground_truth
from evaluation.synthetic.clip import make_clip
from trainer.jobs import propagate_video


@pytest.fixture(scope="module")
def dissolve(tmp_path_factory):
    """40 frames, two shots of other faces dissolved over 8 frames around frame 20."""
    folder = tmp_path_factory.mktemp("dissolve")
    make_clip(folder, None, frames=40, stride=10, difficulty="easy", seed=2, size=(160, 120),
              cuts=1, dissolve=8)
    return folder


def _frames(folder):
    with VideoReader(folder / "vid.avi") as reader:
        return [reader.frame(i) for i in range(reader.frame_count)]


def test_a_dissolve_between_two_faces_is_split_where_the_shot_changes(dissolve) -> None:
    frames, gt = _frames(dissolve), read_ground_truth(dissolve, 40)
    cut = json.loads((dissolve / "clip.json").read_text())["cuts"][0]
    keys = {t: gt[t] for t in (0, 14, 26, 39)}  # one gap holds the whole dissolve
    result = flow_track(frames.__getitem__, 40, keys)
    [found] = result.info["transitions"]
    assert abs(found - cut) <= 1
    around = np.arange(15, 26)
    errors = np.asarray(metrics.nme(result.points[around], gt[around]))
    assert errors.max() < 0.1  # each frame follows one face, not the middle of two
    original = transitions.is_transition
    try:  # the blend it replaces: frames halfway between the two faces
        transitions.is_transition = lambda *args: False
        blended = flow_track(frames.__getitem__, 40, keys)
    finally:
        transitions.is_transition = original
    assert "transitions" not in blended.info
    assert np.asarray(metrics.nme(blended.points[around], gt[around])).max() > 0.2


def test_tracks_that_end_at_the_other_keyframe_are_no_transition() -> None:
    face = mean_shape() * 40 + 80
    assert not transitions.is_transition(face + 2, face - 2, face, face)
    far = face + 60  # 60 px is far more than half this face's inter-ocular distance
    assert transitions.is_transition(far, far, face, face + 120)
    assert not transitions.is_transition(face + 2, far, face, face)  # one end agrees


def test_the_split_is_where_the_picture_is_half_the_next_shot() -> None:
    a, b = np.zeros((20, 40), np.uint8), np.full((20, 40), 200, np.uint8)
    frames = [np.clip(a * (1 - w) + b * w, 0, 255).astype(np.uint8)
              for w in np.clip((np.arange(12) - 3) / 6, 0, 1)]  # a fade from frame 3 to 9
    assert transitions.split_frame(0, 11, frames.__getitem__) == 6
    # the last keyframe inside the fade: measured against a frame past it
    assert transitions.split_frame(0, 6, frames.__getitem__, frames[11]) == 6
    assert transitions.split_frame(0, 6, frames.__getitem__) == 5  # against frame 6 itself


def test_unsound_tracks_are_a_tracking_failure_not_a_transition() -> None:
    points = np.zeros((5, 68, 2))
    good, bad = np.zeros((5, 68)), np.full((5, 68), 10.0)
    assert transitions.sound(0, 5, 3, (points, good), (points, good), face_scale=50.0)
    assert not transitions.sound(0, 5, 3, (points, bad), (points, good), face_scale=50.0)
    # a long track may gather proportionally more: 4 px over 30 frames is sound, over 5 not
    long_points, drift = np.zeros((40, 68, 2)), np.full((40, 68), 4.0)
    assert transitions.sound(0, 40, 31, (long_points, drift), (long_points, good[:1]), 50.0)
    assert not transitions.sound(0, 40, 6, (long_points, drift), (long_points, good[:1]), 50.0)


def test_the_run_names_the_transition_in_video_frames(tmp_path, dissolve) -> None:
    clip = tmp_path / "clip"
    shutil.copytree(dissolve, clip)
    for f in (clip / "annot").glob("*.pts"):
        f.unlink()
    for t in (6, 14, 26, 39):
        shutil.copy(clip / "gt" / f"{t + 1:06d}.pts", clip / "annot" / f"{t + 1:06d}.pts")
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        [imported] = import_300vw(project, clip)
        assert project.cuts.frames(imported.video_id) == []  # the index does not see it
        project.absences.mark(imported.video_id, 0, 4)  # the segment starts at frame 5
        run = propagate_video(project, imported.video_id, "flow")
        # an edit inside the dissolve's gap: the re-solve tracks and smooths either side of it
        gt = read_ground_truth(clip, 40)
        project.labels.set(imported.video_id, 17, gt[17])
        resolved = project.runs.pseudo_labels(resolve_edit(project, imported.video_id, [17]).id)
        around = np.arange(18, 26)
        rows = np.searchsorted(resolved.frames, around)  # the run starts at frame 5
        # each frame shows one of the two faces (the dissolve's middle frame may go either way)
        # and never their mean
        errors = np.stack([metrics.nme(resolved.points[rows], gt[around + d]) for d in (-1, 0, 1)])
        assert errors.min(axis=0).max() < 0.1
    cut = json.loads((clip / "clip.json").read_text())["cuts"][0]
    [found] = run.metrics["transitions"]
    assert abs(found - cut) <= 1  # a frame of the video, not of its segment
    assert f"frame {found + 1} " in transitions_text(run.metrics)
    assert transitions_text({}) == ""
