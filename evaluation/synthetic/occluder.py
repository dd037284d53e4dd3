"""Occluders for hard clips: a textured rectangle, ellipse or hand-like blob crossing the face.

An :class:`Occluder` is a sprite (colour + alpha) drawn once, then moved each frame of its range
along a straight path across the face (relative to the moving face centre and scaled with the
face). It hides pixels only; the ground truth keeps the true landmark positions, and the builder
records which points the sprite covered.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from evaluation.synthetic.procedural import smooth_noise

KINDS = ("rectangle", "ellipse", "hand")
_SPRITE = 128            # sprite side in pixels; it spans 2 normalised units


@dataclass(frozen=True)
class Occluder:
    """A sprite and its path: present in frames ``start`` ≤ t < ``stop``."""

    kind: str
    start: int
    stop: int
    colour: np.ndarray     # (S, S, 3) float32
    alpha: np.ndarray      # (S, S) float32 in 0..1
    direction: float       # radians, direction of travel across the face
    offset: float          # perpendicular offset from the face centre, normalised units
    spin: float            # sprite rotation, radians

    @property
    def frames(self) -> range:
        return range(self.start, self.stop)

    def placement(self, t: int, centre: np.ndarray, scale: float) -> np.ndarray:
        """The 2x3 affine from sprite pixels to frame pixels at frame ``t``."""
        u = (t - self.start + 0.5) / max(self.stop - self.start, 1) * 2.0 - 1.0
        travel = np.array([np.cos(self.direction), np.sin(self.direction)])
        across = np.array([-travel[1], travel[0]])
        pos = np.asarray(centre, dtype=np.float64) + scale * (1.15 * u * travel + self.offset
                                                              * across)
        k = scale * 2.0 / _SPRITE
        spin = self.spin + 0.3 * u
        lin = k * np.array([[np.cos(spin), -np.sin(spin)], [np.sin(spin), np.cos(spin)]])
        mid = (_SPRITE - 1) / 2
        return np.hstack([lin, (pos - lin @ [mid, mid])[:, None]])

    def draw(self, image: np.ndarray, t: int, centre: np.ndarray, scale: float
             ) -> tuple[np.ndarray, np.ndarray]:
        """``image`` (float32) with the occluder composited, and the alpha map it used."""
        h, w = image.shape[:2]
        m = self.placement(t, centre, scale)
        colour = cv2.warpAffine(self.colour, m, (w, h), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT)
        alpha = cv2.warpAffine(self.alpha, m, (w, h), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT)
        a = alpha[..., None]
        return a * colour + (1 - a) * image, alpha


def _texture(rng: np.random.Generator, base: np.ndarray, stripes: bool) -> np.ndarray:
    s = _SPRITE
    tex = np.ones((s, s, 3), np.float32) * base.astype(np.float32)
    if stripes and rng.uniform() < 0.6:
        period = rng.uniform(6, 16)
        angle = rng.uniform(0, np.pi)
        ys, xs = np.mgrid[0:s, 0:s]
        wave = np.sin((xs * np.cos(angle) + ys * np.sin(angle)) * 2 * np.pi / period)
        tex *= (1.0 + 0.25 * wave)[..., None].astype(np.float32)
    tex *= (1.0 + 0.2 * smooth_noise(rng, s, s, 8))[..., None]
    tex += rng.normal(0, 6, (s, s, 3)).astype(np.float32)
    return np.clip(tex, 0, 255)


def make_occluder(rng: np.random.Generator, frames: int) -> Occluder | None:
    """A random occluder crossing for 10-25 frames, or None when the clip is too short."""
    if frames < 12:
        return None
    length = int(rng.integers(10, min(25, frames - 2) + 1))
    lo, hi = int(0.15 * frames), max(int(0.85 * frames) - length, int(0.15 * frames) + 1)
    start = int(rng.integers(lo, hi)) if hi > lo else 1
    start = min(start, frames - length)
    kind = KINDS[int(rng.integers(len(KINDS)))]
    s = _SPRITE
    alpha = np.zeros((s, s), np.float32)
    c = (s - 1) / 2
    if kind == "rectangle":
        half = rng.uniform(0.25, 0.4, 2) * s
        cv2.rectangle(alpha, (int(c - half[0]), int(c - half[1])), (int(c + half[0]),
                      int(c + half[1])), 1.0, -1, cv2.LINE_AA)
        base = rng.uniform(30, 230, 3)
    elif kind == "ellipse":
        axes = (int(rng.uniform(0.22, 0.4) * s), int(rng.uniform(0.18, 0.32) * s))
        cv2.ellipse(alpha, (int(c), int(c)), axes, 0, 0, 360, 1.0, -1, cv2.LINE_AA)
        base = rng.uniform(30, 230, 3)
    else:
        palm = (int(0.2 * s), int(0.24 * s))
        cv2.ellipse(alpha, (int(c), int(c + 0.12 * s)), palm, 0, 0, 360, 1.0, -1, cv2.LINE_AA)
        for k, length_f in enumerate((0.3, 0.36, 0.34, 0.27)):
            x = c + (k - 1.5) * 0.1 * s
            top = c - 0.05 * s - length_f * s
            cv2.line(alpha, (int(x), int(c)), (int(x), int(top)), 1.0, int(0.085 * s),
                     cv2.LINE_AA)
        cv2.line(alpha, (int(c + 0.17 * s), int(c + 0.2 * s)), (int(c + 0.38 * s),
                 int(c - 0.02 * s)), 1.0, int(0.09 * s), cv2.LINE_AA)
        base = np.array([150, 170, 215]) * rng.uniform(0.5, 1.1)
    colour = _texture(rng, base, stripes=kind != "hand")
    if kind == "hand":
        # A darker rim so the fingers read as shapes against a face of similar colour.
        rim = cv2.GaussianBlur(alpha, (0, 0), 2.0)
        colour *= (0.75 + 0.25 * np.clip((rim - 0.5) * 2, 0, 1))[..., None]
    alpha = cv2.GaussianBlur(alpha, (0, 0), 0.8)
    return Occluder(kind=kind, start=start, stop=start + length, colour=colour, alpha=alpha,
                    direction=float(rng.uniform(0, 2 * np.pi)),
                    offset=float(rng.uniform(-0.35, 0.35)), spin=float(rng.uniform(-0.5, 0.5)))
