"""TSAL checkpoints: the trainer's state on disk, for warm starts and for resuming a stopped job.

A video's checkpoints live in one folder beside the project (``<project>.checkpoints/video-N``):
``latest.pt`` after a finished training (the next propagation of that video warm-starts from it)
and ``resume.pt`` when a job was stopped part-way (``propagate --resume`` continues it). Files
are written to a temporary name and renamed, so a kill mid-write leaves the previous file whole.
They hold tensors, numbers and strings only and are loaded with ``weights_only=True``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
from collections.abc import Mapping
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.errors import ValidationError
from trainer.tsal.config import TSALConfig

logger = logging.getLogger(__name__)

FORMAT = "faceprop-tsal-checkpoint"
VERSION = 1
LATEST = "latest.pt"
RESUME = "resume.pt"
#: Fields that fix the network's shape: a checkpoint only fits a config that agrees on them.
ARCHITECTURE = ("crop", "width", "heat_stride", "margin")


def keyframes_digest(keyframes: Mapping[int, np.ndarray]) -> str:
    """A short digest of the keyframe set (frames and points), to tell whether labels changed."""
    digest = hashlib.sha1()
    for frame in sorted(keyframes):
        digest.update(np.int64(frame).tobytes())
        digest.update(np.ascontiguousarray(keyframes[frame], dtype=np.float32).tobytes())
    return digest.hexdigest()[:16]


def save(path: Path, state: Mapping[str, Any], cfg: TSALConfig, **meta: Any) -> Path:
    """Write a trainer state with its config and metadata atomically; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "version": VERSION, "config": asdict(cfg), **meta, **state}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load(path: Path) -> dict[str, Any]:
    """A checkpoint written by :func:`save`; ValidationError naming the file if it is not one."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise ValidationError(f"{path}: not a readable TSAL checkpoint ({exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValidationError(f"{path}: not a TSAL checkpoint")
    if int(payload.get("version", 0)) > VERSION:
        raise ValidationError(f"{path}: checkpoint format {payload['version']} is newer than this "
                              f"FaceProp understands ({VERSION})")
    return payload


def load_or_set_aside(path: Path) -> dict[str, Any] | None:
    """A checkpoint for a warm start or resume, or None when there is none usable: a damaged
    file is renamed to ``*.corrupt`` (kept for inspection) and the job trains cold, with a
    warning naming the file, instead of failing."""
    if not path.exists():
        return None
    try:
        return load(path)
    except ValidationError as exc:
        aside = path.with_name(path.name + ".corrupt")
        n = 1
        while aside.exists():
            n += 1
            aside = path.with_name(f"{path.name}.corrupt-{n}")
        os.replace(path, aside)
        logger.warning("%s; moved aside to %s, training without it", exc, aside.name)
        return None


def config_of(payload: Mapping[str, Any]) -> TSALConfig:
    """The config a checkpoint was trained with (unknown fields of other versions ignored)."""
    known = {f.name for f in fields(TSALConfig)}
    return TSALConfig(**{k: v for k, v in dict(payload["config"]).items() if k in known})


def fits(payload: Mapping[str, Any], cfg: TSALConfig) -> bool:
    """Whether a checkpoint's network has the shape ``cfg`` builds."""
    saved = dict(payload.get("config", {}))
    return all(saved.get(name) == getattr(cfg, name) for name in ARCHITECTURE)
