"""evaluation.synthetic: 300VW layout, determinism, ground truth that sits on the face."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from cli.bench_commands import CLIP_MOTIONS
from core.errors import CancelledError, FormatError, ValidationError
from core.formats.pts import read_pts, write_pts
from core.landmarks import inter_ocular_distance, mean_shape
from core.metrics import stability_sigma1
from evaluation.synthetic import (
    FaceSource,
    keyframe_indices,
    load_clip_info,
    load_face,
    make_clip,
    make_clips,
    procedural_face,
    pts_name,
)
from evaluation.synthetic.motion import MAX_EYE_CLOSURE, MOTIONS, deform
from evaluation.synthetic.render import MeshWarper, anchor_ring, canonical_triangles, is_embedding
from evaluation.synthetic.scene import ClipRenderer
from tests.conftest import decode_all

FACES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "faces"
SIZE = (320, 240)
FRAMES = 30


@pytest.fixture(scope="module")
def easy_clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("easy") / "clip", frames=FRAMES, stride=10,
                     difficulty="easy", seed=1, size=SIZE)


@pytest.fixture(scope="module")
def hard_clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("hard") / "clip", frames=FRAMES, stride=7,
                     difficulty="hard", seed=2, size=SIZE)


def _sample(image: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Mean BGR of the 3x3 neighbourhood centred (sub-pixel) on ``point``."""
    patch = cv2.getRectSubPix(image.astype(np.float32), (3, 3), (float(point[0]),
                                                                 float(point[1])))
    return patch.reshape(-1, 3).mean(axis=0)


def _ncc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (np.sqrt((a * a).sum() * (b * b).sum()) + 1e-9))


# ---------------------------------------------------------------- layout and metadata


def test_clip_has_300vw_layout(easy_clip):
    root = easy_clip.path
    assert (root / "vid.avi").is_file() and (root / "clip.json").is_file()
    assert sorted(p.name for p in (root / "annot").iterdir()) == [
        "000001.pts", "000011.pts", "000021.pts", "000030.pts"]
    gt = sorted(p.name for p in (root / "gt").iterdir())
    assert gt == [f"{i:06d}.pts" for i in range(1, FRAMES + 1)]
    assert pts_name(0) == "000001.pts"


def test_clip_info_and_json_agree(easy_clip, hard_clip):
    assert easy_clip.keyframes == [0, 10, 20, 29]
    assert easy_clip.size == SIZE and easy_clip.frames == FRAMES and easy_clip.stride == 10
    assert easy_clip.face_name == "procedural-1" and easy_clip.occluded_frames is None
    meta = json.loads((easy_clip.path / "clip.json").read_text())
    assert meta["seed"] == 1 and meta["difficulty"] == "easy" and meta["size"] == [320, 240]
    assert meta["frames"] == FRAMES and meta["stride"] == 10 and meta["face"] == "procedural-1"
    assert meta["occluded_frames"] is None
    assert load_clip_info(easy_clip.path) == easy_clip
    assert load_clip_info(hard_clip.path) == hard_clip


@pytest.mark.parametrize(("frames", "stride", "expected"), [
    (30, 10, [0, 10, 20, 29]), (31, 10, [0, 10, 20, 30]), (21, 10, [0, 10, 20]),
    (5, 1, [0, 1, 2, 3, 4]), (2, 50, [0, 1])])
def test_keyframes_every_stride_plus_last(frames, stride, expected):
    assert keyframe_indices(frames, stride) == expected


def test_keyframe_files_equal_ground_truth(hard_clip):
    assert hard_clip.keyframes == [0, 7, 14, 21, 28, 29]
    for t in hard_clip.keyframes:
        name = pts_name(t)
        np.testing.assert_array_equal(read_pts(hard_clip.path / "annot" / name),
                                      read_pts(hard_clip.path / "gt" / name))


def test_video_frame_count_equals_ground_truth(easy_clip, hard_clip):
    for clip in (easy_clip, hard_clip):
        frames = decode_all(clip.path / "vid.avi")
        assert len(frames) == len(list((clip.path / "gt").glob("*.pts"))) == FRAMES
        assert frames[0].shape == (SIZE[1], SIZE[0], 3)


