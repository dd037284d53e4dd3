"""AdamW for the TSAL trainer, without ``torch.optim``.

The first ``torch.optim`` optimiser a process makes imports ``torch._dynamo`` (its methods are
wrapped to keep the compiler out), which costs 1.5–3 s on the 2-core CPU: a tenth of the time
a first propagation is allowed (issue 13 §1). This class applies the same update as
``torch.optim.AdamW`` (decoupled weight decay, bias-corrected moments; the test compares the
two step by step) and keeps its state-dict layout, so checkpoints written with either load.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

BETAS = (0.9, 0.999)
EPS = 1e-8


class AdamW:
    """One parameter group; ``param_groups[0]["lr"]`` may be changed between steps."""

    def __init__(self, params: Iterable[torch.nn.Parameter], lr: float,
                 weight_decay: float = 0.0) -> None:
        self.params = list(params)
        self.param_groups: list[dict[str, Any]] = [
            {"lr": lr, "weight_decay": weight_decay, "betas": BETAS, "eps": EPS,
             "params": list(range(len(self.params)))}]
        self.state: dict[int, dict[str, torch.Tensor]] = {}

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.zero_()

    @torch.no_grad()
    def step(self) -> None:
        group = self.param_groups[0]
        lr, decay, (beta1, beta2), eps = (group["lr"], group["weight_decay"], group["betas"],
                                          group["eps"])
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            state = self.state.get(i)
            if state is None:
                state = self.state[i] = {"step": torch.tensor(0.0),
                                         "exp_avg": torch.zeros_like(p),
                                         "exp_avg_sq": torch.zeros_like(p)}
            state["step"] += 1
            t = float(state["step"])
            p.mul_(1.0 - lr * decay)
            state["exp_avg"].lerp_(p.grad, 1.0 - beta1)
            state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1.0 - beta2)
            denom = (state["exp_avg_sq"].sqrt() / math.sqrt(1.0 - beta2 ** t)).add_(eps)
            p.addcdiv_(state["exp_avg"], denom, value=-lr / (1.0 - beta1 ** t))

    def state_dict(self) -> dict[str, Any]:
        return {"state": {i: {k: v.clone() for k, v in s.items()} for i, s in self.state.items()},
                "param_groups": [dict(g, params=list(g["params"])) for g in self.param_groups]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (or a ``torch.optim.AdamW`` one of the same parameters)."""
        saved = state_dict["state"]
        if any(int(i) >= len(self.params) for i in saved):
            raise ValueError("optimiser state does not match the network's parameters")
        self.state = {int(i): {"step": torch.as_tensor(s["step"], dtype=torch.float32).clone(),
                               "exp_avg": s["exp_avg"].clone().to(self.params[int(i)]),
                               "exp_avg_sq": s["exp_avg_sq"].clone().to(self.params[int(i)])}
                      for i, s in saved.items()}
        group = state_dict["param_groups"][0]
        self.param_groups[0].update(lr=group["lr"], weight_decay=group["weight_decay"],
                                    betas=tuple(group["betas"]), eps=group["eps"])
