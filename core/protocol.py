"""The GUI ↔ trainer protocol: what a propagation process says on stdout and how it exits.

The trainer runs as its own process (``python -m trainer`` or ``python main.py propagate
--json``) and speaks JSON lines, one event an object with an ``"event"`` key; the GUI reads them
from its QProcess. Both sides import this module, so the event names, their fields, the exit
codes and the default method are defined once:

- ``progress``: ``task``, ``phase``, ``step``, ``total``, ``eta_s`` (seconds or null),
  ``losses`` (optional, the latest training losses);
- ``run_created``: ``run_id``, ``video_id``, ``method``: sent as soon as the run row exists, so a
  Cancel (kill) can mark exactly that run failed;
- ``run``: ``run_id``, ``video_id``, ``status``: a run finished (done, stopped, cancelled, failed);
- ``done``: ``result`` (the command's JSON result); ``error`` and ``message``: ``message``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from core.progress import EtaEstimator, Progress

EXIT_OK = 0
EXIT_ERROR = 2
EXIT_CANCELLED = 130
#: What ``propagate`` runs when no method is named: TSAL fused with tracking, the product's best.
DEFAULT_METHOD = "final"


@dataclass(frozen=True)
class ProgressEvent:
    kind: ClassVar[str] = "progress"
    task: str
    phase: str
    step: int
    total: int
    eta_s: float | None = None
    losses: dict[str, float] | None = None


@dataclass(frozen=True)
class RunCreated:
    kind: ClassVar[str] = "run_created"
    run_id: int
    video_id: int
    method: str = ""


@dataclass(frozen=True)
class RunFinished:
    kind: ClassVar[str] = "run"
    run_id: int
    video_id: int
    status: str


@dataclass(frozen=True)
class Done:
    kind: ClassVar[str] = "done"
    result: Any = field(default=None)


@dataclass(frozen=True)
class ErrorEvent:
    kind: ClassVar[str] = "error"
    message: str


@dataclass(frozen=True)
class MessageEvent:
    kind: ClassVar[str] = "message"
    message: str


Event = ProgressEvent | RunCreated | RunFinished | Done | ErrorEvent | MessageEvent
_TYPES: dict[str, type] = {t.kind: t for t in (ProgressEvent, RunCreated, RunFinished, Done,
                                               ErrorEvent, MessageEvent)}


def progress_events(task: str, emit: Callable[[Event], None]) -> Progress:
    """A progress callback that emits ``ProgressEvent`` s for ``task``, with the ETA of the
    current phase's measured rate (``core.progress.EtaEstimator``)."""
    estimator = EtaEstimator()

    def report(step: int, total: int, phase: str | None = None,
               losses: Mapping[str, float] | None = None) -> None:
        eta = estimator.update(step, total, phase or task)
        emit(ProgressEvent(task, phase or task, step, total,
                           None if eta is None else round(eta, 1),
                           dict(losses) if losses else None))
    return report


def encode(event: Event) -> str:
    """One JSON line (without the newline); null ``losses`` are left out."""
    fields = {k: v for k, v in asdict(event).items() if not (k == "losses" and v is None)}
    return json.dumps({"event": event.kind, **fields}, default=str)


def decode(line: str | bytes) -> Event | None:
    """The event on one line, or None for anything else (log text, unknown or malformed
    events): a newer trainer may say more than this GUI understands."""
    try:
        data = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    kind = _TYPES.get(str(data.pop("event", "")))
    if kind is None:
        return None
    known = {name for name in kind.__dataclass_fields__}
    try:
        return kind(**{k: v for k, v in data.items() if k in known})
    except TypeError:
        return None
