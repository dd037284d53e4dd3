"""One synthetic clip's scene and a random-access renderer of its frames with exact ground truth.

``ClipRenderer`` prepares everything from (face, frames, difficulty, seed, size): the source image
(a procedural face drawn on a canvas that covers all the camera sees, or a photo padded with a
textured background), the normalised base shape, the mesh, the motion, safe expression gains, the
occluder and the illumination schedule. ``render(t)`` then gives frame t and its landmarks in any
order, identically each time, so files and in-memory use agree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from core.geometry import apply_affine, compose_affine, invert_affine
from evaluation.synthetic.face import (
    FaceSource,
    face_frame,
    feathered_paste,
    repair_shape,
    rescale_face,
)
from evaluation.synthetic.motion import (
    FACE_CENTRE,
    SETTINGS,
    Motion,
    deform,
    make_motion,
    smooth_signal,
)
from evaluation.synthetic.occluder import make_occluder
from evaluation.synthetic.procedural import procedural_face, textured_background
from evaluation.synthetic.render import (
    Lighting,
    MeshWarper,
    anchor_ring,
    is_embedding,
    mesh_triangles,
    motion_blur,
    ring_axes_for,
)

logger = logging.getLogger(__name__)

_DIFFICULTY_CODE = {"easy": 1, "hard": 2}


@dataclass(frozen=True)
class RenderedFrame:
    """One frame: BGR uint8 image, exact landmarks (float32 (68, 2)) and the occluded points."""

    image: np.ndarray
    points: np.ndarray
    occluded: np.ndarray     # int indices of points the occluder covers (often empty)


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
    gains: np.ndarray          # per-expression scale that keeps every frame's mesh unfolded

    @property
    def src_vertices(self) -> np.ndarray:
        return apply_affine(self.frame, np.vstack([self.base, self.ring]))


_GAIN_STEPS = (1.0, 0.75, 0.5, 0.35, 0.25, 0.15, 0.0)


def _expression_gains(base: np.ndarray, ring: np.ndarray, triangles: np.ndarray,
                      expressions: np.ndarray) -> np.ndarray:
    """Per-expression gains that keep every frame's mesh from folding (1 where nothing folds).

    Each expression is first limited alone at its most extreme values in the clip, then all
    gains shrink together until every frame's combined expression is valid.
    """
    def valid(e: np.ndarray) -> bool:
        return is_embedding(np.vstack([deform(base, e), ring]), triangles)

    gains = np.zeros(expressions.shape[1])
    for k in range(expressions.shape[1]):
        extremes = {int(np.argmax(expressions[:, k])), int(np.argmin(expressions[:, k]))}
        for gain in _GAIN_STEPS:
            probes = [np.eye(len(gains))[k] * expressions[t, k] * gain for t in extremes]
            if all(valid(p) for p in probes):
                gains[k] = gain
                break
    for _ in range(12):
        if all(valid(e * gains) for e in expressions):
            return gains
        gains *= 0.8
    return np.zeros_like(gains)


def _source_region(frame: np.ndarray, motion: Motion, size: tuple[int, int]) -> np.ndarray:
    """Source-pixel box [[x0, y0], [x1, y1]] that every output frame looks into."""
    w, h = size
    corners = np.array([[0, 0], [w - 1, 0], [0, h - 1], [w - 1, h - 1]], dtype=np.float64)
    seen = [apply_affine(compose_affine(frame, invert_affine(motion.affine(t))), corners)
            for t in range(motion.frames)]
    pts = np.vstack(seen)
    return np.array([pts.min(axis=0), pts.max(axis=0)])


def _prepare(face: FaceSource | None, frames: int, difficulty: str, seed: int,
             size: tuple[int, int], rngs: dict[str, np.random.Generator],
             motion_kind: str = "smooth") -> _Scene:
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
    triangles = mesh_triangles(base, ring)
    radius = float(np.linalg.norm(base - FACE_CENTRE, axis=1).max()) + 0.25
    motion = make_motion(frames, size, base_scale, radius, difficulty, rngs["motion"],
                         motion_kind)
    gains = _expression_gains(base, ring, triangles, motion.expressions)
    if np.any(gains < 1.0):
        logger.info("face %s: expression gains %s keep the mesh from folding", source.name,
                    np.round(gains, 2).tolist())
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
                  triangles=triangles, motion=motion, gains=gains)


def _default_centre(source: FaceSource, iod: float) -> np.ndarray:
    h, w = source.image.shape[:2]
    return np.array([w / 2 - 0.5, h / 2 - 0.5 - 0.45 * iod])


class ClipRenderer:
    """Renders frame t of a synthetic clip and its exact landmarks, in any order."""

    def __init__(self, face: FaceSource | None, frames: int, difficulty: str, seed: int,
                 size: tuple[int, int], motion: str = "smooth") -> None:
        self.frames, self.difficulty, self.seed = int(frames), difficulty, int(seed)
        self.size = (int(size[0]), int(size[1]))
        self.settings = cfg = SETTINGS[difficulty]
        names = ("motion", "appearance", "occluder", "background")
        streams = np.random.SeedSequence([self.seed, _DIFFICULTY_CODE[difficulty]]).spawn(
            len(names))
        rngs = {name: np.random.default_rng(s) for name, s in zip(names, streams)}
        self.scene = _prepare(face, self.frames, difficulty, self.seed, self.size, rngs, motion)
        self.occluder = make_occluder(rngs["occluder"], self.frames) if cfg.occluder else None
        app = rngs["appearance"]
        n, freq = self.frames, cfg.freq_range_hz
        self._gain = 1.0 + cfg.light_gain * smooth_signal(app, n, freq)
        self._cast = 1.0 + 0.04 * np.stack([smooth_signal(app, n, freq) for _ in range(3)], 1)
        self._gradient = cfg.light_gradient * (0.6 + 0.4 * smooth_signal(app, n, freq))
        self._direction = app.uniform(0, 2 * np.pi) + smooth_signal(app, n, freq)
        self._noise_seeds = app.integers(0, 2**31 - 1, n)
        self._warper = MeshWarper(self.scene.image, self.scene.src_vertices,
                                  self.scene.triangles, self.size)
        self._lighting = Lighting(self.size)
        self._noise = np.empty((self.size[1], self.size[0], 3), np.float32)

    @property
    def face_name(self) -> str:
        return self.scene.face_name

    @property
    def source_image(self) -> np.ndarray:
        """The (padded) source image the frames are warped from."""
        return self.scene.image

    @property
    def source_points(self) -> np.ndarray:
        """The landmarks in the source image (float64 (68, 2))."""
        return apply_affine(self.scene.frame, self.scene.base)

    @property
    def expression_gains(self) -> np.ndarray:
        return self.scene.gains.copy()

    def mesh_vertices(self, t: int) -> np.ndarray:
        """Destination mesh vertices of frame ``t``: the 68 landmarks, then the anchor ring."""
        scene, motion = self.scene, self.scene.motion
        affine = motion.affine(t)
        shape = deform(scene.base, motion.expressions[t] * scene.gains)
        return apply_affine(affine, np.vstack([shape, scene.ring]))

    def points(self, t: int) -> np.ndarray:
        """The exact landmarks of frame ``t`` (float32 (68, 2), 0-based pixels)."""
        return self.mesh_vertices(t)[:68].astype(np.float32)

    def render(self, t: int, effects: bool = True) -> RenderedFrame:
        """Frame ``t``; ``effects`` False gives the bare mesh warp (no occluder, light, blur,
        noise)."""
        if not 0 <= t < self.frames:
            raise IndexError(f"frame {t} is outside 0..{self.frames - 1}")
        motion, cfg = self.scene.motion, self.settings
        dst = self.mesh_vertices(t)
        gt = dst[:68]
        background = compose_affine(self.scene.frame, invert_affine(motion.affine(t)))
        image = self._warper.warp(dst, background)
        occluded = np.zeros(0, dtype=np.int64)
        if not effects:
            return RenderedFrame(image, gt.astype(np.float32), occluded)
        if self.occluder is not None and t in self.occluder.frames:
            image, alpha = self.occluder.draw(image.astype(np.float32), t, motion.centre[t],
                                              float(motion.scale[t]))
            w, h = self.size
            ix = np.clip(np.round(gt).astype(int), 0, [w - 1, h - 1])
            occluded = np.flatnonzero(alpha[ix[:, 1], ix[:, 0]] > 0.5)
        lo, hi = max(t - 1, 0), min(t + 1, self.frames - 1)
        velocity = (motion.centre[hi] - motion.centre[lo]) / max(hi - lo, 1)
        image = motion_blur(image, velocity, cfg.blur_exposure)
        image = self._lighting.apply(image, float(self._gain[t]), self._cast[t],
                                     float(self._gradient[t]), float(self._direction[t]))
        # cv2's RNG is thread-local and reseeded per frame, so the noise is deterministic.
        cv2.setRNGSeed(int(self._noise_seeds[t]))
        cv2.randn(self._noise, (0.0, 0.0, 0.0), (cfg.noise_sigma,) * 3)
        out = cv2.add(image, self._noise, dtype=cv2.CV_8U)
        return RenderedFrame(out, gt.astype(np.float32), occluded)
