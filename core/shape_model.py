"""Shape-aware correction, Qt-free: a per-video 68-point shape model and the solve behind a drag.

``ShapeModel.fit`` aligns a video's reviewed shapes by similarity (generalised Procrustes into
the scheme's inter-ocular units) and keeps their principal modes; the covariance it solves with
blends those modes with the generic prior of :mod:`core.shape_prior` by a pseudo-count, so the
first keyframe of a video already gets shape-aware drags and a well-labelled video gets its own.

``ShapeModel.solve`` is one drag: the dragged points land exactly where they were dropped,
fixed (placed) points stay, and every other point moves to the Gaussian posterior mean of the
model given all of it — the constraints exactly, the current positions as noisy observations
(``uncertainty``: large for a fresh template, small for a good pseudo-label). That is the
regularised least squares ``min θᵀΛ⁻¹θ + Σ_free ‖x_i − y_i‖² / u_i²`` over the shape
``x = mean + Bθ`` (B: similarity pose, shape modes, prior components, a small per-point
residual) subject to the constraints, solved in closed form (about a millisecond for 68
points). So a drag also pulls free points towards the model where the current shape disagrees
with it (a template more than a pseudo-label). The move of each free point is then scaled by
its follow weight
(strong in the dragged point's face part, weak elsewhere). Contour points (jaw, brows, outer
lips) slide: the part of the solution that a dragged contour point's move along its curve
causes on that curve's free points is projected onto their own tangents, so they slide along
the curve rather than being pulled off it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from core.errors import ValidationError
from core.geometry import apply_affine, invert_affine, similarity_matrix
from core.landmarks import GROUP_RANGES, N_POINTS, inter_ocular_distance
from core.shape_prior import FACE_PARTS, ShapePrior, generic_prior

logger = logging.getLogger(__name__)

__all__ = ["BOX_PREDICTION_UNCERTAINTY", "CONTOURS", "FACE_PARTS", "MIN_IOD",
           "PREDICTION_UNCERTAINTY", "SHARED_ERROR_FACTOR", "TEMPLATE_UNCERTAINTY", "ShapeModel",
           "complete_track", "follow_weights", "part_of"]

#: Follow weights of the dragged point's own face part and of the rest of the face.
STRONG_FOLLOW = 1.0
WEAK_FOLLOW = 0.5

#: How far (inter-ocular units, one standard deviation) the current free points may be from the
#: truth: a template just placed in a box, and a pseudo-label. ``solve`` defaults to the latter.
TEMPLATE_UNCERTAINTY = 0.1
PREDICTION_UNCERTAINTY = 0.03
#: A shape the project model predicts in a box ("Predict keyframe") is as far off as the
#: template on a face it has not seen (docs/MEASUREMENTS.md, "The project model"): trusting it
#: like a pseudo-label made each keyframe cost 15-28 % more drags than the template.
BOX_PREDICTION_UNCERTAINTY = TEMPLATE_UNCERTAINTY
#: How many times its own error's variance a point counts with in ``complete``: neighbouring
#: points' tracking errors are correlated (they share the flow), so each point carries about
#: half the information of an independent one. Measured on the twelve hard clips of issue 12 §3
#: (docs/MEASUREMENTS.md): against 1 (independent points), NME 1-6 % lower on all six hand-held
#: clips and equal within 1.2 % on the smooth ones; 4 was better on three photo clips, worse on a
#: procedural one, and made the run's estimate optimistic (0.63-0.77 x the true NME).
SHARED_ERROR_FACTOR = 2.0
#: Smallest inter-ocular distance (pixels) of a frame ``complete_track`` completes: below it the
#: points have collapsed (a lost track), and the similarity to the model is meaningless.
MIN_IOD = 4.0

#: Curves whose points slide along them: (indices in order, closed?).
CONTOURS: dict[str, tuple[tuple[int, ...], bool]] = {
    "jaw": (tuple(GROUP_RANGES["jaw"]), False),
    "right_brow": (tuple(GROUP_RANGES["right_brow"]), False),
    "left_brow": (tuple(GROUP_RANGES["left_brow"]), False),
    "outer_lips": (tuple(GROUP_RANGES["outer_lips"]), True),
}

_PART_OF = np.empty(N_POINTS, dtype=np.int64)
for _n, _indices in enumerate(FACE_PARTS.values()):
    _PART_OF[list(_indices)] = _n
_PART_NAMES = tuple(FACE_PARTS)
_CONTOUR_OF: dict[int, tuple[tuple[int, ...], bool]] = {
    i: curve for curve in CONTOURS.values() for i in curve[0]}


def part_of(index: int) -> str:
    """The face part ("mouth", "left_eye", "jaw", ...) of a point index."""
    if not 0 <= int(index) < N_POINTS:
        raise ValidationError(f"landmark index {index} is outside 0..{N_POINTS - 1}")
    return _PART_NAMES[_PART_OF[int(index)]]


def follow_weights(dragged: Iterable[int], strong: float = STRONG_FOLLOW,
                   weak: float = WEAK_FOLLOW) -> np.ndarray:
    """Per-point follow weights ``(68,)``: ``strong`` in the face parts of the dragged points,
    ``weak`` everywhere else."""
    weights = np.full(N_POINTS, float(weak))
    for i in dragged:
        weights[_PART_OF[int(i)] == _PART_OF] = float(strong)
    return weights


def _procrustes(shapes: np.ndarray, reference: np.ndarray, iterations: int = 5
                ) -> tuple[np.ndarray, np.ndarray]:
    """Shapes aligned by similarity onto their mean, and that mean, in ``reference``'s units
    (generalised Procrustes; the mean is held in the reference's pose and scale)."""
    def align(target: np.ndarray) -> np.ndarray:
        return np.stack([apply_affine(similarity_matrix(s, target), s) for s in shapes])

    mean = reference
    for _ in range(iterations):
        aligned = align(mean).mean(axis=0)
        new_mean = apply_affine(similarity_matrix(aligned, reference), aligned)
        converged = np.abs(new_mean - mean).max() < 1e-9
        mean = new_mean
        if converged:
            break
    return align(mean), mean


def _pose_basis(mean: np.ndarray) -> np.ndarray:
    """Displacement fields ``(4, 136)`` of a small similarity about the mean's centroid."""
    rel = mean - mean.mean(axis=0)
    fields = np.zeros((4, N_POINTS, 2))
    fields[0, :, 0] = fields[1, :, 1] = 1.0
    fields[2] = rel
    fields[3] = np.stack([-rel[:, 1], rel[:, 0]], axis=1)
    return fields.reshape(4, -1)


def _tangents(points: np.ndarray, indices: tuple[int, ...], closed: bool) -> np.ndarray:
    """Unit tangents ``(len(indices), 2)`` of the polyline through ``points[indices]``."""
    curve = points[list(indices)]
    if closed:
        tangent = np.roll(curve, -1, axis=0) - np.roll(curve, 1, axis=0)
    else:
        tangent = np.gradient(curve, axis=0)
    norm = np.linalg.norm(tangent, axis=1, keepdims=True)
    return tangent / np.maximum(norm, 1e-12)


@dataclass(frozen=True, eq=False)
class ShapeModel:
    """A video's shape model in normalised units (inter-ocular distance 1, eyes at y = 0).

    ``modes`` ``(k, 68, 2)`` are orthonormal principal modes of the video's aligned shapes with
    their ``variances``; ``residual_variance`` is the per-coordinate variance the kept modes
    miss; ``prior_weight`` = strength / (strength + n_shapes) is the generic prior's share of
    the covariance. ``mean`` is the aligned shapes' Procrustes mean, or with no shapes the
    prior's (the scheme's mean shape). ``covariance`` ``(136, 136)``, over the flattened
    normalised coordinates (x0, y0, x1, ...), is what ``solve`` uses: the blend of prior and
    modes plus the pose tangent (a small similarity about the mean).
    """

    mean: np.ndarray = field(repr=False)
    modes: np.ndarray = field(repr=False)
    variances: np.ndarray
    residual_variance: float
    prior_weight: float
    n_shapes: int
    prior: ShapePrior = field(repr=False)
    covariance: np.ndarray = field(repr=False)

    @classmethod
    def fit(cls, shapes: np.ndarray | Iterable[np.ndarray] = (), prior: ShapePrior | None = None,
            *, kept_variance: float = 0.95, max_modes: int = 10) -> ShapeModel:
        """The model of ``shapes`` ``(N, 68, 2)`` (a video's placed/accepted frames, pixels)."""
        prior = generic_prior() if prior is None else prior
        arr = np.asarray(list(shapes) if not isinstance(shapes, np.ndarray) else shapes,
                         dtype=np.float64)
        if arr.size == 0:
            arr = np.zeros((0, N_POINTS, 2))
        if arr.ndim != 3 or arr.shape[1:] != (N_POINTS, 2):
            raise ValidationError(f"shapes: expected (N, 68, 2), got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValidationError("shapes: non-finite coordinates")
        n = len(arr)
        prior_mean = np.asarray(prior.mean, np.float64)
        weight = prior.strength / (prior.strength + n) if prior.strength + n > 0 else 1.0
        dims = 2 * N_POINTS
        modes, variances, residual = np.zeros((0, N_POINTS, 2)), np.zeros(0), 0.0
        if n == 0:
            mean = prior_mean.copy()
            video_cov = np.zeros((dims, dims))
        else:
            aligned, data_mean = _procrustes(arr, prior_mean)
            mean = data_mean
            centred = (aligned - aligned.mean(axis=0)).reshape(n, -1)
            _, sing, vt = np.linalg.svd(centred, full_matrices=False)
            eig = sing ** 2 / max(n - 1, 1)
            total = float(eig.sum())
            k = 0
            if total > 0:
                k = int(np.searchsorted(np.cumsum(eig) / total, kept_variance) + 1)
                k = min(k, max_modes, int((eig > 1e-12 * total).sum()))
            modes, variances = vt[:k].reshape(k, N_POINTS, 2), eig[:k]
            residual = (total - float(variances.sum())) / max(dims - 4 - k, 1)
            flat = modes.reshape(k, dims)
            video_cov = (flat.T * variances) @ flat + residual * np.eye(dims)
        covariance = weight * np.asarray(prior.covariance) + (1.0 - weight) * video_cov
        covariance += prior.point_variance * (1.0 - weight) * np.eye(dims)
        pose = _pose_basis(mean)
        translation, scale, rotation = prior.pose_sd
        pose_var = np.array([translation, translation, scale, rotation]) ** 2
        covariance = covariance + (pose.T * pose_var) @ pose
        for a in (mean, modes, variances, covariance):
            a.setflags(write=False)
        logger.debug("shape model of %d shapes: %d modes, prior weight %.2f", n, len(modes),
                     weight)
        return cls(mean=mean, modes=modes, variances=variances,
                   residual_variance=float(residual), prior_weight=float(weight), n_shapes=n,
                   prior=prior, covariance=covariance)

    def solve(self, current: np.ndarray, dragged: Mapping[int, tuple[float, float]],
              fixed: np.ndarray | None = None, follow: np.ndarray | None = None, *,
              single_point: bool = False, slide: bool = True,
              uncertainty: float | np.ndarray = PREDICTION_UNCERTAINTY) -> np.ndarray:
        """The shape after one drag: float32 ``(68, 2)`` pixels.

        ``dragged`` {index: (x, y)} land exactly; ``fixed`` (bool ``(68,)``, placed points)
        never move unless dragged; the rest move by the model (see the module docstring),
        scaled by ``follow`` (default :func:`follow_weights` of the dragged points).
        ``single_point`` moves only the dragged points (the Alt-drag). ``uncertainty`` (a
        number or ``(68,)``, inter-ocular units) is how far the current free points may be off.
        """
        cur = np.asarray(current, dtype=np.float64)
        if cur.shape != (N_POINTS, 2) or not np.isfinite(cur).all():
            raise ValidationError(f"current: expected finite (68, 2), got {cur.shape}")
        targets = {int(i): np.asarray(p, dtype=np.float64) for i, p in dragged.items()}
        if any(not 0 <= i < N_POINTS for i in targets):
            raise ValidationError(f"dragged: indices must lie in 0..{N_POINTS - 1}")
        out = cur.copy()
        for i, p in targets.items():
            out[i] = p
        is_dragged = np.zeros(N_POINTS, dtype=bool)
        is_dragged[list(targets)] = True
        is_fixed = np.zeros(N_POINTS, bool) if fixed is None else np.asarray(fixed, bool).copy()
        is_fixed &= ~is_dragged
        free = ~is_fixed & ~is_dragged
        if single_point or not targets or not free.any():
            return out.astype(np.float32)
        weights = follow_weights(targets) if follow is None else np.asarray(follow, np.float64)
        if weights.shape != (N_POINTS,):
            raise ValidationError(f"follow: expected (68,) weights, got {weights.shape}")
        u = np.broadcast_to(np.asarray(uncertainty, dtype=np.float64), (N_POINTS,))

        to_frame = similarity_matrix(self.mean, cur)
        to_model = invert_affine(to_frame)
        y = apply_affine(to_model, cur)
        c = apply_affine(to_model, out)
        observed = np.where(is_dragged[:, None], c, y)
        noise = np.where(free, u ** 2, 0.0).repeat(2)
        s = self.covariance + np.diag(noise + 1e-12)
        # column 0: the full innovation; one more per sliding drag: its move along its curve
        columns = [(observed - self.mean).ravel()]
        sliding: list[int] = []
        for i in (targets if slide else ()):
            if i in _CONTOUR_OF:
                indices, closed = _CONTOUR_OF[i]
                t = _tangents(y, indices, closed)[indices.index(i)]
                along = np.zeros((N_POINTS, 2))
                along[i] = t * float(t @ (c[i] - y[i]))
                columns.append(along.ravel())
                sliding.append(i)
        gains = self.covariance @ np.linalg.solve(s, np.stack(columns, axis=1))
        delta = (self.mean.ravel() + gains[:, 0]).reshape(N_POINTS, 2) - y
        for n, i in enumerate(sliding, start=1):
            # what the slide moved on its own curve goes along that curve, not off it
            indices, closed = _CONTOUR_OF[i]
            idx = list(indices)
            part = gains[:, n].reshape(N_POINTS, 2)[idx]
            tangents = _tangents(y, indices, closed)
            along_own = (part * tangents).sum(axis=1, keepdims=True) * tangents
            delta[idx] += along_own - part
        moved = y + weights[:, None] * delta
        out[free] = apply_affine(to_frame, moved[free])
        return out.astype(np.float32)

    def complete(self, points: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A frame's points measured with per-point errors ``sigma`` ``(68,)`` pixels, made
        consistent with the model: the Gaussian posterior mean of the shape given every point
        as a noisy observation (in the model's frame, reached by a similarity weighted by
        1/σ²), and each point's posterior error in pixels. A well-measured point stays where
        it is; a badly measured one (occluded, lost by tracking) goes where the other points
        and the video's shapes put it. Errors are distances, in and out: a point's error σ is
        σ²/2 of variance on each axis, counted :data:`SHARED_ERROR_FACTOR` times (so under a
        prior that knows nothing the posterior error is σ × √factor). A frame that has no
        similarity to the model (points not finite, or all at one spot) is returned as it
        came."""
        cur = np.asarray(points, dtype=np.float64)
        err = np.maximum(np.asarray(sigma, dtype=np.float64), 1e-3)
        if not (np.isfinite(cur).all() and np.isfinite(err).all()):
            return cur.copy(), np.asarray(sigma, dtype=np.float64).copy()
        to_frame = similarity_matrix(self.mean, cur, 1.0 / err ** 2)
        scale = float(np.sqrt(abs(np.linalg.det(to_frame[:, :2]))))
        if not np.isfinite(scale) or scale < 1e-6:
            return cur.copy(), np.asarray(sigma, dtype=np.float64).copy()
        y = apply_affine(invert_affine(to_frame), cur)
        noise = np.diag((SHARED_ERROR_FACTOR * (err / scale) ** 2 / 2.0).repeat(2))
        # C (C + N)⁻¹ as the transpose of a solve (both symmetric), and only the diagonal of
        # the posterior covariance: a re-solve completes every frame of its gap
        gain = np.linalg.solve(self.covariance + noise, self.covariance).T
        posterior = self.mean.ravel() + gain @ (y - self.mean).ravel()
        variance = (self.covariance.diagonal()
                    - np.einsum("ij,ji->i", gain, self.covariance)).reshape(N_POINTS, 2)
        completed = apply_affine(to_frame, posterior.reshape(N_POINTS, 2))
        return completed, np.sqrt(np.maximum(variance, 0.0).sum(axis=1)) * scale


def complete_track(model: ShapeModel, points: np.ndarray, sigma: np.ndarray,
                   skip: Iterable[int] = (), floor: float = 0.0
                   ) -> tuple[np.ndarray, np.ndarray]:
    """A track's frames ``(T, 68, 2)`` with per-point errors ``sigma`` ``(T, 68)`` (pixels)
    made consistent with ``model`` (:meth:`ShapeModel.complete`), each point observed with its
    error plus ``floor`` × its frame's inter-ocular distance; the frames of ``skip`` (the
    keyframes) are kept, and so are frames without a face to complete (points not finite, or
    inter-ocular distance under :data:`MIN_IOD` pixels).

    A point's error becomes the smaller of its own and the posterior's, but never smaller
    than its frame's best-measured point: the posterior knows the shape, not where the whole
    face is, and a frame that drifted as a whole keeps its drift."""
    out = np.array(points, dtype=np.float64, copy=True)
    err = np.array(sigma, dtype=np.float64, copy=True)
    kept = set(int(k) for k in skip)
    iod = np.atleast_1d(np.asarray(inter_ocular_distance(out), np.float64))
    for t in range(len(out)):
        if t in kept or not (np.isfinite(out[t]).all() and iod[t] >= MIN_IOD):
            continue
        out[t], posterior = model.complete(out[t], err[t] + floor * iod[t])
        err[t] = np.minimum(err[t], np.maximum(posterior, err[t].min()))
    return out, err