def test_same_seed_same_files_other_seed_other_clip(tmp_path):
    a = make_clip(tmp_path / "a", frames=12, stride=5, difficulty="hard", seed=5, size=SIZE)
    b = make_clip(tmp_path / "b", frames=12, stride=5, difficulty="hard", seed=5, size=SIZE)
    c = make_clip(tmp_path / "c", frames=12, stride=5, difficulty="hard", seed=6, size=SIZE)
    files = sorted(p.relative_to(a.path) for p in a.path.rglob("*") if p.is_file())
    assert len(files) == 1 + 1 + 12 + 4
    for rel in files:
        assert (a.path / rel).read_bytes() == (b.path / rel).read_bytes(), rel
    assert not np.allclose(read_pts(a.path / "gt" / "000006.pts"),
                           read_pts(c.path / "gt" / "000006.pts"), atol=1.0)


def test_remaking_a_clip_removes_stale_files(tmp_path):
    make_clip(tmp_path / "clip", frames=12, stride=3, size=SIZE)
    make_clip(tmp_path / "clip", frames=6, stride=5, size=SIZE)
    assert len(list((tmp_path / "clip" / "gt").glob("*.pts"))) == 6
    assert sorted(p.name for p in (tmp_path / "clip" / "annot").glob("*.pts")) == [
        "000001.pts", "000006.pts"]


# ---------------------------------------------------------------- geometry of the motion


def test_ground_truth_stays_inside_the_frame(easy_clip, hard_clip):
    for clip in (easy_clip, hard_clip):
        for path in (clip.path / "gt").glob("*.pts"):
            pts = read_pts(path)
            assert pts.min() >= 0
            assert pts[:, 0].max() <= SIZE[0] - 1 and pts[:, 1].max() <= SIZE[1] - 1


def test_face_size_and_motion_are_sensible():
    for difficulty in ("easy", "hard"):
        renderer = ClipRenderer(None, 90, difficulty, 3, (640, 480))
        points = np.stack([renderer.points(t) for t in range(90)])
        iod = inter_ocular_distance(points)
        assert iod.min() >= 60 and iod.max() <= 125
        step = np.linalg.norm(np.diff(points.mean(axis=1), axis=0), axis=1)
        assert step.max() < 0.25 * iod.mean()          # smooth: no jumps between frames
        assert np.ptp(points.mean(axis=1), axis=0).max() > 10  # but it does move


def test_shaky_motion_shakes_more_and_leaves_the_smooth_motion_as_it_was():
    smooth = ClipRenderer(None, 90, "hard", 3, (640, 480))
    default = ClipRenderer(None, 90, "hard", 3, (640, 480), "smooth")
    shaky = ClipRenderer(None, 90, "hard", 3, (640, 480), "shaky")
    tracks = {name: np.stack([r.points(t) for t in range(90)])
              for name, r in (("smooth", smooth), ("default", default), ("shaky", shaky))}
    np.testing.assert_array_equal(tracks["smooth"], tracks["default"])
    jitter = {name: stability_sigma1(track) for name, track in tracks.items()}
    assert jitter["shaky"] > 2.0 * jitter["smooth"]
    # faster, yet no jumps, and the face stays in the frame
    step = np.linalg.norm(np.diff(tracks["shaky"].mean(axis=1), axis=0), axis=1)
    assert step.max() < 0.5 * inter_ocular_distance(tracks["shaky"]).mean()
    assert tracks["shaky"].min() >= 0
    assert CLIP_MOTIONS == MOTIONS  # the command line's choices


def test_expressions_move_the_named_features_without_folding():
    base = mean_shape().astype(np.float64)
    ring = anchor_ring()
    tris = canonical_triangles()
    full = np.array([1.0, 1.0, 1.0, MAX_EYE_CLOSURE, MAX_EYE_CLOSURE, 1.0])
    for expression in (full, full * [1, 1, 1, 1, 1, -1], np.eye(6)[0], np.eye(6)[5] * -1):
        assert is_embedding(np.vstack([deform(base, expression), ring]), tris)
    opened = deform(base, np.eye(6)[0])
    assert opened[66, 1] - opened[62, 1] > base[66, 1] - base[62, 1] + 0.15
    closed = deform(base, np.eye(6)[3] * MAX_EYE_CLOSURE)
    assert np.linalg.norm(closed[37] - closed[41]) < 0.05 * np.linalg.norm(base[37] - base[41])
    smiling = deform(base, np.eye(6)[1])
    assert smiling[48, 1] < base[48, 1] and smiling[54, 0] > base[54, 0]
    raised = deform(base, np.eye(6)[2])
    assert np.all(raised[17:27, 1] < base[17:27, 1])


