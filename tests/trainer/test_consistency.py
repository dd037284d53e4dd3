"""Disturbed-sequence consistency: the disturbance's geometry maps points back exactly."""

from __future__ import annotations

import torch

from trainer.tsal import consistency


def test_a_dot_moved_by_the_disturbance_maps_back_to_where_it_was(monkeypatch) -> None:
    for name in ("GAIN", "BIAS", "NOISE", "P_BLUR", "P_OCCLUDE"):
        monkeypatch.setattr(consistency, name, 0.0)
    torch.manual_seed(3)
    crop, spots = 48, [(20, 25), (30, 14), (24, 24), (18, 31)]
    images = torch.zeros(len(spots), 1, crop, crop)
    for i, (x, y) in enumerate(spots):
        images[i, 0, y - 1:y + 2, x - 1:x + 2] = 1.0
    disturbed, forward = consistency.disturb(images, clips=2)
    assert torch.equal(forward[0], forward[1]) and torch.equal(forward[2], forward[3])
    assert not torch.allclose(forward[0], forward[2])  # one transform per clip
    found = []
    for image in disturbed[:, 0]:
        weights = image.clamp_min(0.5) - 0.5
        ys, xs = torch.meshgrid(torch.arange(crop), torch.arange(crop), indexing="ij")
        total = weights.sum()
        found.append([(weights * xs).sum() / total, (weights * ys).sum() / total])
    back = consistency.points_back(torch.tensor(found)[:, None, :], forward, crop)[:, 0]
    torch.testing.assert_close(back, torch.tensor(spots, dtype=torch.float32), atol=0.6, rtol=0)
