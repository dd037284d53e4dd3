"""Frames where tracking lost the face are flagged "face lost?" with their confidence capped,
and the review queue names them (issue 12 §1); a synthetic clip can pan away from its face."""

from __future__ import annotations

import numpy as np

from core.face_lost import LOST_CONFIDENCE, face_lost
from core.formats.pts import read_pts
from core.formats.vw300 import import_300vw
from core.store import Project
from core.suggest import REASONS, rank_suggestions
from evaluation.synthetic.clip import make_clip
from tests.core.test_review_states import face
from trainer.jobs import propagate_video


def test_points_off_the_image_or_collapsed_confidence_mean_lost():
    inside = face()[None].repeat(3, axis=0)
    points = inside.copy()
    points[1, :40, 0] += 10_000  # 40 of 68 points off the image
    points[2, :20, 0] += 10_000  # 20 of 68: still the face, partly out
    confident = np.full((3, 68), 0.9)
    assert face_lost(points, confident, (640, 480)).tolist() == [False, True, False]
    collapsed = confident.copy()
    collapsed[0] = 0.1
    assert face_lost(inside, collapsed, None).tolist() == [True, False, False]


def test_a_face_that_leaves_is_flagged_and_suggested(tmp_path):
    clip = make_clip(tmp_path / "clip001", None, frames=60, stride=10, difficulty="easy",
                     seed=1, size=(160, 120), leave=(25, 34)).path
    truth = np.stack([read_pts(clip / "gt" / f"{t + 1:06d}.pts") for t in range(60)])
    out = (truth[..., 0] > 159).all(axis=1)
    assert out[25:35].all() and not out[:14].any()
    keyframes = sorted(int(p.stem) - 1 for p in (clip / "annot").iterdir())
    assert not set(keyframes) & set(range(15, 45))  # none where the face is not wholly in
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        [imported] = import_300vw(project, clip)
        run = propagate_video(project, imported.video_id, "flow")
        labels = project.runs.pseudo_labels(run.id)
        stats = project.runs.frame_stats(run.id)
    lost = stats["face_lost"] > 0
    assert lost[out].all()  # every frame without its face is flagged
    assert (labels.confidence[lost] <= LOST_CONFIDENCE + 1e-6).all()
    assert not lost[keyframes].any()
    ranked = rank_suggestions(stats, keyframes, limit=5)
    assert ranked[0].reason == REASONS["face_lost"] and out[ranked[0].frame]
