"""The generic shape prior: what the shape model assumes about a face before it has seen a video.

A covariance over the 68 points in the scheme's normalised units (inter-ocular distance 1, see
``core.landmarks.mean_shape``), built by hand from plain anatomy rather than learnt from any data
set: each face part may shift, scale, rotate and shear as a whole; the jaw line may bulge; a
rough depth profile makes small turns of the head (yaw, pitch) move the nose and mouth more than
the ears; the mandible carries the lower lip and the chin; the brows rise together; the upper
lids close over the eyes; the mouth corners curl. Every point also has a small independent
deviation, and neighbours along each curve (jaw, brow, eye, lip, nose line) deviate together
(a squared-exponential covariance along the curve). ``core.shape_model`` blends this prior with
a video's own principal modes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np

from core.landmarks import GROUP_RANGES, N_POINTS, mean_shape

#: Fine groups whose curve closes on itself.
CLOSED_GROUPS = frozenset({"right_eye", "left_eye", "outer_lips", "inner_lips"})

#: The face parts a drag pulls along strongly: iBUG groups joined where they move as one.
FACE_PARTS: dict[str, tuple[int, ...]] = {
    "jaw": tuple(GROUP_RANGES["jaw"]),
    "right_brow": tuple(GROUP_RANGES["right_brow"]),
    "left_brow": tuple(GROUP_RANGES["left_brow"]),
    "nose": tuple(GROUP_RANGES["nose_bridge"]) + tuple(GROUP_RANGES["nostrils"]),
    "right_eye": tuple(GROUP_RANGES["right_eye"]),
    "left_eye": tuple(GROUP_RANGES["left_eye"]),
    "mouth": tuple(GROUP_RANGES["outer_lips"]) + tuple(GROUP_RANGES["inner_lips"]),
}

#: Standard deviations of the generic prior's components, in inter-ocular units (or relative
#: change for scales, radians for rotations). Chosen as plausible between-person and
#: expression ranges for a frontal face, not fitted to any benchmark; only the curve terms were
#: picked, from three settings tried on both benchmark sets (docs/MEASUREMENTS.md, issue 11).
PART_SHIFT_SD = 0.03
PART_SCALE_SD = 0.06
PART_ROTATION_SD = 0.05
PART_SHEAR_SD = 0.03
GROUP_SHIFT_SD = 0.015     # nose bridge against nostrils, inner against outer lips
INNER_LIPS_OPEN_SD = 0.04
JAW_BEND_SD = 0.03
FACE_ASPECT_SD = 0.05
FACE_SHEAR_SD = 0.03
TURN_SD = 0.2              # yaw / pitch: ≈ sin 12°, times the depth profile
MANDIBLE_SD = 0.08
BROWS_RAISE_SD = 0.04
LID_CLOSE_SD = 0.03
MOUTH_CURL_SD = 0.03
CURVE_SD = 0.02
CURVE_LENGTH = 1.5         # points along the curve
POINT_SD = 0.012

#: Similarity pose uncertainty of the current shape: translation, relative scale, rotation.
POSE_SD = (0.05, 0.05, 0.05)


@dataclass(frozen=True, eq=False)
class ShapePrior:
    """A mean shape and a covariance of deviations from it, both in normalised units.

    ``covariance`` is over the flattened ``(68, 2)`` coordinates (x0, y0, x1, ...); ``strength``
    is how many of a video's own shapes the prior is worth when the two are blended;
    ``point_variance`` is the independent per-coordinate part (a floor the model always keeps).
    """

    mean: np.ndarray = field(repr=False)
    covariance: np.ndarray = field(repr=False)
    strength: float = 5.0
    point_variance: float = POINT_SD ** 2
    pose_sd: tuple[float, float, float] = POSE_SD


def _zeros() -> np.ndarray:
    return np.zeros((N_POINTS, 2))


Component = tuple[str, np.ndarray, float]


def _affine_basis(mean: np.ndarray, part: str) -> list[Component]:
    """Shift, axis scales, rotation and shear of one part about its centroid."""
    idx = list(FACE_PARTS[part])
    rel = mean[idx] - mean[idx].mean(axis=0)
    out: list[Component] = []
    for axis, name in ((0, "x"), (1, "y")):
        shift = _zeros()
        shift[idx, axis] = 1.0
        scale = _zeros()
        scale[idx, axis] = rel[:, axis]
        out += [(f"{part} shift {name}", shift, PART_SHIFT_SD),
                (f"{part} scale {name}", scale, PART_SCALE_SD)]
    rotation, shear = _zeros(), _zeros()
    rotation[idx] = np.stack([-rel[:, 1], rel[:, 0]], axis=1)
    shear[idx, 0] = rel[:, 1]
    return out + [(f"{part} rotation", rotation, PART_ROTATION_SD),
                  (f"{part} shear", shear, PART_SHEAR_SD)]


def _depth() -> np.ndarray:
    """A rough depth (towards the camera, inter-ocular units) of each point of a frontal face."""
    z = np.zeros(N_POINTS)
    t = np.arange(17) / 16.0
    z[0:17] = -0.7 + 0.7 * np.sin(np.pi * t)
    z[17:27] = [-0.05, 0.05, 0.12, 0.15, 0.15, 0.15, 0.15, 0.12, 0.05, -0.05]
    z[27:31] = [0.15, 0.3, 0.45, 0.6]
    z[31:36] = [0.3, 0.4, 0.45, 0.4, 0.3]
    z[36:48] = 0.0
    z[48:68] = 0.3
    z[[48, 54, 60, 64]] = 0.2
    return z


def _anatomy_basis(mean: np.ndarray) -> list[Component]:
    out: list[Component] = []
    centred = mean - mean.mean(axis=0)
    aspect, shear = _zeros(), _zeros()
    aspect[:, 0], aspect[:, 1] = centred[:, 0], -centred[:, 1]
    shear[:, 0] = centred[:, 1]
    out += [("face aspect", aspect, FACE_ASPECT_SD), ("face shear", shear, FACE_SHEAR_SD)]
    depth = _depth() - _depth().mean()
    for axis, name in ((0, "yaw"), (1, "pitch")):
        turn = _zeros()
        turn[:, axis] = depth
        out.append((name, turn, TURN_SD))
    # the jaw line bulges or flattens along its normal, symmetrically or not
    jaw = mean[0:17]
    tangent = np.gradient(jaw, axis=0)
    normal = np.stack([tangent[:, 1], -tangent[:, 0]], axis=1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    t = np.arange(17) / 16.0
    for name, profile in (("jaw bulge", np.sin(np.pi * t)), ("jaw skew", np.sin(2 * np.pi * t))):
        bend = _zeros()
        bend[0:17] = normal * profile[:, None]
        out.append((name, bend, JAW_BEND_SD))
    # the mandible drops the chin, the lower lip and (half as much) the mouth corners
    mandible = _zeros()
    mandible[0:17, 1] = np.clip(1.0 - np.abs(np.arange(17) - 8) / 8.0, 0.0, 1.0)
    mandible[[55, 56, 57, 58, 59, 65, 66, 67], 1] = [0.8, 1.0, 1.0, 1.0, 0.8, 1.0, 1.0, 1.0]
    mandible[[48, 54, 60, 64], 1] = 0.4
    brows = _zeros()
    brows[17:27, 1] = -1.0
    out += [("mandible", mandible, MANDIBLE_SD), ("brows raise", brows, BROWS_RAISE_SD)]
    for side, upper_lid in (("right", (37, 38)), ("left", (43, 44))):
        lid = _zeros()
        lid[list(upper_lid), 1] = 1.0
        out.append((f"{side} lid close", lid, LID_CLOSE_SD))
    mouth = list(FACE_PARTS["mouth"])
    rel_x = mean[mouth, 0] - mean[mouth, 0].mean()
    curl = _zeros()
    curl[mouth, 1] = -(rel_x / np.abs(rel_x).max()) ** 2
    out.append(("mouth curl", curl, MOUTH_CURL_SD))
    return out


def _group_basis() -> list[Component]:
    out: list[Component] = []
    for group in ("nose_bridge", "inner_lips"):
        for axis, name in ((0, "x"), (1, "y")):
            shift = _zeros()
            shift[list(GROUP_RANGES[group]), axis] = 1.0
            out.append((f"{group} shift {name}", shift, GROUP_SHIFT_SD))
    opening = _zeros()
    opening[[61, 62, 63], 1] = -0.5
    opening[[65, 66, 67], 1] = 0.5
    out.append(("inner lips open", opening, INNER_LIPS_OPEN_SD))
    return out


def prior_basis(mean: np.ndarray | None = None) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """The prior's components: names, ``(k, 68, 2)`` displacement fields and ``(k,)`` standard
    deviations, about ``mean`` (default: the scheme's mean shape)."""
    m = mean_shape().astype(np.float64) if mean is None else np.asarray(mean, np.float64)
    parts: list[Component] = []
    for part in FACE_PARTS:
        parts += _affine_basis(m, part)
    parts += _group_basis() + _anatomy_basis(m)
    return (tuple(n for n, _, _ in parts), np.stack([v for _, v, _ in parts]),
            np.array([sd for _, _, sd in parts]))


def curve_covariance(sd: float = CURVE_SD, length: float = CURVE_LENGTH) -> np.ndarray:
    """``(136, 136)``: each fine group's points deviate together, sd² · exp(-k² / 2·length²) for
    points k apart along the group's curve (around it for eyes and lips), x and y apart."""
    cov = np.zeros((N_POINTS, 2, N_POINTS, 2))
    for group, indices in GROUP_RANGES.items():
        idx = np.array(indices)
        k = np.abs(np.arange(len(idx))[:, None] - np.arange(len(idx))[None, :])
        if group in CLOSED_GROUPS:
            k = np.minimum(k, len(idx) - k)
        block = sd ** 2 * np.exp(-0.5 * (k / length) ** 2)
        for axis in (0, 1):
            cov[idx[:, None], axis, idx[None, :], axis] = block
    return cov.reshape(2 * N_POINTS, 2 * N_POINTS)


def make_prior(fields: np.ndarray, sd: np.ndarray, mean: np.ndarray | None = None, *,
               curve_sd: float = CURVE_SD, curve_length: float = CURVE_LENGTH,
               point_sd: float = POINT_SD, strength: float = 5.0,
               pose_sd: tuple[float, float, float] = POSE_SD) -> ShapePrior:
    """A prior from displacement fields ``(k, 68, 2)`` with standard deviations ``(k,)``, the
    curve covariance and ``point_sd`` per coordinate (see :class:`ShapePrior`)."""
    m = mean_shape().astype(np.float64) if mean is None else np.asarray(mean, np.float64)
    flat = np.asarray(fields, np.float64).reshape(len(fields), -1)
    covariance = ((flat.T * np.asarray(sd) ** 2) @ flat + point_sd ** 2 * np.eye(2 * N_POINTS)
                  + (curve_covariance(curve_sd, curve_length) if curve_sd > 0 else 0.0))
    m.setflags(write=False)
    covariance.setflags(write=False)
    return ShapePrior(mean=m, covariance=covariance, strength=strength,
                      point_variance=point_sd ** 2, pose_sd=pose_sd)


@cache
def _generic() -> ShapePrior:
    _, fields, sd = prior_basis()
    return make_prior(fields, sd)


def generic_prior() -> ShapePrior:
    """The shipped generic prior (built once; its arrays are read-only)."""
    return _generic()
