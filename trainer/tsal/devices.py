"""Where a TSAL job runs: the torch device asked for, its name, and the cores it may use."""

from __future__ import annotations

import os

import torch

from core.errors import ValidationError


def usable_cores() -> int:
    """The cores this process may run on (its affinity; all of them where that is unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def select_device(requested: str = "auto") -> torch.device:
    """The torch device for a request; ValidationError when CUDA is asked for but absent."""
    name = (requested or "auto").lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            build = "with" if torch.backends.cuda.is_built() else "without"
            raise ValidationError(f"--device {requested}: CUDA was requested but torch "
                                  f"{torch.__version__} (built {build} CUDA) sees no CUDA "
                                  "device; use --device cpu or auto")
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValidationError(f"--device {requested}: only {torch.cuda.device_count()} "
                                  "CUDA device(s) present")
        return device
    raise ValidationError(f"--device must be auto, cpu or cuda[:N], not {requested!r}")


def device_name(device: torch.device | None = None) -> str:
    """"cpu", or the CUDA device's name."""
    dev = device if device is not None else select_device()
    return torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