# ---------------------------------------------------------------- the warp is exact


def test_identity_warp_reproduces_the_source():
    face = procedural_face(4, iod=60.0)
    renderer = ClipRenderer(face, 2, "easy", 0, SIZE)
    src = renderer.scene.src_vertices
    image = renderer.source_image
    h, w = image.shape[:2]
    warper = MeshWarper(image, src, renderer.scene.triangles, (w, h))
    out = warper.warp(src, np.array([[1.0, 0, 0], [0, 1.0, 0]]))
    assert np.abs(out.astype(int) - image.astype(int)).max() <= 1


def _dot_face() -> FaceSource:
    """Bright Gaussian dots at the landmarks of a face on a flat grey canvas."""
    iod = 70.0
    points = mean_shape().astype(np.float64) * iod + [700.0, 560.0]
    points[[61, 62, 63], 1] -= 6
    points[[65, 66, 67], 1] += 6                      # open the mouth so no dots touch
    ys, xs = np.mgrid[0:1200, 0:1400]
    image = np.full((1200, 1400), 60.0)
    for x, y in points:
        box = (slice(int(y) - 6, int(y) + 7), slice(int(x) - 6, int(x) + 7))
        image[box] += 180 * np.exp(-((xs[box] - x) ** 2 + (ys[box] - y) ** 2) / (2 * 0.8 ** 2))
    rgb = np.repeat(np.clip(image, 0, 255).round().astype(np.uint8)[..., None], 3, axis=2)
    return FaceSource(name="dots", image=rgb, points=points.astype(np.float32))


def _dot_errors(renderer: ClipRenderer, frames: range) -> np.ndarray:
    """Distance from each isolated dot's centroid in the bare render to its ground truth."""
    errors = []
    for t in frames:
        frame = renderer.render(t, effects=False)
        gray = frame.image[..., 0].astype(np.float64) - 60.0
        pts = frame.points.astype(np.float64)
        gap = np.linalg.norm(pts[:, None] - pts[None], axis=-1) + np.eye(68) * 99
        for i in np.flatnonzero(gap.min(axis=1) > 8):
            x, y = np.round(pts[i]).astype(int)
            win = np.clip(gray[y - 3:y + 4, x - 3:x + 4], 0, None)
            wy, wx = np.mgrid[y - 3:y + 4, x - 3:x + 4]
            centroid = np.array([(win * wx).sum(), (win * wy).sum()]) / win.sum()
            errors.append(np.linalg.norm(centroid - pts[i]))
    return np.array(errors)


def test_dots_at_the_source_landmarks_land_on_the_ground_truth():
    renderer = ClipRenderer(_dot_face(), 40, "hard", 9, (480, 360))
    assert renderer.expression_gains.min() > 0.5
    # Rigid motion only: every triangle moves by the same similarity, so a dot's centroid must
    # land on its point (this catches any half-pixel or composition slip).
    rigid = dataclasses.replace(renderer.scene, gains=np.zeros(6))
    renderer.scene = rigid
    errors = _dot_errors(renderer, range(0, 40, 4))
    assert len(errors) > 200 and errors.max() < 0.1
    # With expressions the dots are sheared a little around their vertex, but stay on it.
    easy = ClipRenderer(_dot_face(), 40, "easy", 9, (480, 360))
    errors = _dot_errors(easy, range(0, 40, 4))
    assert len(errors) > 200 and np.median(errors) < 0.15 and errors.max() < 0.6


