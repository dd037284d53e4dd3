"""Assemble synthetic benchmark clips with exact ground truth, in the 300VW folder layout.

``make_clip`` writes ``vid.avi`` (MJPG, 30 fps), ``annot/NNNNNN.pts`` keyframes every ``stride``
frames plus the last frame, ``gt/NNNNNN.pts`` for every frame (six-digit, 1-based names:
``000001.pts`` is frame 0) and ``clip.json`` describing how the clip was made. The ground truth of
frame t is exactly the landmark positions the mesh warp moved the face to. ``make_clips`` makes one
clip per face photo in a folder, or a number of procedurally drawn ones.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core.errors import CancelledError, FormatError, ValidationError, VideoError
from core.formats.pts import write_pts
from core.landmarks import inter_ocular_distance
from core.synthetic.face import (
    FaceSource,
    apply_affine,
    compose_affine,
    face_frame,
    feathered_paste,
    find_faces,
    invert_affine,
    load_face,
    repair_shape,
    rescale_face,
)
from core.synthetic.motion import (
    FACE_CENTRE,
    FPS,
    SETTINGS,
    Motion,
    deform,
    make_motion,
    smooth_signal,
)
from core.synthetic.occluder import make_occluder
from core.synthetic.procedural import procedural_face, textured_background
from core.synthetic.render import (
    Lighting,
    MeshWarper,
    anchor_ring,
    canonical_triangles,
    delaunay,
    is_embedding,
    motion_blur,
    ring_axes_for,
)

logger = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
StopFn = Callable[[], bool]

_DIFFICULTY_CODE = {"easy": 1, "hard": 2}


@dataclass(frozen=True)
class ClipInfo:
    """What ``make_clip`` wrote. ``keyframes`` are 0-based frame indices, ``size`` is (w, h)."""

    path: Path
    frames: int
    stride: int
    keyframes: list[int]
    size: tuple[int, int]
    difficulty: str
    seed: int
    face_name: str
    occluded_frames: range | None


def keyframe_indices(frames: int, stride: int) -> list[int]:
    """Every ``stride``-th frame from 0, plus the last frame."""
    keys = list(range(0, frames, stride))
    if keys[-1] != frames - 1:
        keys.append(frames - 1)
    return keys


def pts_name(frame: int) -> str:
    """The 300VW file name of a 0-based frame: ``000001.pts`` is frame 0."""
    return f"{frame + 1:06d}.pts"


@dataclass(frozen=True)
class _Scene:
    """Everything the frame loop needs; landmarks first in ``src_vertices``, then the ring."""

    face_name: str
    image: np.ndarray
    frame: np.ndarray          # 2x3, normalised -> source pixels
    base: np.ndarray           # (68, 2) normalised shape
    ring: np.ndarray           # (R, 2) normalised anchors
    triangles: np.ndarray
    motion: Motion
    amount: float              # expression scale that keeps every frame's mesh unfolded

    @property
    def src_vertices(self) -> np.ndarray:
        return apply_affine(self.frame, np.vstack([self.base, self.ring]))


def _validate(frames: int, stride: int, difficulty: str, size: tuple[int, int]) -> None:
    if difficulty not in SETTINGS:
        raise ValidationError(f"difficulty must be one of {sorted(SETTINGS)}, got {difficulty!r}")
    if int(frames) < 2:
        raise ValidationError(f"frames must be at least 2, got {frames}")
    if int(stride) < 1:
        raise ValidationError(f"stride must be at least 1, got {stride}")
    if len(size) != 2 or int(size[0]) < 64 or int(size[1]) < 48:
        raise ValidationError(f"size must be (width, height) of at least 64x48, got {size}")


def _expression_amount(base: np.ndarray, ring: np.ndarray, triangles: np.ndarray,
                       expressions: np.ndarray) -> float:
    for amount in (1.0, 0.8, 0.6, 0.4, 0.2):
        if all(is_embedding(np.vstack([deform(base, e, amount), ring]), triangles)
               for e in expressions):
            return amount
    return 0.0


def _source_region(frame: np.ndarray, motion: Motion, size: tuple[int, int]) -> np.ndarray:
    """Source-pixel box [[x0, y0], [x1, y1]] that every output frame looks into."""
    w, h = size
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], dtype=np.float64)
    seen = [apply_affine(compose_affine(frame, invert_affine(motion.affine(t))), corners)
            for t in range(motion.frames)]
    pts = np.vstack(seen)
    return np.array([pts.min(axis=0), pts.max(axis=0)])


def _prepare(face: FaceSource | None, frames: int, difficulty: str, seed: int,
             size: tuple[int, int], rngs: dict[str, np.random.Generator]) -> _Scene:
    cfg = SETTINGS[difficulty]
    base_scale = 0.2 * min(0.75 * size[0], size[1])
    if face is None:
        source = procedural_face(seed, iod=base_scale)
    else:
        source = face
        src_scale = float(np.sqrt(abs(np.linalg.det(face_frame(face.points)[:, :2]))))
        target = 1.1 * base_scale * cfg.scale_range[1]
        if src_scale > 1.15 * target:
            source = rescale_face(face, target / src_scale)
    frame = face_frame(source.points)
    base = repair_shape(apply_affine(invert_affine(frame), source.points))
    ring = anchor_ring(ring_axes_for(base))
    triangles = canonical_triangles()
    if not is_embedding(np.vstack([base, ring]), triangles):
        logger.info("face %s: landmarks do not fit the canonical mesh; using its own Delaunay",
                    source.name)
        triangles = delaunay(np.vstack([base, ring]))
    radius = float(np.linalg.norm(base - FACE_CENTRE, axis=1).max()) + 0.25
    motion = make_motion(frames, size, base_scale, radius, difficulty, rngs["motion"])
    amount = _expression_amount(base, ring, triangles, motion.expressions)
    if amount < 1.0:
        logger.info("face %s: expressions scaled by %.1f to keep the mesh from folding",
                    source.name, amount)
    region = _source_region(frame, motion, size)
    margin = 4.0
    lo = np.floor(region[0] - margin)
    hi = np.ceil(region[1] + margin)
    height, width = source.image.shape[:2]
    if face is None:
        # Redraw the procedural face on a canvas that covers everything the camera sees.
        canvas = (int(hi[0] - lo[0]) + 1, int(hi[1] - lo[1]) + 1)
        centre = _default_centre(source, base_scale) - lo
        image = procedural_face(seed, iod=base_scale, size=canvas, centre=tuple(centre)).image
        offset = -lo
    elif lo[0] < 0 or lo[1] < 0 or hi[0] > width - 1 or hi[1] > height - 1:
        offset = np.maximum(-lo, 0)
        canvas = (int(max(hi[0], width - 1) + offset[0]) + 1,
                  int(max(hi[1], height - 1) + offset[1]) + 1)
        background = textured_background(rngs["background"], canvas[0], canvas[1])
        feather = max(4, int(0.04 * min(width, height)))
        image = feathered_paste(background, source.image, (int(offset[0]), int(offset[1])),
                                feather)
    else:
        image, offset = source.image, np.zeros(2)
    frame = frame.copy()
    frame[:, 2] += offset
    return _Scene(face_name=source.name, image=image, frame=frame, base=base, ring=ring,
                  triangles=triangles, motion=motion, amount=amount)


def _default_centre(source: FaceSource, iod: float) -> np.ndarray:
    h, w = source.image.shape[:2]
    return np.array([w / 2 - 0.5, h / 2 - 0.5 - 0.45 * iod])


def _open_writer(path: Path, size: tuple[int, int], quality: int) -> cv2.VideoWriter:
    writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"),
                             FPS, tuple(int(v) for v in size))
    if not writer.isOpened():
        raise VideoError(f"{path}: cannot open an MJPG video writer")
    writer.set(cv2.VIDEOWRITER_PROP_QUALITY, float(quality))
    return writer


def _clear_previous(out_dir: Path) -> None:
    for sub in ("annot", "gt"):
        folder = out_dir / sub
        if folder.is_dir():
            for old in folder.glob("*.pts"):
                old.unlink()
    (out_dir / "clip.json").unlink(missing_ok=True)


def make_clip(out_dir: str | os.PathLike[str], face: FaceSource | None = None, frames: int = 300,
              stride: int = 10, difficulty: str = "easy", seed: int = 0,
              size: tuple[int, int] = (640, 480), progress: ProgressFn | None = None,
              should_stop: StopFn | None = None) -> ClipInfo:
    """Write one synthetic clip into ``out_dir`` and describe it; same arguments, same files.

    ``face`` None draws a procedural face for ``seed``. ``clip.json`` is written last, so a folder
    without it is an interrupted clip. Raises CancelledError when ``should_stop()`` turns true.
    """
    _validate(frames, stride, difficulty, size)
    frames, stride, size = int(frames), int(stride), (int(size[0]), int(size[1]))
    cfg = SETTINGS[difficulty]
    names = ("motion", "appearance", "occluder", "background")
    streams = np.random.SeedSequence([int(seed), _DIFFICULTY_CODE[difficulty]]).spawn(len(names))
    rngs = {name: np.random.default_rng(s) for name, s in zip(names, streams)}
    scene = _prepare(face, frames, difficulty, seed, size, rngs)
    motion = scene.motion
    out_dir = Path(out_dir)
    (out_dir / "annot").mkdir(parents=True, exist_ok=True)
    (out_dir / "gt").mkdir(parents=True, exist_ok=True)
    _clear_previous(out_dir)
    keyframes = keyframe_indices(frames, stride)
    keyset = set(keyframes)
    occluder = make_occluder(rngs["occluder"], frames) if cfg.occluder else None
    app = rngs["appearance"]
    gain = 1.0 + cfg.light_gain * smooth_signal(app, frames, cfg.freq_range_hz)
    casts = 1.0 + 0.04 * np.stack([smooth_signal(app, frames, cfg.freq_range_hz)
                                   for _ in range(3)], axis=1)
    gradient = cfg.light_gradient * (0.6 + 0.4 * smooth_signal(app, frames, cfg.freq_range_hz))
    direction = app.uniform(0, 2 * np.pi) + smooth_signal(app, frames, cfg.freq_range_hz)
    warper = MeshWarper(scene.image, scene.src_vertices, scene.triangles, size)
    lighting = Lighting(size)
    occluded_points: dict[str, list[int]] = {}
    iods = []
    noise = np.empty((size[1], size[0], 3), np.float32)
    writer = _open_writer(out_dir / "vid.avi", size, cfg.jpeg_quality)
    try:
        for t in range(frames):
            if should_stop is not None and should_stop():
                raise CancelledError(f"{out_dir}: clip cancelled at frame {t}")
            affine = motion.affine(t)
            gt = apply_affine(affine, deform(scene.base, motion.expressions[t], scene.amount))
            dst = np.vstack([gt, apply_affine(affine, scene.ring)])
            background = compose_affine(scene.frame, invert_affine(affine))
            image = warper.warp(dst, background)
            if occluder is not None and t in occluder.frames:
                image, alpha = occluder.draw(image.astype(np.float32), t, motion.centre[t],
                                             float(motion.scale[t]))
                ix = np.clip(np.round(gt).astype(int), 0, [size[0] - 1, size[1] - 1])
                hidden = np.flatnonzero(alpha[ix[:, 1], ix[:, 0]] > 0.5)
                if len(hidden):
                    occluded_points[str(t)] = [int(i) for i in hidden]
            prev, nxt = motion.centre[max(t - 1, 0)], motion.centre[min(t + 1, frames - 1)]
            velocity = (nxt - prev) / max(min(t + 1, frames - 1) - max(t - 1, 0), 1)
            image = motion_blur(image, velocity, cfg.blur_exposure)
            image = lighting.apply(image, float(gain[t]), casts[t], float(gradient[t]),
                                   float(direction[t]))
            # cv2's RNG is thread-local and reseeded from our stream, so noise is deterministic.
            cv2.setRNGSeed(int(app.integers(2**31 - 1)))
            cv2.randn(noise, (0.0, 0.0, 0.0), (cfg.noise_sigma,) * 3)
            writer.write(cv2.add(image, noise, dtype=cv2.CV_8U))
            points = gt.astype(np.float32)
            iods.append(inter_ocular_distance(points))
            write_pts(out_dir / "gt" / pts_name(t), points)
            if t in keyset:
                write_pts(out_dir / "annot" / pts_name(t), points)
            if progress is not None:
                progress(t + 1, frames)
    finally:
        writer.release()
    occluded = occluder.frames if occluder is not None else None
    meta = {
        "format": "faceprop-synthetic-clip", "version": 1, "seed": int(seed),
        "difficulty": difficulty, "face": scene.face_name, "size": list(size),
        "frames": frames, "stride": stride, "fps": FPS, "keyframes": keyframes,
        "occluded_frames": [occluded.start, occluded.stop] if occluded is not None else None,
        "occluder": None if occluder is None else {"kind": occluder.kind,
                                                   "points": occluded_points},
        "expression_scale": scene.amount, "jpeg_quality": cfg.jpeg_quality,
        "noise_sigma": cfg.noise_sigma,
        "inter_ocular_px": [round(float(min(iods)), 2), round(float(max(iods)), 2)],
    }
    (out_dir / "clip.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    logger.info("wrote %s: %d frames, %s, face %s", out_dir, frames, difficulty,
                scene.face_name)
    return ClipInfo(path=out_dir, frames=frames, stride=stride, keyframes=keyframes, size=size,
                    difficulty=difficulty, seed=int(seed), face_name=scene.face_name,
                    occluded_frames=occluded)


def load_clip_info(clip_dir: str | os.PathLike[str]) -> ClipInfo:
    """The ClipInfo of a clip folder, from its ``clip.json``."""
    clip_dir = Path(clip_dir)
    path = clip_dir / "clip.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        occ = meta["occluded_frames"]
        return ClipInfo(path=clip_dir, frames=int(meta["frames"]), stride=int(meta["stride"]),
                        keyframes=[int(k) for k in meta["keyframes"]],
                        size=(int(meta["size"][0]), int(meta["size"][1])),
                        difficulty=str(meta["difficulty"]), seed=int(meta["seed"]),
                        face_name=str(meta["face"]),
                        occluded_frames=range(occ[0], occ[1]) if occ else None)
    except FileNotFoundError:
        raise FormatError(f"{path}: no such file (not a finished synthetic clip)") from None
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise FormatError(f"{path}: not a valid clip description ({exc})") from None


def make_clips(out_root: str | os.PathLike[str], faces_dir: str | os.PathLike[str] | None = None,
               count: int | None = None, frames: int = 300, stride: int = 10,
               difficulty: str = "easy", seed: int = 0, size: tuple[int, int] = (640, 480),
               progress: ProgressFn | None = None, should_stop: StopFn | None = None
               ) -> list[ClipInfo]:
    """Several clips under ``out_root``, one folder each (``<face>_<difficulty>_s<seed>``).

    With ``faces_dir``: one clip per photo with a same-stem ``.pts`` (``count`` None = all; a
    larger count cycles through the photos). Without: ``count`` procedural faces (default 1).
    Clip i uses seed ``seed + i``. ``progress`` counts frames over all clips.
    """
    _validate(frames, stride, difficulty, size)
    photos = find_faces(faces_dir) if faces_dir is not None else []
    if faces_dir is not None and not photos:
        raise FormatError(f"{faces_dir}: no *.png/*.jpg with a same-stem .pts file")
    n = count if count is not None else (len(photos) if photos else 1)
    if n < 1:
        raise ValidationError(f"count must be at least 1, got {n}")
    out_root = Path(out_root)
    infos = []
    for i in range(n):
        face = load_face(photos[i % len(photos)]) if photos else None
        clip_seed = seed + i
        name = face.name if face is not None else f"procedural-{clip_seed}"

        def step(done: int, total: int, base: int = i * frames) -> None:
            if progress is not None:
                progress(base + done, n * frames)

        infos.append(make_clip(out_root / f"{name}_{difficulty}_s{clip_seed}", face, frames,
                               stride, difficulty, clip_seed, size, step, should_stop))
    return infos
