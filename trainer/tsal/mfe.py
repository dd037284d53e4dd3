"""MFE: a learned motion field as the tracker φ of a TSAL job (DESIGN.md §4.1, issue 13 §3).

``TSALConfig.flow = "mfe"`` (bench methods ``teacher-mfe``, ``final-mfe``) tracks the flow
prior and the held-out keyframes with this field instead of Lucas-Kanade; the bidirectional
blending, the filling of failed points and the confidence stay those of
:func:`core.propagation.flow_track` (the field plugs in as a ``FlowMethod``). Off by default
until measured (docs/TRAINER.md).

- **Field.** A step from frame t to t+1 looks at a square patch around the points
  (:data:`PATCH_MARGIN` x the larger side of their box, area-resampled to :data:`SIZE` px).
  OpenCV's DIS flow between the two patches is the starting field; :class:`MotionNet` (~14 k
  parameters) sees the source, the target warped by DIS and the DIS field, and adds a
  residual: V = DIS + residual. Its last layer starts at zero, so an untrained MFE is DIS on
  the face patch and tracking is usable from step 0.
- **ℓE** (no labels): Charbonnier of the source minus the target warped by V
  (``grid_sample``; patches normalised to zero mean and unit spread; only pixels whose match
  is inside the patch) plus :data:`W_SMOOTH` x an edge-aware first-order smoothness of V.
- **Deviation suppression**, LD = ‖φ(V, pM(0))(K−1) − pM(K−1)‖² with the keyframe labels
  standing in for pM: on a window between keyframes a < b at most :data:`MAX_WINDOW` frames
  apart, a's labels are carried through V frame by frame (each point moved by V sampled
  bilinearly at it, differentiable in the network) and their distance to b's labels, in
  inter-ocular distances (Charbonnier), is penalised with weight ``cfg.mfe_deviation``; the
  same from b back to a.
- **Training**, per video, before the held-out phase, on the CPU: the pairs of up to
  :data:`MAX_WINDOWS` windows (keyframe gaps, and the runs before the first and after the last
  keyframe), patches placed on a first Lucas-Kanade track as a step would place them; one
  window (both directions) per step, ``config.mfe_budget`` steps of the project's AdamW. The
  validation keyframes of the held-out check (``trainer.tsal.validation.validation_set``) are
  left out of the deviation term, so the early stop stays honest.

Not built: LD inside the TSAL loop (φ stays fixed there and MFDS trains the detector towards
it: a differentiable φ over the clips would cost a field per clip frame per step); keeping the
field in checkpoints (it is trained again per job). The smoother's held-out choice
(:mod:`core.propagation.holdout`) tracks each interior keyframe from its neighbours with a
field whose deviation term saw that keyframe's label (unless it is a validation keyframe), so
that estimate is optimistic with ``mfe_deviation`` > 0.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.errors import CancelledError
from core.landmarks import inter_ocular_distance
from core.progress import ShouldStop
from core.propagation.flow import FlowMethod
from trainer.tsal.config import TSALConfig
from trainer.tsal.optim import AdamW

logger = logging.getLogger(__name__)

NAME = "flow_mfe"
#: Patch side in pixels, and the patch's side over the larger side of the points' box.
SIZE = 64
PATCH_MARGIN = 1.4
#: The DIS field is given to the network divided by this (patch pixels).
FIELD_SCALE = 4.0
WIDTH = 12
LR = 3e-3
W_SMOOTH = 0.1
EDGE = 4.0  # smoothness weight exp(-EDGE·|∂I|) on normalised intensities
EPS = 0.01  # Charbonnier's ε
#: Pairs of a training window at most, and windows at most.
MAX_WINDOW = 16
MAX_WINDOWS = 24


class MotionNet(nn.Module):
    """(B, 4, S, S) [source, target warped by DIS, DIS / FIELD_SCALE] -> (B, 2, S, S) residual
    flow in patch pixels; zero before training."""

    def __init__(self, w: int = WIDTH):
        super().__init__()

        def conv(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Module:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, dilation, dilation),
                                 nn.LeakyReLU(0.1))

        self.enc1 = nn.Sequential(conv(4, w, 2), conv(w, w))  # 1/2
        self.enc2 = nn.Sequential(conv(w, 2 * w, 2), conv(2 * w, 2 * w, dilation=2))  # 1/4
        self.dec = conv(3 * w, w)
        self.out = nn.Conv2d(w, 2, 3, 1, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.enc1(x)
        b = F.interpolate(self.enc2(a), size=a.shape[2:], mode="bilinear", align_corners=False)
        residual = self.out(self.dec(torch.cat([b, a], 1)))
        return F.interpolate(residual, size=x.shape[2:], mode="bilinear", align_corners=False)


def region(points: np.ndarray) -> tuple[np.ndarray, int]:
    """The patch around ``points`` (N, 2): its centre (frame pixels) and side (pixels)."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    return (lo + hi) / 2.0, max(int(np.ceil(PATCH_MARGIN * float((hi - lo).max()))), 16)


