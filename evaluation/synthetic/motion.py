"""Per-frame motion of a synthetic clip: smooth similarity motion plus non-rigid expressions.

Shapes here live in *normalised face coordinates*: the iBUG-68 mean shape's units, where the
outer eye corners sit near (±0.5, 0) and y grows downwards. An expression is a displacement field
over the 68 points in those units (mouth opening, smile, brow raise, eye closing, a yaw-like squash
of one side); the similarity of frame t then maps the deformed shape into frame pixels. The ground
truth of frame t is exactly ``motion.transform(t, deform(base, gains * motion.expressions[t]))``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

logger = logging.getLogger(__name__)

FPS = 30.0

#: The face centre in normalised coordinates: rotation and scaling happen about this point.
FACE_CENTRE = np.array([0.0, 0.45])

#: Column order of ``Motion.expressions``.
EXPRESSIONS: tuple[str, ...] = ("mouth_open", "smile", "brow_raise", "close_right", "close_left",
                                "yaw")

#: Kinds of motion a clip may have: "smooth" (the bench's default: slow sinusoids) and "shaky"
#: (a hand-held camera: the same signals twice as fast, plus a 1.5-4 Hz tremor of the position,
#: angle and scale) -- motion from another model than the one the smoother was tuned on.
MOTIONS: tuple[str, ...] = ("smooth", "shaky")
#: The shaky tremor: position (fraction of the inter-ocular distance), angle (degrees), scale.
SHAKE_POSITION, SHAKE_DEGREES, SHAKE_SCALE = 0.025, 0.8, 0.008
SHAKE_HZ = (1.5, 4.0)

#: Eye closing is capped below 1 so that the lids meet to within a sliver and no triangle vanishes.
MAX_EYE_CLOSURE = 0.96


@dataclass(frozen=True)
class MotionSettings:
    """How much and how fast a difficulty level moves."""

    scale_range: tuple[float, float]      # relative to the base inter-ocular distance
    max_rotation_deg: float
    translation_fraction: float           # of the room left between the face and the frame edge
    freq_range_hz: tuple[float, float]    # of the sinusoids that make the smooth signals
    expression_gain: float                # 1.0 = the full amplitudes of ``deform``
    blink_rate_hz: float
    light_gain: float                     # global illumination drift amplitude
    light_gradient: float                 # amplitude of the linear illumination gradient
    noise_sigma: float                    # Gaussian noise, grey levels
    blur_exposure: float                  # blur length = exposure * speed (pixels per frame)
    jpeg_quality: int                     # MJPG quality of vid.avi
    occluder: bool


SETTINGS: dict[str, MotionSettings] = {
    "easy": MotionSettings(scale_range=(0.9, 1.1), max_rotation_deg=8.0, translation_fraction=0.45,
                           freq_range_hz=(0.03, 0.2), expression_gain=0.6, blink_rate_hz=0.15,
                           light_gain=0.10, light_gradient=0.15, noise_sigma=2.0,
                           blur_exposure=0.5, jpeg_quality=90, occluder=False),
    "hard": MotionSettings(scale_range=(0.78, 1.25), max_rotation_deg=25.0,
                           translation_fraction=0.9, freq_range_hz=(0.08, 0.6),
                           expression_gain=1.0, blink_rate_hz=0.3, light_gain=0.22,
                           light_gradient=0.35, noise_sigma=4.5, blur_exposure=0.7,
                           jpeg_quality=72, occluder=True),
}


@dataclass(frozen=True)
class Motion:
    """Similarity and expression of every frame; ``scale`` is frame pixels per normalised unit."""

    scale: np.ndarray        # (frames,)
    angle: np.ndarray        # (frames,) radians, counter-clockwise on screen is negative
    centre: np.ndarray       # (frames, 2) frame pixel of FACE_CENTRE
    expressions: np.ndarray  # (frames, len(EXPRESSIONS))

    @property
    def frames(self) -> int:
        return len(self.scale)

    def affine(self, t: int) -> np.ndarray:
        """The 2x3 matrix mapping normalised coordinates to frame pixels at frame ``t``."""
        s, a = float(self.scale[t]), float(self.angle[t])
        lin = s * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        offset = self.centre[t] - lin @ FACE_CENTRE
        return np.hstack([lin, offset[:, None]])

    def transform(self, t: int, points: np.ndarray) -> np.ndarray:
        """Normalised points mapped into frame ``t`` (float64)."""
        m = self.affine(t)
        return np.asarray(points, dtype=np.float64) @ m[:, :2].T + m[:, 2]


def smooth_signal(rng: np.random.Generator, frames: int, freq_range: tuple[float, float],
                  components: int = 3) -> np.ndarray:
    """A smooth random signal in (-1, 1): a squashed sum of a few low-frequency sinusoids."""
    t = np.arange(frames) / FPS
    freqs = rng.uniform(freq_range[0], freq_range[1], components)
    amps = rng.uniform(0.5, 1.0, components)
    phases = rng.uniform(0.0, 2 * np.pi, components)
    raw = (amps[:, None] * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None])).sum(axis=0)
    raw /= amps.sum()
    return np.tanh(1.6 * raw) / np.tanh(1.6)


def _activation(signal: np.ndarray, threshold: float) -> np.ndarray:
    """Map a signal in (-1, 1) to a smooth 0..1 activation that is on part of the time."""
    x = np.clip((signal - threshold) / (1.0 - threshold), 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _blinks(rng: np.random.Generator, frames: int, rate_hz: float) -> np.ndarray:
    """Fast blinks: raised-cosine closures of 6-10 frames at random times."""
    out = np.zeros(frames)
    count = rng.poisson(rate_hz * frames / FPS)
    for _ in range(count):
        length = int(rng.integers(6, 11))
        start = int(rng.integers(-length // 2, max(frames - length // 2, 1)))
        for k in range(length):
            if 0 <= start + k < frames:
                out[start + k] = max(out[start + k], 0.5 - 0.5 * np.cos(2 * np.pi * k / length))
    return out


def make_motion(frames: int, size: tuple[int, int], base_scale: float, face_radius: float,
                difficulty: str, rng: np.random.Generator, kind: str = "smooth") -> Motion:
    """Random smooth motion that keeps a face of ``face_radius`` normalised units in the frame.

    ``base_scale`` is frame pixels per normalised unit at scale 1 (≈ the inter-ocular distance).
    ``kind`` is one of :data:`MOTIONS`; "smooth" draws exactly what it always drew.
    """
    cfg = SETTINGS[difficulty]
    if kind not in MOTIONS:
        raise ValueError(f"motion must be one of {MOTIONS}, got {kind!r}")
    if kind == "shaky":
        lo_hz, hi_hz = cfg.freq_range_hz
        cfg = replace(cfg, freq_range_hz=(2.0 * lo_hz, 2.0 * hi_hz))
    width, height = size
    lo, hi = cfg.scale_range
    scale = base_scale * (lo + (hi - lo) * 0.5 * (1.0 + smooth_signal(rng, frames,
                                                                       cfg.freq_range_hz)))
    angle = np.deg2rad(cfg.max_rotation_deg) * smooth_signal(rng, frames, cfg.freq_range_hz)
    margin = 2.0
    reach = face_radius * base_scale * hi + margin
    room = np.array([width / 2 - reach, height / 2 - reach])
    if np.any(room < 0):
        logger.warning("face of radius %.0f px does not fit a %dx%d frame; it will touch the edge",
                       reach, width, height)
    room = np.maximum(room, 0.0) * cfg.translation_fraction
    centre = np.stack([width / 2 - 0.5 + room[0] * smooth_signal(rng, frames, cfg.freq_range_hz),
                       height / 2 - 0.5 + room[1] * smooth_signal(rng, frames, cfg.freq_range_hz)],
                      axis=1)
    g = cfg.expression_gain
    expr = np.zeros((frames, len(EXPRESSIONS)))
    expr[:, 0] = g * _activation(smooth_signal(rng, frames, cfg.freq_range_hz),
                                 rng.uniform(-0.4, 0.2))
    expr[:, 1] = g * _activation(smooth_signal(rng, frames, cfg.freq_range_hz),
                                 rng.uniform(-0.4, 0.2))
    expr[:, 2] = g * _activation(smooth_signal(rng, frames, cfg.freq_range_hz),
                                 rng.uniform(-0.3, 0.3))
    blinks = _blinks(rng, frames, cfg.blink_rate_hz)
    for col in (3, 4):
        squint = 0.4 * g * _activation(smooth_signal(rng, frames, cfg.freq_range_hz), 0.0)
        expr[:, col] = np.minimum(np.maximum(blinks, squint), MAX_EYE_CLOSURE)
    expr[:, 5] = g * smooth_signal(rng, frames, cfg.freq_range_hz)
    if kind == "shaky":  # drawn last, so the smooth signals above are those of "smooth"
        scale = scale * (1.0 + SHAKE_SCALE * smooth_signal(rng, frames, SHAKE_HZ))
        angle = angle + np.deg2rad(SHAKE_DEGREES) * smooth_signal(rng, frames, SHAKE_HZ)
        tremor = np.stack([smooth_signal(rng, frames, SHAKE_HZ) for _ in range(2)], axis=1)
        centre = centre + SHAKE_POSITION * base_scale * tremor
    return Motion(scale=scale, angle=angle, centre=centre, expressions=expr)


_LOWER_LIP = [55, 56, 57, 58, 59, 65, 66, 67]
_UPPER_LIP = [49, 50, 51, 52, 53, 61, 62, 63]
_LID_PAIRS = {3: [(37, 41), (38, 40)], 4: [(43, 47), (44, 46)]}
_NOSE_WEIGHT = {27: 0.3, 28: 0.5, 29: 0.75, 30: 1.0, 31: 0.8, 32: 0.85, 33: 0.9, 34: 0.85,
                35: 0.8}


def displacement(base: np.ndarray, expression: np.ndarray) -> np.ndarray:
    """The expression's displacement of each of the 68 normalised points (float64 (68, 2))."""
    q = np.asarray(base, dtype=np.float64)
    mouth, smile, brow, _, _, yaw = (float(v) for v in expression)
    d = np.zeros_like(q)
    # Mouth opening: the lower lip and chin drop, the corners half as much, the upper lip rises.
    d[_LOWER_LIP, 1] += 0.22 * mouth
    d[[48, 54, 60, 64], 1] += 0.09 * mouth
    d[_UPPER_LIP, 1] -= 0.015 * mouth
    jaw = np.arange(17)
    d[jaw, 1] += 0.2 * mouth * np.clip(1.0 - np.abs(jaw - 8) / 6.0, 0.0, 1.0) ** 1.5
    # Smile: the corners move up and out, their neighbours half as much.
    for corner, halves, side in (((48, 60), (49, 59, 61, 67), -1.0),
                                 ((54, 64), (53, 55, 63, 65), 1.0)):
        step = np.array([0.06 * side, -0.05]) * smile
        d[list(corner)] += step
        d[list(halves)] += 0.5 * step
    # Brow raise, with a little lift of the upper lids.
    d[17:27, 1] -= 0.09 * brow
    d[[37, 38, 43, 44], 1] -= 0.01 * brow
    # Eye closing: the upper lid travels 80 % of the gap, the lower lid 20 %; at 1 they meet.
    for col, pairs in _LID_PAIRS.items():
        c = float(expression[col])
        for up, low in pairs:
            gap = q[low] - q[up]
            d[up] += 0.8 * c * gap
            d[low] -= 0.2 * c * gap
    # Yaw-like squash: one side is compressed towards the midline and the nose turns that way.
    if yaw != 0.0:
        side = np.sign(yaw)
        far = q[:, 0] * side > 0
        d[far, 0] -= 0.22 * abs(yaw) * q[far, 0]
        for index, weight in _NOSE_WEIGHT.items():
            d[index, 0] += side * 0.07 * abs(yaw) * weight
        d[48:68, 0] += side * 0.03 * abs(yaw)
    return d


def deform(base: np.ndarray, expression: np.ndarray, amount: float = 1.0) -> np.ndarray:
    """The normalised shape under an expression (scaled by ``amount``)."""
    return np.asarray(base, dtype=np.float64) + amount * displacement(base, expression)
