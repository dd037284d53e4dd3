"""Face crops for TSAL: alignment affines, the per-job crop store, augmentation and batches.

Every frame gets a similarity ``M_t`` (2x3, frame -> crop) that puts a reference shape (the
keyframe labels, or the flow-tracked points between keyframes) onto a centred template, so a
point ``p`` in the frame is ``M_t·p`` in the crop and ``inv(M_t)·q`` maps back exactly. Crops are
grey float32 in [0, 1]; pixel centres are integers on both sides (cv2.warpAffine's convention).

A job never holds the video's frames (:class:`FrameReader` keeps the most recent grey ones up
to :data:`GRAY_CACHE`, which holds a short clip whole): once the alignment is known, each frame
is read once more and only its aligned *context crop* is kept (:class:`CropStore`: the crop
with as much again around it, grey uint8, in memory up to a budget and in a temporary file
beyond it), so a 30,000-frame video costs 30,000 x 16 KB rather than 30,000 full frames.
Augmented crops are warped from the context crop; an unaugmented crop is its centre, exactly.
"""

from __future__ import annotations

import logging
import tempfile
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from core.errors import ValidationError
from core.geometry import apply_affine, compose_affine, invert_affine, similarity_matrix
from core.landmarks import FLIP_PERMUTATION, mean_shape
from trainer.tsal.config import TSALConfig

logger = logging.getLogger(__name__)


def template(crop: int, margin: float) -> np.ndarray:
    """The mean shape scaled and centred so its box side times ``margin`` fills the crop."""
    shape = mean_shape().astype(np.float64)
    lo, hi = shape.min(axis=0), shape.max(axis=0)
    scale = crop / (margin * float((hi - lo).max()))
    return (shape - (lo + hi) / 2) * scale + (crop - 1) / 2


def align_affines(shapes: np.ndarray, crop: int, margin: float) -> np.ndarray:
    """(T, 2, 3) frame -> crop similarities putting each shape of (T, 68, 2) on the template."""
    tpl = template(crop, margin)
    return np.stack([similarity_matrix(s, tpl) for s in np.asarray(shapes, np.float64)])


