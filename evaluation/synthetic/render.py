"""Render synthetic frames: a piecewise-affine mesh warp of a source face, then light and blur.

The mesh's vertices are the 68 landmarks and a ring of anchors around the face; outside the ring
every pixel follows one similarity (the background moves rigidly). For each output pixel the warp
builds the source coordinate from the affine map of the triangle it falls in (a dense inverse map)
and samples the source once with ``cv2.remap``, so a landmark lands *exactly* on its target.
Appearance effects (illumination, motion blur, noise) are applied afterwards and never move the
content, so the ground truth stays exact.
"""

from __future__ import annotations

import logging

import cv2
import numpy as np

from core.landmarks import mean_shape
from evaluation.synthetic.motion import FACE_CENTRE

logger = logging.getLogger(__name__)

#: Anchor ring in normalised face coordinates: an ellipse around the face, moved by the similarity.
RING_POINTS = 20
RING_AXES = (1.5, 1.4)


def anchor_ring(axes: tuple[float, float] = RING_AXES, count: int = RING_POINTS) -> np.ndarray:
    """``count`` points on an ellipse about the face centre (normalised units, float64)."""
    angles = np.linspace(0.0, 2 * np.pi, count, endpoint=False)
    return FACE_CENTRE + np.stack([axes[0] * np.cos(angles), axes[1] * np.sin(angles)], axis=1)


def ring_axes_for(shape: np.ndarray, margin: float = 1.3) -> tuple[float, float]:
    """The default ring, grown when a normalised shape reaches too close to it."""
    rel = (np.asarray(shape, dtype=np.float64) - FACE_CENTRE) / np.array(RING_AXES)
    reach = float(np.sqrt((rel ** 2).sum(axis=1)).max())
    grow = max(1.0, reach * margin)
    return RING_AXES[0] * grow, RING_AXES[1] * grow


def signed_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Twice the signed area of each triangle (positive: counter-clockwise in x-right/y-down)."""
    p = np.asarray(points, dtype=np.float64)[triangles]
    a, b = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    return a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]


def delaunay(points: np.ndarray) -> np.ndarray:
    """Delaunay triangles ``(T, 3)`` of distinct points, all with positive signed area."""
    pts = np.asarray(points, dtype=np.float64)
    shifted = pts - pts.min(axis=0) + 2.0
    w, h = np.ceil(shifted.max(axis=0) + 3.0)
    subdiv = cv2.Subdiv2D((0, 0, int(w), int(h)))
    for x, y in shifted:
        subdiv.insert((float(x), float(y)))
    corners = subdiv.getTriangleList().reshape(-1, 3, 2).astype(np.float64)
    dist = np.linalg.norm(corners[:, :, None, :] - shifted[None, None, :, :], axis=-1)
    index = dist.argmin(axis=-1)
    keep = (dist.min(axis=-1) < 1e-2).all(axis=1)
    tris = index[keep]
    areas = signed_areas(pts, tris)
    tris[areas < 0] = tris[areas < 0][:, [0, 2, 1]]
    return tris[np.abs(areas) > 1e-12].astype(np.int64)


def open_features(shape: np.ndarray, factor: float) -> np.ndarray:
    """``shape`` with eyes and mouth opened vertically, so that their contours become Delaunay
    edges (normalised units; ``factor`` 1 leaves the shape as it is)."""
    q = np.asarray(shape, dtype=np.float64).copy()
    for eye in (range(36, 42), range(42, 48)):
        idx = list(eye)
        centre = q[idx].mean(axis=0)
        q[idx, 1] = centre[1] + (q[idx, 1] - centre[1]) * factor
    lift = 0.04 * (factor - 1.0)
    q[[61, 62, 63, 49, 50, 51, 52, 53], 1] -= lift
    q[[65, 66, 67, 55, 56, 57, 58, 59], 1] += lift
    return q


def canonical_triangles() -> np.ndarray:
    """A triangulation of the 68 landmarks + anchor ring that follows the eye and lip contours."""
    return delaunay(np.vstack([open_features(mean_shape(), 2.5), anchor_ring()]))


def mesh_triangles(shape: np.ndarray, ring: np.ndarray) -> np.ndarray:
    """A triangulation of ``shape`` + ``ring`` that does not fold on them, preferring one whose
    edges follow the eye and lip contours (so lids and lips can close and open cleanly)."""
    vertices = np.vstack([shape, ring])
    if len(ring) == RING_POINTS:
        canonical = canonical_triangles()
        if is_embedding(vertices, canonical):
            return canonical
    for factor in (2.5, 1.8, 1.3):
        tris = delaunay(np.vstack([open_features(shape, factor), ring]))
        if is_embedding(vertices, tris):
            return tris
    return delaunay(vertices)


def is_embedding(points: np.ndarray, triangles: np.ndarray, min_area: float = 1e-6) -> bool:
    """True when every triangle keeps a positive area, i.e. the mesh does not fold."""
    return bool(np.all(signed_areas(points, triangles) > min_area))


class MeshWarper:
    """Warps a source image so that mesh vertices ``src`` land on given destination vertices."""

    def __init__(self, image: np.ndarray, src: np.ndarray, triangles: np.ndarray,
                 out_size: tuple[int, int]) -> None:
        self.image = image
        self.src = np.asarray(src, dtype=np.float64)
        self.triangles = np.asarray(triangles, dtype=np.int64)
        self.width, self.height = out_size
        ys, xs = np.mgrid[0:self.height, 0:self.width]
        self._gx = xs.astype(np.float32)
        self._gy = ys.astype(np.float32)

    def inverse_map(self, dst: np.ndarray, background: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Source coordinates (map_x, map_y) of every output pixel.

        ``dst`` are the destination vertices (same order as ``src``); ``background`` is the 2x3
        affine from output pixels to source pixels used outside the mesh.
        """
        bg = np.asarray(background, dtype=np.float64)
        gx, gy = self._gx[0], self._gy[:, 0]
        map_x = np.add.outer((bg[0, 1] * gy + bg[0, 2]).astype(np.float32),
                             (bg[0, 0] * gx).astype(np.float32))
        map_y = np.add.outer((bg[1, 1] * gy + bg[1, 2]).astype(np.float32),
                             (bg[1, 0] * gx).astype(np.float32))
        dst = np.asarray(dst, dtype=np.float64)
        x0, y0 = np.maximum(np.floor(dst.min(axis=0)).astype(int) - 1, 0)
        x1 = min(int(np.ceil(dst[:, 0].max())) + 2, self.width)
        y1 = min(int(np.ceil(dst[:, 1].max())) + 2, self.height)
        if x1 <= x0 or y1 <= y0:
            return map_x, map_y
        d = dst[self.triangles]
        s = self.src[self.triangles]
        homog = np.concatenate([d, np.ones((len(d), 3, 1))], axis=2)
        det = np.linalg.det(homog)
        usable = np.abs(det) > 1e-9
        coeffs = np.zeros((len(d) + 1, 3, 2))
        coeffs[0] = np.vstack([bg[:, :2].T, bg[:, 2]])
        coeffs[1:][usable] = np.linalg.solve(homog[usable], s[usable])
        # Label 0 (outside every triangle) carries the background affine itself.
        labels = np.zeros((y1 - y0, x1 - x0), np.int32)
        order = np.argsort(np.abs(det))
        fixed = np.round((d - [x0, y0]) * 256.0).astype(np.int32)
        for k in order[usable[order]]:
            cv2.fillConvexPoly(labels, fixed[k], int(k) + 1, cv2.LINE_8, 8)
        # Coefficients relative to the box origin keep float32 precise.
        local = coeffs.copy()
        local[:, 2] += x0 * coeffs[:, 0] + y0 * coeffs[:, 1]
        flat = local.reshape(len(local), 6).astype(np.float32)
        bx = self._gx[0, : x1 - x0][None, :]
        by = self._gy[: y1 - y0, 0][:, None]
        col = [flat[:, k][labels] for k in range(6)]
        map_x[y0:y1, x0:x1] = bx * col[0] + by * col[2] + col[4]
        map_y[y0:y1, x0:x1] = bx * col[1] + by * col[3] + col[5]
        return map_x, map_y

    def warp(self, dst: np.ndarray, background: np.ndarray) -> np.ndarray:
        """The output image (same dtype as the source)."""
        map_x, map_y = self.inverse_map(dst, background)
        return cv2.remap(self.image, map_x, map_y, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT_101)


