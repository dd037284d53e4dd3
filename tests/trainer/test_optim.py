"""The trainer's own AdamW against torch.optim.AdamW, and its state dict."""

from __future__ import annotations

import torch

from trainer.tsal.optim import AdamW


def _model(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))


def _train(model: torch.nn.Module, opt, steps: int, lrs: list[float]) -> None:
    torch.manual_seed(1)
    for step in range(steps):
        opt.param_groups[0]["lr"] = lrs[step % len(lrs)]
        loss = model(torch.randn(5, 6)).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def test_same_updates_as_torch_adamw() -> None:
    ours, theirs = _model(0), _model(0)
    lrs = [3e-3, 1e-3, 2e-3]
    _train(ours, AdamW(ours.parameters(), lr=3e-3, weight_decay=1e-2), 25, lrs)
    _train(theirs, torch.optim.AdamW(theirs.parameters(), lr=3e-3, weight_decay=1e-2), 25, lrs)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_state_dict_round_trip_and_torch_state_loads() -> None:
    model = _model(0)
    opt = AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    _train(model, opt, 4, [3e-3])
    other = AdamW(model.parameters(), lr=1.0)
    other.load_state_dict(opt.state_dict())
    assert other.param_groups[0]["lr"] == 3e-3
    assert float(other.state[0]["step"]) == 4.0
    # a checkpoint written by torch.optim.AdamW (earlier versions) continues here
    reference = _model(0)
    torch_opt = torch.optim.AdamW(reference.parameters(), lr=2e-3)
    _train(reference, torch_opt, 3, [2e-3])
    resumed = AdamW(reference.parameters(), lr=1.0)
    resumed.load_state_dict(torch_opt.state_dict())
    saved = torch_opt.state_dict()["state"][1]
    torch.testing.assert_close(resumed.state[1]["exp_avg"], saved["exp_avg"])
