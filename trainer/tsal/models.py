"""The TSAL network: a small encoder-decoder with the LHR and CLOR heads, and their decoders.

Input: grey crops (B, 1, S, S). Output at S/4 (fast) or S/2: 68 landmark heatmap logits (LHR),
one face-centre heatmap logit map and 2x68 offset maps (CLOR). Heatmaps are decoded by a spatial
soft-argmax (softmax over the map, then the expected position): sub-pixel and differentiable. The
CLOR points are ``pC = c + O(c)``: the centre's soft-argmax plus the offset maps pooled
with the centre's softmax weights. The motion field (MFE) is a classical tracker, see propagate.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

N_POINTS = 68
OFFSET_SCALE = 16.0  # offsets are predicted in units of this many crop pixels


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    groups = 4 if cout % 4 == 0 else 1
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.GroupNorm(groups, cout), nn.ReLU(True),
        nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.GroupNorm(groups, cout), nn.ReLU(True))


@dataclass
class Decoded:
    """Decoded points and statistics, all in crop pixels."""

    pm: torch.Tensor  # (B, 68, 2) LHR points
    pc: torch.Tensor  # (B, 68, 2) CLOR points
    centre: torch.Tensor  # (B, 2)
    offsets: torch.Tensor  # (B, 68, 2) pooled offsets
    peak: torch.Tensor  # (B, 68) largest softmax probability of each landmark heatmap
    heat: torch.Tensor  # (B, 68, h, w) softmax of the landmark heatmaps
    centre_heat: torch.Tensor  # (B, 1, h, w) softmax of the centre heatmap

    def rows(self, sl: slice) -> Decoded:
        """The same outputs for a slice of the batch."""
        return Decoded(self.pm[sl], self.pc[sl], self.centre[sl], self.offsets[sl],
                       self.peak[sl], self.heat[sl], self.centre_heat[sl])


class LandmarkNet(nn.Module):
    """Stem at S, encoder S/2 -> S/4 -> S/8 (two blocks), decoder back to S/4 (or S/2) with
    skips; the heads sit at the decoder's last resolution."""

    def __init__(self, width: int = 16, heat_stride: int = 4):
        super().__init__()
        if heat_stride not in (2, 4):
            raise ValueError(f"heatmap stride must be 2 or 4, got {heat_stride}")
        w = width
        self.heat_stride = heat_stride
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, 1, 1), nn.ReLU(True))
        self.enc2 = _block(8, w, 2)
        self.enc4 = _block(w, 2 * w, 2)
        self.enc8 = nn.Sequential(_block(2 * w, 4 * w, 2), _block(4 * w, 4 * w, 1))
        self.dec4 = _block(4 * w + 2 * w, 2 * w, 1)
        self.dec2 = _block(2 * w + w, 2 * w, 1) if heat_stride == 2 else None
        self.head = nn.Conv2d(2 * w, N_POINTS + 1 + 2 * N_POINTS, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Landmark logits (B, 68, h, w), centre logits (B, 1, h, w), offsets (B, 136, h, w)."""
        # channels-last: ~20 % faster convolutions on the CPU (docs/MEASUREMENTS.md)
        x = self.stem((x * 2.0 - 1.0).contiguous(memory_format=torch.channels_last))
        e2 = self.enc2(x)
        e4 = self.enc4(e2)
        e8 = self.enc8(e4)
        d4 = self.dec4(torch.cat([F.interpolate(e8, scale_factor=2.0, mode="bilinear",
                                                align_corners=False), e4], 1))
        if self.dec2 is not None:
            d4 = self.dec2(torch.cat([F.interpolate(d4, scale_factor=2.0, mode="bilinear",
                                                    align_corners=False), e2], 1))
        out = self.head(d4)
        return out[:, :N_POINTS], out[:, N_POINTS:N_POINTS + 1], out[:, N_POINTS + 1:]


def mixed_precision(device: torch.device, enabled: bool) -> torch.autocast:
    """bf16 autocast on CUDA when ``enabled`` (the quality preset); a no-op elsewhere. Decoding
    and losses run in float32 (soft_argmax and decode cast the logits)."""
    on = bool(enabled) and device.type == "cuda"
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=on)


def grid(h: int, w: int, crop: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop-pixel coordinates of heatmap cell centres (x of width w, y of height h)."""
    sx, sy = crop / w, crop / h
    xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) * sx - 0.5
    ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) * sy - 0.5
    return xs, ys


def soft_argmax(logits: torch.Tensor, crop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Expected crop-pixel position (B, C, 2) and softmax maps (B, C, h, w) of heatmap logits."""
    b, c, h, w = logits.shape
    prob = torch.softmax(logits.float().reshape(b, c, h * w), dim=-1).reshape(b, c, h, w)
    xs, ys = grid(h, w, crop, logits.device)
    x = (prob.sum(dim=2) * xs).sum(dim=-1)
    y = (prob.sum(dim=3) * ys).sum(dim=-1)
    return torch.stack([x, y], dim=-1), prob


def decode(outputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor], crop: int) -> Decoded:
    heat_logits, centre_logits, offset_maps = outputs
    pm, heat = soft_argmax(heat_logits, crop)
    centre, centre_heat = soft_argmax(centre_logits, crop)
    b, _, h, w = offset_maps.shape
    pooled = (offset_maps.float().reshape(b, 2 * N_POINTS, h * w)
              * centre_heat.reshape(b, 1, h * w)).sum(-1)
    offsets = pooled.reshape(b, N_POINTS, 2) * OFFSET_SCALE
    peak = heat.reshape(b, N_POINTS, h * w).amax(dim=-1)
    return Decoded(pm, centre[:, 0][:, None] + offsets, centre[:, 0], offsets, peak, heat,
                   centre_heat)


@torch.no_grad()
def infer(model: LandmarkNet, crops: np.ndarray, crop: int,
          device: torch.device | str = "cpu", bf16: bool = False
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pM and pC (B, 68, 2, crop pixels) and the heatmap peaks (B, 68), float32, of ``model``
    in evaluation mode on crops (B, 1, S, S) in [0, 1]; the model's mode is left as it was."""
    was_training = model.training
    model.eval()
    x = torch.from_numpy(np.ascontiguousarray(crops, dtype=np.float32)).to(device)
    with mixed_precision(torch.device(device), bf16):
        d = decode(model(x), crop)
    model.train(was_training)
    return d.pm.float().cpu().numpy(), d.pc.float().cpu().numpy(), d.peak.float().cpu().numpy()
