"""TSAL losses (DESIGN.md §4.1); points are crop pixels unless a name says otherwise.

Heatmap loss ℓM: mean squared error between a landmark's softmax heatmap and the normalised
Gaussian at its target (scaled by h·w so it is O(1)), plus a soft-argmax coordinate L1 term (in
units of 1 % of the crop) that makes the sub-pixel decoder precise. The same form serves the
labelled loss, the teacher's tracking-only pseudo-heatmap loss and the student's fused one.
"""

from __future__ import annotations

import torch

from trainer.tsal.models import Decoded, grid


def gaussian_maps(points: torch.Tensor, h: int, w: int, crop: int, sigma: float | torch.Tensor
                  ) -> torch.Tensor:
    """Normalised Gaussians (B, N, h, w) centred at crop-pixel points (B, N, 2); σ in heatmap
    cells (a float, or a (B, N) tensor)."""
    xs, ys = grid(h, w, crop, points.device)
    cell = crop / w
    sig = torch.as_tensor(sigma, dtype=torch.float32, device=points.device) * cell
    if sig.ndim:
        sig = sig[..., None]
    gx = torch.exp(-((xs - points[..., :1]) ** 2) / (2 * sig ** 2))  # (B, N, w)
    gy = torch.exp(-((ys - points[..., 1:]) ** 2) / (2 * sig ** 2))  # (B, N, h)
    maps = gy[..., :, None] * gx[..., None, :]
    return maps / maps.sum(dim=(-1, -2), keepdim=True).clamp_min(1e-12)


def heatmap_loss(prob: torch.Tensor, points: torch.Tensor, targets: torch.Tensor, crop: int,
                 sigma: float, w_coord: float = 1.0, weight: torch.Tensor | None = None
                 ) -> torch.Tensor:
    """ℓM for softmax maps (B, N, h, w) with decoded points (B, N, 2) against targets (B, N, 2).
    ``weight`` (B,) or (B, N) scales samples/points (e.g. ω·confidence of a pseudo-label)."""
    h, w = prob.shape[-2:]
    target_maps = gaussian_maps(targets.detach(), h, w, crop, sigma)
    mse = ((prob - target_maps) ** 2).mean(dim=(-1, -2)) * (h * w) ** 2 / 4.0  # (B, N)
    coord = (points - targets.detach()).abs().sum(-1) * (100.0 / crop)  # (B, N)
    per = mse + w_coord * coord
    if weight is not None:
        per = per * (weight if weight.ndim == 2 else weight[:, None])
    return per.mean()


def centre_loss(decoded: Decoded, targets: torch.Tensor, crop: int) -> torch.Tensor:
    """ℓC: centre heatmap (target: the landmarks' mean, σ following the face box) + offsets
    (pC against the targets, L1 in 1 % of the crop)."""
    centre = targets.mean(dim=1, keepdim=True)
    box = (targets.amax(dim=1) - targets.amin(dim=1)).amax(dim=-1)  # (B,)
    _, _, h, w = decoded.centre_heat.shape
    sigma = (0.08 * box * w / crop).clamp_min(0.7)[:, None]
    maps = gaussian_maps(centre.detach(), h, w, crop, sigma)
    mse = ((decoded.centre_heat - maps) ** 2).mean(dim=(-1, -2)) * (h * w) ** 2 / 4.0
    coord = (decoded.pc - targets.detach()).abs().sum(-1) * (100.0 / crop)
    centre_l1 = (decoded.centre - centre[:, 0].detach()).abs().sum(-1) * (100.0 / crop)
    return mse.mean() + coord.mean() + centre_l1.mean()


def sic_loss(offsets: torch.Tensor, box_w: torch.Tensor) -> torch.Tensor:
    """LI: (1/K) Σ_{i<j} (‖O(i)‖/box_w(i) − ‖O(j)‖/box_w(j))², averaged over landmarks and
    clips; offsets (C, K, 68, 2), box widths (C, K). Scaled ×100² (offsets in % of the box)."""
    k = offsets.shape[1]
    if k < 2:
        return offsets.sum() * 0.0
    m = offsets.norm(dim=-1) / box_w[..., None].clamp_min(1e-6)  # (C, K, 68)
    diff = m[:, :, None] - m[:, None, :]  # (C, K, K, 68)
    upper = torch.triu(torch.ones(k, k, device=m.device), diagonal=1)
    return ((diff ** 2) * upper[None, :, :, None]).sum(dim=(1, 2)).mean() / k * 1e4


def to_frame(points: torch.Tensor, crop_to_frame: torch.Tensor) -> torch.Tensor:
    """Crop points (..., N, 2) through crop -> frame affines (..., 2, 3)."""
    return points @ crop_to_frame[..., :2].transpose(-1, -2) + crop_to_frame[..., None, :, 2]


def mfds_loss(pm: torch.Tensor, crop_to_frame: torch.Tensor, delta: torch.Tensor,
              scale: torch.Tensor) -> torch.Tensor:
    """LD: ‖φ(V, pM(0))(j) − pM(j)‖² over the clip's later frames j, in frame pixels divided by
    the inter-ocular distance (×100, i.e. in % of it). φ is the classical flow, linearised at the
    tracked landmarks: φ(V, p)(j) = p + (track(j) − track(0)). pm (C, K, 68, 2) crop pixels."""
    full = to_frame(pm, crop_to_frame)  # (C, K, 68, 2)
    carried = full[:, :1] + delta  # (C, K, 68, 2)
    err = ((carried[:, 1:] - full[:, 1:]).norm(dim=-1) / scale[:, None, None] * 100.0)
    return (err ** 2).mean() * 0.01