def _local_nccs(renderer: ClipRenderer, t: int, image: np.ndarray, shift: float = 0.0
                ) -> np.ndarray:
    """NCC of a patch around each landmark with the source warped by its local affine."""
    dst, src = renderer.mesh_vertices(t), renderer.scene.src_vertices
    tris = renderer.scene.triangles
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    source = cv2.cvtColor(renderer.source_image, cv2.COLOR_BGR2GRAY)
    rad = max(4, round(0.12 * inter_ocular_distance(dst[:68])))
    h, w = gray.shape
    out = []
    for i in range(68):
        incident = tris[(tris == i).any(axis=1)]
        d = dst[incident]
        e1, e2 = d[:, 1] - d[:, 0], d[:, 2] - d[:, 0]
        tri = incident[np.argmax(np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]))]
        m = cv2.getAffineTransform(src[tri].astype(np.float32), dst[tri].astype(np.float32))
        ref = cv2.warpAffine(source, m, (w, h), flags=cv2.INTER_LINEAR).astype(np.float32)
        x, y = np.round(dst[i]).astype(int)
        sx = x + round(shift * rad)
        a = gray[y - rad:y + rad + 1, sx - rad:sx + rad + 1]
        b = ref[y - rad:y + rad + 1, x - rad:x + rad + 1]
        if a.shape == b.shape == (2 * rad + 1, 2 * rad + 1):
            out.append(_ncc(a, b))
    return np.array(out)


def test_landmark_patches_match_the_source_under_the_local_affine(easy_clip):
    renderer = ClipRenderer(None, FRAMES, "easy", 1, SIZE)
    video = decode_all(easy_clip.path / "vid.avi")
    for t in (0, 11, 29):
        np.testing.assert_array_equal(renderer.points(t), read_pts(easy_clip.path / "gt" /
                                                                   pts_name(t)))
        bare = _local_nccs(renderer, t, renderer.render(t, effects=False).image)
        coded = _local_nccs(renderer, t, video[t])
        shifted = _local_nccs(renderer, t, video[t], shift=1.0)
        assert len(bare) == 68
        # Jaw, brows and nose move almost affinely; eyelids and lips may deform within a patch.
        assert np.median(bare[:36]) > 0.95 and np.percentile(bare[:36], 5) > 0.7
        assert np.median(bare) > 0.9
        assert np.median(coded) > 0.9
        assert np.median(shifted) < 0.6       # the test can tell a patch one radius off


def test_pupils_are_dark_and_lips_are_red(easy_clip, hard_clip):
    """In every frame, the drawn features sit under the points that name them."""
    checked = 0
    for clip in (easy_clip, hard_clip):
        renderer = ClipRenderer(None, FRAMES, clip.difficulty, clip.seed, SIZE)
        src = renderer.source_points
        open0 = np.linalg.norm(src[[37, 38, 43, 44]] - src[[41, 40, 47, 46]], axis=1)
        video = decode_all(clip.path / "vid.avi")
        occluded = clip.occluded_frames or range(0)
        for t in range(FRAMES):
            if t in occluded:
                continue
            # The easy clip is checked as encoded; the hard one before blur and noise.
            image = video[t] if clip.difficulty == "easy" else renderer.render(t, False).image
            pts = read_pts(clip.path / "gt" / pts_name(t))
            cheek = (_sample(image, (pts[2] + pts[31]) / 2)
                     + _sample(image, (pts[14] + pts[35]) / 2)) / 2
            openness = np.linalg.norm(pts[[37, 38, 43, 44]] - pts[[41, 40, 47, 46]],
                                      axis=1) / open0
            for k, lids in enumerate(([37, 38, 40, 41], [43, 44, 46, 47])):
                if openness[2 * k:2 * k + 2].mean() < 0.75:
                    continue                                   # blinking: no pupil to see
                pupil = _sample(image, pts[lids].mean(axis=0)).mean()
                assert pupil < 0.75 * cheek.mean(), (clip.difficulty, t, k)
                checked += 1
            skin_red = cheek[2] - cheek[1]
            for i in range(48, 60):
                b, g, r = _sample(image, pts[i])
                assert r - g > skin_red + 5 and r > b + 20, (clip.difficulty, t, i)
    assert checked >= 40


# ---------------------------------------------------------------- appearance and API