def to_patch(points: np.ndarray, centre: np.ndarray, side: int) -> np.ndarray:
    """Frame pixels -> patch pixels (pixel centres integers on both sides)."""
    return (points - centre) * (SIZE / side) + (SIZE - 1) / 2.0


def patch(gray: np.ndarray, centre: np.ndarray, side: int) -> np.ndarray:
    """The (SIZE, SIZE) uint8 patch of a grey frame (borders replicated)."""
    crop = cv2.getRectSubPix(np.ascontiguousarray(gray), (side, side),
                             (float(centre[0]), float(centre[1])))
    return cv2.resize(crop, (SIZE, SIZE), interpolation=cv2.INTER_AREA)


def _normalise(image: np.ndarray) -> np.ndarray:
    x = image.astype(np.float32) / 255.0
    return (x - x.mean()) / (x.std() + 0.02)


_GRID = np.stack(np.meshgrid(np.arange(SIZE, dtype=np.float32),
                             np.arange(SIZE, dtype=np.float32)), axis=-1)


def inputs(src: np.ndarray, dst: np.ndarray, dis: np.ndarray) -> np.ndarray:
    """(5, S, S) for uint8 patches and the DIS field src -> dst (S, S, 2): the network's input
    (the normalised source, the target warped by DIS, DIS / FIELD_SCALE) and the normalised
    target."""
    a, b = _normalise(src), _normalise(dst)
    warped = cv2.remap(b, _GRID + dis, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.concatenate([a[None], warped[None], dis.transpose(2, 0, 1) / FIELD_SCALE,
                           b[None]]).astype(np.float32)


def _dis() -> cv2.DISOpticalFlow:
    return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)


