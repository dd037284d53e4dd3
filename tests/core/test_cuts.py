"""Shot cuts (issue 12 §2): found from the video index when a video is added (hard cuts yes;
pans, fast motion and flashes no), editable and undoable, and propagation, the queue and the
300VW export never reach across them."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from core.cuts import detect_cuts
from core.errors import ValidationError
from core.formats.vw300 import import_300vw
from core.store import Project
from core.store.records import FrameStats
from core.suggest import rank_suggestions
from evaluation.synthetic.clip import make_clip
from trainer.jobs import propagate_video


def _fingerprints(values: np.ndarray) -> np.ndarray:
    """Fingerprints whose every block follows ``values`` (N,), with a little noise."""
    rng = np.random.default_rng(0)
    return values[:, None] + rng.normal(0, 0.5, (len(values), 64))


def test_a_jump_is_a_cut_and_a_ramp_or_a_flash_is_not():
    steady = np.full(120, 100.0)
    jump = steady.copy()
    jump[60:] = 160.0
    assert detect_cuts(_fingerprints(jump)) == [60]
    ramp = steady.copy()
    ramp[40:70] += np.linspace(0, 120, 30)  # a fast pan: large changes over 30 frames
    ramp[70:] += 120
    assert detect_cuts(_fingerprints(ramp)) == []
    flash = steady.copy()
    flash[50] = 250.0  # one bright frame
    assert detect_cuts(_fingerprints(flash)) == []


@pytest.fixture(scope="module")
def film(tmp_path_factory):
    """60 frames, three shots of other faces cut at frames 20 and 40."""
    folder = tmp_path_factory.mktemp("film") / "film001"
    make_clip(folder, None, frames=60, stride=10, difficulty="easy", seed=3, size=(160, 120),
              cuts=2)
    return folder


def test_cuts_are_found_when_a_video_is_added_and_split_propagation(tmp_path, film):
    assert json.loads((film / "clip.json").read_text())["cuts"] == [20, 40]
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        [imported] = import_300vw(project, film)
        video = imported.video_id
        assert project.cuts.frames(video) == [20, 40]
        run = propagate_video(project, video, "interpolation")
        assert run.config["segments"] == [[0, 19], [20, 39], [40, 59]]
        labels = project.runs.pseudo_labels(run.id)
        keys = project.labels.all(video)
    # frame 19 is its shot's last keyframe: nothing of shot 2 leaks into it
    np.testing.assert_allclose(labels.points[19], keys[19].points, atol=1e-4)


def test_cuts_can_be_added_removed_and_restored(tmp_path, film):
    with Project.create_or_open(tmp_path / "p.faceprop.sqlite") as project:
        video = project.videos.add(film / "vid.avi").id
        before = project.cuts.add(video, 30)
        assert before == [20, 40] and project.cuts.frames(video) == [20, 30, 40]
        project.cuts.remove(video, 20)
        assert project.absences.segments(video, 60) == [(0, 29), (30, 39), (40, 59)]
        project.cuts.replace(video, before)  # the undo
        assert project.cuts.frames(video) == [20, 40]
        with pytest.raises(ValidationError, match="a cut at frame 1 means nothing"):
            project.cuts.add(video, 0)
        with pytest.raises(ValidationError, match="outside the video"):
            project.cuts.add(video, 60)
        project.cuts.add(video, 50)
        project.cuts.remove(video, 40)
        assert project.cuts.detect(video) == [20, 40, 50]  # found again; the manual one stays
        actions = [e.action for e in project.labels.history(video)]
    assert actions[-6:] == ["add_cut", "remove_cut", "set_cuts", "add_cut", "remove_cut",
                            "detect_cuts"]


def test_the_queue_never_reaches_across_a_cut():
    frames = np.arange(40)
    score = np.zeros(40)
    score[[18, 19, 20, 21]] = 9.0  # both sides of a cut at 20 look wrong
    stats = FrameStats(run_id=1, frames=frames, values={
        "jitter": np.zeros(40), "confidence": np.ones(40), "suggestion_score": score})
    without = rank_suggestions(stats, [0, 39], min_gap=1)
    assert any(s.reach[0] < 20 <= s.reach[1] for s in without)  # the hat spans the frames
    with_cut = rank_suggestions(stats, [0, 39], min_gap=1, cuts=[20])
    assert {s.frame for s in with_cut} & {18, 19} and {s.frame for s in with_cut} & {20, 21}
    for s in with_cut:
        assert s.reach[1] < 20 or s.reach[0] >= 20  # no correction reaches across the cut


def test_schema_3_projects_gain_the_cuts_table(tmp_path, film):
    path = tmp_path / "v3.faceprop.sqlite"
    with Project.create_or_open(path) as project:
        video = project.videos.add(film / "vid.avi").id
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE cuts")
        connection.execute("UPDATE project_meta SET value='3' WHERE key='schema_version'")
    with Project.open(path) as project:
        assert project.cuts.frames(video) == []  # an older video: nothing found yet
        assert project.cuts.detect(video) == [20, 40]


def _pictures(n: int, seed: int) -> np.ndarray:
    """Fingerprints of a still picture with texture (block means spread over ~40 grey levels),
    one per seed, with a little noise per frame."""
    rng = np.random.default_rng(seed)
    picture = rng.uniform(60, 200, 64)
    return picture[None] + np.random.default_rng(seed + 100).normal(0, 0.5, (n, 64))


def _faded(before: np.ndarray, after: np.ndarray, half: int) -> np.ndarray:
    """``before`` fading to black over its last ``half`` frames, ``after`` fading in from
    black over its first ``half`` (as the synthetic films' fades)."""
    out = np.concatenate([before, after]).copy()
    cut = len(before)
    for t in range(cut - half, cut + half):
        level = ((cut - 1 - t) if t < cut else (t - cut)) / half
        out[t] *= level
    return out


def test_a_fade_through_black_between_two_pictures_is_a_cut_at_its_middle():
    from core.cuts import fade_cuts

    film = _faded(_pictures(60, 1), _pictures(60, 2), 6)
    assert fade_cuts(film) == [60]
    assert detect_cuts(film) == [60]
    # a dip to black and back to the same picture is not a change of shot
    assert detect_cuts(_faded(_pictures(60, 1), _pictures(60, 1), 6)) == []
    # a video that opens or closes on black: a fade in or out, no cut
    opening = _pictures(80, 1)
    opening[:10] *= np.linspace(0, 1, 10)[:, None]
    assert detect_cuts(opening) == []
    # a fade out followed by a hard cut in is one cut, not two
    hard_in = np.concatenate([_faded(_pictures(60, 1), _pictures(60, 2), 6)[:60],
                              _pictures(60, 2)])
    assert len(detect_cuts(hard_in)) == 1


def test_a_dim_video_is_not_cut_at_every_dark_stretch():
    dim = _pictures(120, 3) * 0.02  # contrast about one grey level everywhere
    dim[50:70] *= 3.0  # a brighter moment
    assert detect_cuts(dim) == []


def test_a_fade_film_keeps_its_keyframes_off_the_dark_frames(tmp_path):
    folder = tmp_path / "fade001"
    info = make_clip(folder, None, frames=60, stride=10, difficulty="easy", seed=3,
                     size=(160, 120), cuts=1, fade=8)
    meta = json.loads((folder / "clip.json").read_text())
    assert meta["cuts"] == [30] and meta["fade"] == 8
    assert {25, 34} <= set(info.keyframes)  # full brightness either side of the fade
    assert not any(26 <= k < 34 for k in info.keyframes)
    with pytest.raises(ValidationError, match="dissolve or a fade"):
        make_clip(tmp_path / "both", None, frames=20, cuts=1, dissolve=4, fade=4)


def test_the_same_picture_brighter_or_darker_is_the_exposure_not_a_cut():
    picture = _pictures(120, 4)
    darker = picture.copy()
    darker[60:] *= 0.6  # the camera's gain drops at frame 60
    assert detect_cuts(darker) == []
    other = np.concatenate([picture[:60], _pictures(60, 5)])  # another picture there
    assert detect_cuts(other) == [60]