def test_hard_clip_has_an_occluder_over_the_face(hard_clip):
    occ = hard_clip.occluded_frames
    assert occ is not None and 10 <= len(occ) <= 25 and occ.start >= 0 and occ.stop <= FRAMES
    meta = json.loads((hard_clip.path / "clip.json").read_text())
    assert meta["occluded_frames"] == [occ.start, occ.stop]
    covered = {int(t) for t, points in meta["occluder"]["points"].items() if points}
    assert covered and covered <= set(occ)
    assert len(covered) >= len(occ) // 2


def test_progress_and_cancel(tmp_path):
    seen = []
    make_clip(tmp_path / "a", frames=4, stride=2, size=SIZE,
              progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    calls = iter(range(100))
    with pytest.raises(CancelledError):
        make_clip(tmp_path / "b", frames=10, size=SIZE, should_stop=lambda: next(calls) >= 3)
    assert not (tmp_path / "b" / "clip.json").exists()


def test_bad_arguments_raise_clear_errors(tmp_path):
    with pytest.raises(ValidationError, match="difficulty"):
        make_clip(tmp_path / "x", difficulty="medium")
    with pytest.raises(ValidationError, match="frames"):
        make_clip(tmp_path / "x", frames=1)
    with pytest.raises(ValidationError, match="motion must be one of"):
        make_clip(tmp_path / "x", motion="drunk")
    with pytest.raises(ValidationError, match="size"):
        make_clip(tmp_path / "x", size=(32, 32))
    cv2.imwrite(str(tmp_path / "lonely.png"), np.zeros((50, 50, 3), np.uint8))
    with pytest.raises(FormatError, match=r"lonely\.pts"):
        load_face(tmp_path / "lonely.png")
    with pytest.raises(FormatError, match="no"):
        make_clips(tmp_path / "out", faces_dir=tmp_path, frames=4, size=SIZE)


def test_procedural_faces_vary_with_the_seed():
    a, b = procedural_face(1, iod=60.0), procedural_face(2, iod=60.0)
    assert a.image.shape == b.image.shape
    assert np.abs(a.image.astype(int) - b.image.astype(int)).mean() > 20
    assert not np.allclose(a.points, b.points)
    np.testing.assert_array_equal(procedural_face(1, iod=60.0).image, a.image)


def test_make_clips_from_a_folder_and_procedural(tmp_path):
    faces = tmp_path / "faces"
    faces.mkdir()
    for seed in (3, 4):
        face = procedural_face(seed, iod=50.0)
        cv2.imwrite(str(faces / f"person{seed}.png"), face.image)
        write_pts(faces / f"person{seed}.pts", face.points)
    (faces / "notes.txt").write_text("not a face")
    infos = make_clips(tmp_path / "out", faces, "all", frames=4, stride=2, seed=10, size=SIZE)
    assert [i.face_name for i in infos] == ["person3", "person4"]
    assert [i.seed for i in infos] == [10, 11]
    assert [i.path.name for i in infos] == ["person3_easy_s10", "person4_easy_s11"]
    assert all((i.path / "vid.avi").is_file() for i in infos)
    seen = []
    infos = make_clips(tmp_path / "proc", None, 2, frames=3, stride=2, difficulty="hard",
                       size=SIZE, progress=lambda d, n: seen.append((d, n)))
    assert [i.face_name for i in infos] == ["procedural-0", "procedural-1"]
    assert seen[-1] == (6, 6)


@pytest.mark.shared_data
@pytest.mark.skipif(not FACES.is_dir(), reason="shared face photos are absent")
@pytest.mark.parametrize("name", ["lenna.png", "takeo.png", "breakingbad.jpg"])
def test_photo_faces_follow_their_labels(name):
    path = FACES / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    face = load_face(path)
    renderer = ClipRenderer(face, 16, "hard", 0, SIZE)
    assert renderer.face_name == path.stem
    nccs = []
    for t in (0, 8, 15):
        pts = renderer.points(t)
        assert pts.min() >= 0 and pts[:, 0].max() <= SIZE[0] - 1
        assert pts[:, 1].max() <= SIZE[1] - 1
        nccs.append(_local_nccs(renderer, t, renderer.render(t, effects=False).image))
    nccs = np.concatenate(nccs)
    assert np.median(nccs) > 0.9 and np.mean(nccs > 0.7) > 0.75