def warp(gray: np.ndarray, matrix: np.ndarray, crop: int) -> np.ndarray:
    """The crop of a grey uint8 frame under a frame -> crop affine, float32 in [0, 1]."""
    out = cv2.warpAffine(gray, np.asarray(matrix, np.float64), (crop, crop),
                         flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.astype(np.float32) / 255.0


#: Grey frames a job keeps (bytes), most recent first: a 300-frame 640x480 clip fits whole, so
#: its flow, held-out and crop passes decode each frame once instead of three times.
GRAY_CACHE = 128 << 20


class FrameReader:
    """The job's frames by index, checked to be BGR uint8; the grey versions of the most
    recently used ones are kept, up to ``cache_bytes``."""

    def __init__(self, frame: Callable[[int], np.ndarray], n_frames: int,
                 cache_bytes: int = GRAY_CACHE):
        self._frame, self.n = frame, int(n_frames)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_bytes, self._held = int(cache_bytes), 0

    def bgr(self, index: int) -> np.ndarray:
        image = np.asarray(self._frame(index))
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValidationError(f"frame {index}: expected a BGR uint8 image, got "
                                  f"{image.dtype} of shape {image.shape}")
        return image

    def gray(self, index: int) -> np.ndarray:
        """The frame in grey (read-only: it may be shared with later calls)."""
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        image = cv2.cvtColor(self.bgr(index), cv2.COLOR_BGR2GRAY)
        image.flags.writeable = False
        if image.nbytes <= self._cache_bytes:
            self._cache[index] = image
            self._held += image.nbytes
            while self._held > self._cache_bytes:
                self._held -= self._cache.popitem(last=False)[1].nbytes
        return image


#: A context crop is this many crop sides wide: the augmentations (rotation, ±8 % scale, ±5 %
#: shift) and self-distillation's transforms (30°, down to 0.8 x) sample inside it.
CONTEXT = 2
#: Context crops kept in memory at most (bytes); beyond it they go to a temporary file.
CROP_MEMORY = 1 << 30


class CropStore:
    """Every frame's aligned context crop, decoded once (see the module docstring)."""

    def __init__(self, n_frames: int, crop: int, memory_bytes: int = CROP_MEMORY,
                 folder: str | None = None):
        self.n, self.crop = int(n_frames), int(crop)
        self.side = CONTEXT * self.crop
        self.offset = (self.side - self.crop) // 2
        # aligned crop -> context crop and back: a translation by the margin
        self._into = np.array([[1.0, 0.0, self.offset], [0.0, 1.0, self.offset]])
        self._back = np.array([[1.0, 0.0, -self.offset], [0.0, 1.0, -self.offset]])
        shape = (self.n, self.side, self.side)
        self._file = None
        if self.n * self.side * self.side <= memory_bytes:
            self._crops = np.zeros(shape, np.uint8)
        else:
            if folder is not None:  # beside the project: /tmp may be memory (tmpfs)
                Path(folder).mkdir(parents=True, exist_ok=True)
            # the store owns the file until close(); the system deletes it then (or at exit)
            self._file = tempfile.TemporaryFile(  # noqa: SIM115
                prefix="faceprop-crops-", dir=folder)
            self._crops = np.memmap(self._file, np.uint8, "w+", shape=shape)
        self.on_disk = self._file is not None

    def fill(self, frames: FrameReader, affines: np.ndarray,
             tick: Callable[[int], None] | None = None,
             should_stop: Callable[[], bool] | None = None) -> bool:
        """Decode every frame once and keep its context crop; False if stopped first."""
        for index in range(self.n):
            if should_stop is not None and index % 64 == 0 and should_stop():
                return False
            self._crops[index] = cv2.warpAffine(
                frames.gray(index), compose_affine(self._into, affines[index]),
                (self.side, self.side), flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_REPLICATE)
            if tick is not None:
                tick(index + 1)
        return True

    def warp(self, index: int, geometry: np.ndarray) -> np.ndarray:
        """The aligned crop of frame ``index`` moved by ``geometry`` (crop -> crop affine),
        float32 in [0, 1]."""
        return warp(np.asarray(self._crops[index]), compose_affine(geometry, self._back),
                    self.crop)

    def crops(self, indices: list[int] | range) -> np.ndarray:
        """Unaugmented aligned crops (len, 1, S, S), float32 in [0, 1]."""
        lo, hi = self.offset, self.offset + self.crop
        return np.stack([self._crops[i, lo:hi, lo:hi][None] for i in indices]
                        ).astype(np.float32) / 255.0

    def close(self) -> None:
        if self._file is not None:
            del self._crops
            self._file.close()
            self._file = None


def random_geometry(rng: np.random.Generator, cfg: TSALConfig) -> tuple[np.ndarray, bool]:
    """A random crop -> crop affine (rotation, scale, shift about the centre, maybe a mirror)
    and whether it mirrors (landmarks must then be permuted by FLIP_PERMUTATION)."""
    c = (cfg.crop - 1) / 2
    angle = np.deg2rad(rng.uniform(-cfg.aug_rotate_deg, cfg.aug_rotate_deg))
    scale = float(np.exp(rng.uniform(-cfg.aug_scale, cfg.aug_scale)))
    shift = rng.uniform(-cfg.aug_shift, cfg.aug_shift, size=2) * cfg.crop
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    flip = bool(rng.random() < cfg.aug_flip)
    if flip:
        rot = rot @ np.diag([-1.0, 1.0])
    t = np.array([c, c]) + shift - rot @ np.array([c, c])
    return np.hstack([rot, t[:, None]]), flip


def photometric(rng: np.random.Generator, crop: np.ndarray, cfg: TSALConfig) -> np.ndarray:
    """Contrast, brightness, gamma, blur, noise and an occluding patch, each at random."""
    img = crop
    if rng.random() < cfg.aug_photometric:
        img = np.clip(img, 0, 1) ** float(np.exp(rng.uniform(-0.4, 0.4)))
        img = img * rng.uniform(0.7, 1.3) + rng.uniform(-0.15, 0.15)
        if rng.random() < 0.3:
            img = cv2.GaussianBlur(img, (0, 0), float(rng.uniform(0.3, 1.2)))
        if rng.random() < 0.5:
            img = img + rng.normal(0, rng.uniform(0.005, 0.04), img.shape).astype(np.float32)
    if rng.random() < cfg.aug_occlude:
        n = img.shape[0]
        w, h = rng.integers(n // 8, n // 3, size=2)
        x, y = rng.integers(0, n - w), rng.integers(0, n - h)
        img = img.copy()
        img[y:y + h, x:x + w] = rng.uniform(0, 1)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


@dataclass
class Batch:
    """One training step's data (numpy; loop.py turns it into tensors)."""

    images: np.ndarray  # (B, 1, S, S) labelled crops
    targets: np.ndarray  # (B, 68, 2) crop pixels
    clip_images: np.ndarray  # (C, K, 1, S, S); frame 0 of a clip is a keyframe
    clip_phi: np.ndarray  # (C, K, 68, 2) crop pixels: the tracked guide φ(V, g); [0] = labels
    clip_to_frame: np.ndarray  # (C, K, 2, 3) crop -> frame affines
    clip_delta: np.ndarray  # (C, K, 68, 2) frame-pixel motion of the track from frame 0
    clip_scale: np.ndarray  # (C,) inter-ocular distance of the keyframe, frame pixels


class Sampler:
    """Draws augmented keyframe crops and clips (keyframe + later frames of its segment)."""

    def __init__(self, frames: CropStore, keyframes: dict[int, np.ndarray], prior: np.ndarray,
                 affines: np.ndarray, cfg: TSALConfig, rng: np.random.Generator):
        self.frames, self.keys, self.prior = frames, keyframes, prior
        self.affines, self.cfg, self.rng = affines, cfg, rng
        self.key_list = sorted(keyframes)
        self.segments = [(a, b) for a, b in zip(self.key_list, self.key_list[1:] + [frames.n])
                         if b - a > 1]
        from core.landmarks import inter_ocular_distance
        self._iod = {k: max(float(inter_ocular_distance(v)), 4.0) for k, v in keyframes.items()}

    def _crop(self, index: int, geometry: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        matrix = compose_affine(geometry, self.affines[index])
        return self.frames.warp(index, geometry), matrix

    def labelled(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        s = self.cfg.crop
        images, targets = np.zeros((count, 1, s, s), np.float32), np.zeros((count, 68, 2))
        for j in range(count):
            k = self.key_list[int(self.rng.integers(len(self.key_list)))]
            geometry, flip = random_geometry(self.rng, self.cfg)
            crop, matrix = self._crop(k, geometry)
            pts = apply_affine(matrix, self.keys[k])
            images[j, 0] = photometric(self.rng, crop, self.cfg)
            targets[j] = pts[FLIP_PERMUTATION] if flip else pts
        return images, targets.astype(np.float32)

    def clips(self, count: int) -> tuple[np.ndarray, ...]:
        cfg, s = self.cfg, self.cfg.crop
        k_len = cfg.clip_len
        images = np.zeros((count, k_len, 1, s, s), np.float32)
        phi = np.zeros((count, k_len, 68, 2))
        back = np.zeros((count, k_len, 2, 3))
        delta = np.zeros((count, k_len, 68, 2))
        scale = np.zeros(count)
        for c in range(count):
            a, b = self.segments[int(self.rng.integers(len(self.segments)))]
            inner = np.arange(a + 1, b)
            picks = np.sort(self.rng.choice(inner, size=k_len - 1, replace=len(inner) < k_len - 1))
            geometry, flip = random_geometry(self.rng, cfg)
            perm = FLIP_PERMUTATION if flip else np.arange(68)
            for j, t in enumerate([a, *picks.tolist()]):
                crop, matrix = self._crop(int(t), geometry)
                images[c, j, 0] = photometric(self.rng, crop, cfg) if j else crop
                guide = self.keys[a] if j == 0 else self.prior[t]
                phi[c, j] = apply_affine(matrix, guide)[perm]
                back[c, j] = invert_affine(matrix)
                delta[c, j] = (self.prior[t] - self.keys[a])[perm]
            scale[c] = self._iod[a]
        return (images, phi.astype(np.float32), back.astype(np.float32),
                delta.astype(np.float32), scale.astype(np.float32))

    def batch(self) -> Batch:
        images, targets = self.labelled(self.cfg.batch_labelled)
        if self.cfg.use_semi and self.segments and self.cfg.clips_per_step > 0:
            clip = self.clips(self.cfg.clips_per_step)
        else:
            s, k = self.cfg.crop, self.cfg.clip_len
            clip = (np.zeros((0, k, 1, s, s), np.float32), np.zeros((0, k, 68, 2), np.float32),
                    np.zeros((0, k, 2, 3), np.float32), np.zeros((0, k, 68, 2), np.float32),
                    np.zeros(0, np.float32))
        return Batch(images, targets, *clip)


def frame_crops(frames: CropStore, indices: list[int] | range) -> np.ndarray:
    """Unaugmented crops (len, 1, S, S) of the given frames for prediction."""
    return frames.crops(indices)