def _sample(field: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear samples of a (S, S, 2) field at (N, 2) patch points (borders replicated)."""
    xs = np.ascontiguousarray(points, dtype=np.float32).reshape(1, -1, 2)
    values = cv2.remap(field, xs[..., 0], xs[..., 1], cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    return values.reshape(-1, 2).astype(np.float64)


def sample_field(field: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """(B, 2, S, S) fields sampled at (B, N, 2) patch points -> (B, N, 2), differentiable."""
    grid = (points / (SIZE - 1) * 2.0 - 1.0)[:, None]
    return F.grid_sample(field, grid, mode="bilinear", padding_mode="border",
                         align_corners=True)[:, :, 0].permute(0, 2, 1)


def _charbonnier(x: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(x * x + EPS * EPS)


def field_of(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """V = DIS + residual (B, 2, S, S) for inputs (B, 5, S, S) of :func:`inputs`."""
    return x[:, 2:4] * FIELD_SCALE + net(x[:, :4])


def energy(field: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """ℓE's photometric and smoothness terms of fields (B, 2, S, S) on inputs (B, 5, S, S)."""
    src, dst = x[:, :1], x[:, 4:5]
    base = torch.from_numpy(_GRID).permute(2, 0, 1)[None]
    target = base + field
    grid = (target / (SIZE - 1) * 2.0 - 1.0).permute(0, 2, 3, 1)
    warped = F.grid_sample(dst, grid, mode="bilinear", padding_mode="border", align_corners=True)
    inside = ((target >= 0) & (target <= SIZE - 1)).all(dim=1, keepdim=True).float()
    photo = (_charbonnier(src - warped) * inside).sum() / inside.sum().clamp_min(1.0)
    smooth = sum(((torch.exp(-EDGE * src.diff(dim=d).abs())
                   * field.diff(dim=d).abs().sum(dim=1, keepdim=True)).mean() for d in (2, 3)),
                 src.new_zeros(()))
    return photo, smooth


@dataclass(frozen=True)
class Window:
    """Consecutive frames of one video: each pair's :func:`inputs` in the patch around its first
    frame's guide points, forward pairs then backward pairs (2P, 5, S, S), the patches, and the
    labels at both ends when the deviation term applies there."""

    x: torch.Tensor
    centres: np.ndarray  # (P, 2) frame pixels
    sides: np.ndarray  # (P,) pixels
    labels: tuple[np.ndarray, np.ndarray] | None


def windows(n_frames: int, keyframes: Sequence[int], excluded: Collection[int] = (),
            limit: int = MAX_WINDOWS) -> list[tuple[int, int, bool]]:
    """(first, last, deviation) runs of frames to train on: each gap between keyframes (with
    the deviation term when it is at most MAX_WINDOW frames long and neither end is
    ``excluded``; a longer gap gives its first and last MAX_WINDOW frames without it), and the
    runs before the first and after the last keyframe; ``limit`` spread evenly over them."""
    keys, last = sorted(int(k) for k in keyframes), int(n_frames) - 1
    runs: list[tuple[int, int, bool]] = []
    if keys and keys[0] > 0:
        runs.append((max(0, keys[0] - MAX_WINDOW), keys[0], False))
    for a, b in pairwise(keys):
        if b - a <= MAX_WINDOW:
            runs.append((a, b, a not in excluded and b not in excluded))
        else:
            runs += [(a, a + MAX_WINDOW, False), (b - MAX_WINDOW, b, False)]
    if keys and keys[-1] < last:
        runs.append((keys[-1], min(last, keys[-1] + MAX_WINDOW), False))
    if len(runs) > limit:
        runs = [runs[i] for i in np.unique(np.linspace(0, len(runs) - 1, limit).round()
                                           .astype(int))]
    return runs


def make_window(gray: Callable[[int], np.ndarray], first: int, last: int, guide: np.ndarray,
                labels: tuple[np.ndarray, np.ndarray] | None = None) -> Window:
    """The :class:`Window` of frames first..last, patches placed on ``guide`` (T, 68, 2)."""
    dis, forward, backward, centres, sides = _dis(), [], [], [], []
    for t in range(first, last):
        centre, side = region(np.asarray(guide[t], np.float64))
        a, b = patch(gray(t), centre, side), patch(gray(t + 1), centre, side)
        forward.append(inputs(a, b, dis.calc(a, b, None)))
        backward.append(inputs(b, a, dis.calc(b, a, None)))
        centres.append(centre)
        sides.append(side)
    return Window(torch.from_numpy(np.stack(forward + backward)), np.array(centres),
                  np.array(sides, np.float64), labels)


def carry(fields: torch.Tensor, start: np.ndarray, window: Window, backwards: bool
          ) -> torch.Tensor:
    """``start`` (68, 2) carried through a window's fields (P, 2, S, S), frame by frame, from
    its first frame (or, ``backwards``, from its last): the points at the other end."""
    p = torch.as_tensor(start, dtype=torch.float32)
    order = range(len(window.sides) - 1, -1, -1) if backwards else range(len(window.sides))
    for j in order:
        scale = SIZE / float(window.sides[j])
        centre = torch.as_tensor(window.centres[j], dtype=torch.float32)
        q = (p - centre) * scale + (SIZE - 1) / 2.0
        p = p + sample_field(fields[j:j + 1], q[None])[0] / scale
    return p


def window_loss(net: nn.Module, window: Window, w_deviation: float
                ) -> tuple[torch.Tensor, dict[str, float]]:
    """ℓE over a window's pairs, both directions, plus ``w_deviation`` x the deviation term
    when the window has labels at both ends."""
    fields = field_of(net, window.x)
    photo, smooth = energy(fields, window.x)
    loss = photo + W_SMOOTH * smooth
    parts = {"mfe_photo": photo.item(), "mfe_smooth": smooth.item()}
    if window.labels is not None and w_deviation > 0:
        first, last = window.labels
        pairs = len(window.sides)
        iod = max(0.5 * (inter_ocular_distance(first) + inter_ocular_distance(last)), 4.0)
        ends = ((carry(fields[:pairs], first, window, False), last),
                (carry(fields[pairs:], last, window, True), first))
        deviation = sum(_charbonnier(torch.linalg.vector_norm(
            p - torch.as_tensor(t, dtype=torch.float32), dim=1) / iod).mean()
            for p, t in ends) / 2.0
        loss = loss + w_deviation * deviation
        parts["mfe_deviation"] = float(deviation.item())
    return loss, parts


class MotionField:
    """A trained :class:`MotionNet` with DIS: the tracker ``method()`` for ``flow_track``."""

    def __init__(self, net: MotionNet):
        self.net = net.eval()
        self._lock = threading.Lock()  # two tracks step at once: one network call at a time

    def fields(self, src: np.ndarray, dst: np.ndarray, dis: cv2.DISOpticalFlow
               ) -> tuple[np.ndarray, np.ndarray]:
        """V src -> dst and V dst -> src (S, S, 2) patch pixels, for uint8 patches."""
        x = np.stack([inputs(src, dst, dis.calc(src, dst, None)),
                      inputs(dst, src, dis.calc(dst, src, None))])
        with self._lock, torch.no_grad():
            v = field_of(self.net, torch.from_numpy(x)).numpy()
        return (np.ascontiguousarray(v[0].transpose(1, 2, 0)),
                np.ascontiguousarray(v[1].transpose(1, 2, 0)))

    def method(self) -> FlowMethod:
        return FlowMethod(NAME, lambda face_scale: _Stepper(self))


class _Stepper:
    """One track's steps with the field (a Stepper of core.propagation.flow)."""

    def __init__(self, field: MotionField):
        self.field, self._dis = field, _dis()

    def step(self, src: np.ndarray, dst: np.ndarray, pts: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        centre, side = region(pts)
        forward, backward = self.field.fields(patch(src, centre, side), patch(dst, centre, side),
                                              self._dis)
        scale, q = SIZE / side, to_patch(pts, centre, side)
        q1 = q + _sample(forward, q)
        back = q1 + _sample(backward, q1)
        moved = pts + (q1 - q) / scale
        fb = np.linalg.norm(back - q, axis=1) / scale
        ok = np.all(np.isfinite(moved), axis=1) & np.all((q1 >= 0) & (q1 <= SIZE - 1), axis=1)
        ok &= np.all((moved >= 0) & (moved <= np.array(src.shape[1::-1]) - 1), axis=1)
        return moved, np.where(np.isfinite(fb), fb, np.inf), ok


def train(gray: Callable[[int], np.ndarray], n_frames: int, keyframes: Mapping[int, np.ndarray],
          guide: np.ndarray, cfg: TSALConfig, excluded: Collection[int] = (),
          tick: Callable[[int, dict[str, float]], None] | None = None,
          should_stop: ShouldStop | None = None) -> MotionField:
    """The video's field: ``cfg.mfe_steps`` steps on :func:`windows` placed on ``guide``
    (T, 68, 2); ``tick(step, losses)`` after each. CancelledError when ``should_stop``."""
    runs = windows(n_frames, list(keyframes), excluded)
    made = [make_window(gray, a, b, guide,
                        (np.asarray(keyframes[a]), np.asarray(keyframes[b])) if dev else None)
            for a, b, dev in runs if b > a]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        net = MotionNet()
    opt = AdamW(net.parameters(), lr=LR)
    rng = np.random.default_rng(cfg.seed)
    for step in range(cfg.mfe_steps if made else 0):
        if should_stop is not None and should_stop():
            raise CancelledError("stopped while training the motion field: nothing to keep")
        loss, parts = window_loss(net, made[int(rng.integers(len(made)))], cfg.mfe_deviation)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if tick is not None:
            tick(step + 1, parts)
    return MotionField(net)
