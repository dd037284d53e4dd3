"""The asynchronous teacher (TSAL Algorithm 1): a queue-averaged, λ-filtered copy of the student.

After each step the student's parameters enter a queue of length v and the teacher is filtered
``Θ_R ← λ·Θ_R + (1−λ)·mean(queue)``; v = 1 is the mean-teacher special case. Buffers (batch-norm
statistics) are copied the same way.
"""

from __future__ import annotations

from collections import deque

import torch
from torch import nn


class QueueTeacher:
    """Keeps the queue of student parameter snapshots and filters a teacher model towards it."""

    def __init__(self, teacher: nn.Module, queue: int = 4, lam: float = 0.99):
        if queue < 1:
            raise ValueError(f"queue length must be at least 1, got {queue}")
        if not 0.0 <= lam <= 1.0:
            raise ValueError(f"λ must be in [0, 1], got {lam}")
        self.teacher, self.lam = teacher, float(lam)
        self._queue: deque[list[torch.Tensor]] = deque(maxlen=int(queue))

    def __len__(self) -> int:
        return len(self._queue)

    def snapshots(self) -> list[list[torch.Tensor]]:
        """The queued student states, oldest first (for a checkpoint)."""
        return [list(snap) for snap in self._queue]

    def restore(self, snapshots: list[list[torch.Tensor]]) -> None:
        self._queue.clear()
        device = next(iter(self.teacher.state_dict().values())).device
        for snap in snapshots:
            self._queue.append([t.to(device) for t in snap])

    @torch.no_grad()
    def update(self, student: nn.Module) -> None:
        """Push the student's state and filter the teacher towards the queue's mean."""
        state = [t.detach().clone() for t in student.state_dict().values()]
        self._queue.append(state)
        for i, target in enumerate(self.teacher.state_dict().values()):
            if not torch.is_floating_point(target):
                target.copy_(state[i])
                continue
            mean = torch.stack([snap[i] for snap in self._queue]).mean(dim=0)
            target.mul_(self.lam).add_(mean, alpha=1.0 - self.lam)
