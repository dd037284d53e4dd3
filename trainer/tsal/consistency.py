"""Seed 001's disturbed-sequence consistency (issue 13 §3): a training option (``use_dsc``).

A clip of unlabelled crops is disturbed — one smooth spatial transform per clip (rotation,
scale and shift, the same on each of its frames so that it stays a plausible video) and, per
frame, illumination, blur, noise and an occluding patch — and the network's points on the
disturbed clip, mapped back through the transform, must land on its points on the undisturbed
clip. It needs no tracker, so it asks the network to be
stable exactly where tracking has nothing to say.

Seed 001's inverse-sequence consistency (track a clip forwards, then backwards, and penalise
the difference) constrains a tracker's state carried from frame to frame. Our network sees one
frame at a time: played backwards, a clip gives exactly the reversed predictions, so that loss
would be zero by construction and is not built.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

#: Per clip: rotation (degrees), scale and shift (fraction of the crop side) drawn uniformly.
ROTATE_DEG, SCALE, SHIFT = 10.0, 0.08, 0.03
#: Per frame: gain and bias of the illumination, noise σ, and the chance of blur / occlusion.
GAIN, BIAS, NOISE, P_BLUR, P_OCCLUDE = 0.3, 0.1, 0.04, 0.4, 0.4  # the seed's δ = 0.4


def _to_norm(points: torch.Tensor, crop: int) -> torch.Tensor:
    return (2.0 * points + 1.0) / crop - 1.0


def _from_norm(points: torch.Tensor, crop: int) -> torch.Tensor:
    return ((points + 1.0) * crop - 1.0) / 2.0


def disturb(images: torch.Tensor, clips: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The disturbed images (N, 1, S, S), N = clips × frames, and each image's point transform
    (N, 2, 3) from undisturbed to disturbed coordinates, in ``affine_grid``'s normalised
    coordinates."""
    n, _, size, _ = images.shape
    per_clip = n // clips
    dev = images.device
    angle = (torch.rand(clips, device=dev) * 2 - 1) * math.radians(ROTATE_DEG)
    scale = 1.0 + (torch.rand(clips, device=dev) * 2 - 1) * SCALE
    shift = (torch.rand(clips, 2, device=dev) * 2 - 1) * SHIFT * 2.0  # normalised units
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    forward = torch.stack([torch.stack([cos, -sin, shift[:, 0]], -1),
                           torch.stack([sin, cos, shift[:, 1]], -1)], 1)  # (clips, 2, 3)
    forward = forward.repeat_interleave(per_clip, 0)
    linear = forward[:, :, :2]
    inverse = torch.linalg.inv(linear)
    theta = torch.cat([inverse, -(inverse @ forward[:, :, 2:])], -1)  # output -> input
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="border",
                        align_corners=False)
    gain = 1.0 + (torch.rand(n, 1, 1, 1, device=dev) * 2 - 1) * GAIN
    bias = (torch.rand(n, 1, 1, 1, device=dev) * 2 - 1) * BIAS
    out = out * gain + bias + torch.randn_like(out) * torch.rand(n, 1, 1, 1, device=dev) * NOISE
    blur = torch.rand(n, device=dev) < P_BLUR
    if blur.any():
        out[blur] = F.avg_pool2d(out[blur], 3, stride=1, padding=1, count_include_pad=False)
    for i in torch.nonzero(torch.rand(n, device=dev) < P_OCCLUDE).flatten().tolist():
        side = int(size * (0.15 + 0.15 * float(torch.rand(1))))
        x, y = (int(v) for v in torch.randint(0, size - side + 1, (2,)))
        out[i, :, y:y + side, x:x + side] = float(torch.rand(1))
    return out.clamp(0.0, 1.0), forward


def points_back(points: torch.Tensor, forward: torch.Tensor, crop: int) -> torch.Tensor:
    """Points (N, 68, 2) found on disturbed images, in the undisturbed crops' pixels."""
    linear, offset = forward[:, :, :2], forward[:, :, 2]
    norm = _to_norm(points, crop) - offset[:, None, :]
    return _from_norm(norm @ torch.linalg.inv(linear).transpose(1, 2), crop)


def dsc_loss(disturbed_points: torch.Tensor, clean_points: torch.Tensor,
             forward: torch.Tensor, crop: int) -> torch.Tensor:
    """L1 distance (in % of the crop) between the disturbed clip's points mapped back and the
    undisturbed clip's points; both sides are differentiated (a moving target held fixed
    need not fall on a fixed batch), the supervised terms keep them from collapsing."""
    back = points_back(disturbed_points, forward, crop)
    return ((back - clean_points).abs().sum(-1) * (100.0 / crop)).mean()
