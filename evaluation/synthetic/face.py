"""Face sources for synthetic clips: a photo with a 68-point ``.pts`` file, normalised and padded.

A :class:`FaceSource` is an image plus the 0-based landmarks of the face in it. The clip builder
expresses the landmarks in normalised face coordinates (the mean shape's units, see
``evaluation.synthetic.motion``) through the least-squares similarity ``frame`` of the face,
repairs labels that would fold the mesh (inner lips or eyelids that cross), and pads the image
with a textured background wherever the moving frame would look past the photo's edges.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core.errors import FormatError, ValidationError
from core.formats.pts import read_pts
from core.geometry import similarity_matrix
from core.landmarks import N_POINTS, mean_shape

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class FaceSource:
    """A face to animate: a BGR uint8 image and its 68 landmarks (0-based float32 pixels)."""

    name: str
    image: np.ndarray
    points: np.ndarray

    def __post_init__(self) -> None:
        image = np.asarray(self.image)
        points = np.asarray(self.points, dtype=np.float32)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValidationError(f"face {self.name!r}: image must be HxWx3 uint8, "
                                  f"got {image.shape} {image.dtype}")
        if points.shape != (N_POINTS, 2) or not np.all(np.isfinite(points)):
            raise ValidationError(f"face {self.name!r}: points must be a finite ({N_POINTS}, 2) "
                                  f"array, got {points.shape}")
        object.__setattr__(self, "points", points)


def load_face(image_path: str | os.PathLike[str], pts_path: str | os.PathLike[str] | None = None
              ) -> FaceSource:
    """A face from a photo and its ``.pts`` file (default: the same stem with ``.pts``)."""
    image_path = Path(image_path)
    pts_path = Path(pts_path) if pts_path is not None else image_path.with_suffix(".pts")
    image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if image is None:
        raise FormatError(f"{image_path}: cannot be read as an image")
    points = read_pts(pts_path)
    height, width = image.shape[:2]
    if (points.min() < -0.5 or points[:, 0].max() > width - 0.5
            or points[:, 1].max() > height - 0.5):
        raise FormatError(f"{pts_path}: landmarks fall outside the {width}x{height} image")
    return FaceSource(name=image_path.stem, image=image, points=points)


def find_faces(folder: str | os.PathLike[str]) -> list[Path]:
    """Photos (``*.png``, ``*.jpg``) in ``folder`` with a same-stem ``.pts``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FormatError(f"{folder}: not a folder of face photos")
    return sorted(p for p in folder.iterdir()
                  if p.suffix.lower() in IMAGE_SUFFIXES and p.with_suffix(".pts").is_file())


def face_frame(points: np.ndarray) -> np.ndarray:
    """The 2x3 similarity from normalised face coordinates to the source image's pixels."""
    return similarity_matrix(mean_shape(), points)


_PAIRED_LIDS = ((61, 67), (62, 66), (63, 65), (37, 41), (38, 40), (43, 47), (44, 46))


def repair_shape(normalised: np.ndarray, min_gap: float = 0.012) -> np.ndarray:
    """Open lids and inner lips that touch or cross by a sliver so the mesh cannot fold.

    Works in normalised units (``min_gap`` ≈ 1 px at an inter-ocular distance of 85 px); a label
    changes only where its pair is closer than ``min_gap``.
    """
    q = np.asarray(normalised, dtype=np.float64).copy()
    for up, low in _PAIRED_LIDS:
        if q[low, 1] - q[up, 1] < min_gap:
            mid = 0.5 * (q[low, 1] + q[up, 1])
            q[up, 1], q[low, 1] = mid - min_gap / 2, mid + min_gap / 2
    for _ in range(3):
        dist = np.linalg.norm(q[:, None] - q[None], axis=-1) + np.eye(len(q))
        close = np.argwhere(np.triu(dist < min_gap / 2))
        if len(close) == 0:
            break
        for i, j in close:
            direction = q[j] - q[i]
            norm = np.linalg.norm(direction)
            direction = direction / norm if norm > 1e-9 else np.array([0.0, 1.0])
            q[j] = q[i] + direction * min_gap / 2
    return q


def feathered_paste(background: np.ndarray, image: np.ndarray, offset: tuple[int, int],
                    feather: int) -> np.ndarray:
    """``image`` laid on ``background`` at ``offset`` (x, y), its edges faded over ``feather``
    pixels."""
    out = background.astype(np.float32)
    h, w = image.shape[:2]
    ramp_x = np.clip((np.minimum(np.arange(w), w - 1 - np.arange(w)) + 1) / (feather + 1), 0, 1)
    ramp_y = np.clip((np.minimum(np.arange(h), h - 1 - np.arange(h)) + 1) / (feather + 1), 0, 1)
    alpha = (ramp_y[:, None] * ramp_x[None, :])[..., None].astype(np.float32)
    x, y = offset
    region = out[y:y + h, x:x + w]
    region[:] = alpha * image.astype(np.float32) + (1 - alpha) * region
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def rescale_face(face: FaceSource, factor: float) -> FaceSource:
    """The face resized by ``factor`` (area filter when shrinking), landmarks moved with it."""
    if abs(factor - 1.0) < 1e-6:
        return face
    h, w = face.image.shape[:2]
    new_size = (max(1, round(w * factor)), max(1, round(h * factor)))
    fx, fy = new_size[0] / w, new_size[1] / h
    interp = cv2.INTER_AREA if factor < 1 else cv2.INTER_CUBIC
    image = cv2.resize(face.image, new_size, interpolation=interp)
    # Pixel centres: x' + 0.5 = (x + 0.5) * f.
    points = (face.points.astype(np.float64) + 0.5) * np.array([fx, fy]) - 0.5
    return FaceSource(name=face.name, image=image, points=points.astype(np.float32))