def motion_blur(image: np.ndarray, velocity: np.ndarray, exposure: float) -> np.ndarray:
    """Blur along ``velocity`` (pixels per frame) with a centred line kernel of length ∝ speed."""
    length = exposure * float(np.linalg.norm(velocity))
    if length < 1.0:
        return image
    size = int(np.ceil(length)) | 1
    size += 2
    kernel = np.zeros((size, size), np.float32)
    c = (size - 1) / 2
    d = np.asarray(velocity, dtype=np.float64) / np.linalg.norm(velocity) * length / 2
    scale = 16
    cv2.line(kernel, (round((c - d[0]) * scale), round((c - d[1]) * scale)),
             (round((c + d[0]) * scale), round((c + d[1]) * scale)), 1.0, 1, cv2.LINE_AA, 4)
    kernel /= kernel.sum()
    return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT_101)


class Lighting:
    """Multiplicative illumination: a global gain, a colour cast and a linear gradient."""

    _STEP = 8  # the field is linear, so it is built coarse and resized up exactly

    def __init__(self, size: tuple[int, int]) -> None:
        self.width, self.height = size
        sw, sh = -(-self.width // self._STEP) + 1, -(-self.height // self._STEP) + 1
        # Coarse sample j sits at full-resolution pixel j*STEP + (STEP-1)/2 under cv2.resize.
        self._x = ((np.arange(sw) * self._STEP + (self._STEP - 1) / 2) / max(self.width - 1, 1)
                   - 0.5)
        self._y = ((np.arange(sh) * self._STEP + (self._STEP - 1) / 2) / max(self.height - 1, 1)
                   - 0.5)

    def field(self, gain: float, cast: np.ndarray, gradient: float, direction: float
              ) -> np.ndarray:
        """The (H, W, 3) float32 multiplier."""
        coarse = np.add.outer(1.0 + gradient * np.sin(direction) * self._y,
                              gradient * np.cos(direction) * self._x)
        coarse = (coarse[..., None] * gain * np.asarray(cast, dtype=np.float64)).astype(np.float32)
        full = cv2.resize(coarse, (coarse.shape[1] * self._STEP, coarse.shape[0] * self._STEP),
                          interpolation=cv2.INTER_LINEAR)
        return full[: self.height, : self.width]

    def apply(self, image: np.ndarray, gain: float, cast: np.ndarray, gradient: float,
              direction: float) -> np.ndarray:
        """``image`` (uint8 or float32) times the illumination field, as float32."""
        return cv2.multiply(image, self.field(gain, cast, gradient, direction), dtype=cv2.CV_32F)
