"""Run service: training/propagation runs, their pseudo-labels and per-frame statistics.

Pseudo-labels are written in bulk (one executemany per chunk) because a run covers every frame of
a video; reads return whole arrays so the GUI draws timelines without per-frame queries.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from itertools import chain
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from core.errors import StoreError, ValidationError
from core.frame_numbers import frame_label
from core.landmarks import N_POINTS
from core.store.blobs import unpack_many
from core.store.liveness import process_gone, this_host
from core.store.models import FrameStatsRow, PseudoLabelRow, RunRow, VideoRow, utcnow
from core.store.records import (
    RUN_STATUSES,
    STAT_FIELDS,
    FrameStats,
    PseudoLabels,
    RunRecord,
    RunResults,
)

if TYPE_CHECKING:
    from core.store.project import Project

POINTS_DTYPE = "<f4"
CONF_DTYPE = "<f4"
_CHUNK = 5000
#: Methods whose runs store only the frames they changed over their parent run (the re-solve).
DERIVED_METHODS = ("resolve",)


ABANDONED_MESSAGE = "the trainer process ended without finishing"


def _abandoned(row: RunRow) -> bool:
    return row.status == "running" and process_gone(row.pid, row.host, row.started_at)


def _record(row: RunRow) -> RunRecord:
    """The run as callers see it: a "running" run whose process is gone reads as failed."""
    status, message = row.status, row.message
    if _abandoned(row):
        status, message = "failed", message or ABANDONED_MESSAGE
    return RunRecord(
        id=row.id, video_id=row.video_id, method=row.method, status=status,
        config=dict(row.config or {}), device=row.device, started_at=row.started_at,
        finished_at=row.finished_at, timings=dict(row.timings or {}),
        metrics=dict(row.metrics or {}), checkpoint_path=row.checkpoint_path,
        parent_run_id=row.parent_run_id, keyframes=dict(row.keyframes or {}),
        message=message, pid=row.pid, host=row.host)


class RunService:
    """Creates runs, stores their outputs and answers "what is the latest result"."""

    def __init__(self, project: Project) -> None:
        self._project = project

    def create(self, video_id: int, method: str, *, config: Mapping[str, Any] | None = None,
               device: str = "", parent_run_id: int | None = None,
               keyframes: Mapping[str, Any] | None = None, pid: int | None = None) -> RunRecord:
        with self._project.session() as session, session.begin():
            if session.get(VideoRow, video_id) is None:
                raise StoreError(f"{self._project.target}: no video with id {video_id}")
            row = RunRow(video_id=video_id, method=method, status="running",
                         config=dict(config or {}), device=device, parent_run_id=parent_run_id,
                         keyframes=dict(keyframes or {}), pid=pid if pid is not None
                         else os.getpid(), host=this_host(), timings={}, metrics={},
                         message="")
            session.add(row)
            session.flush()
            return _record(row)

    def update(self, run_id: int, **fields: Any) -> None:
        """Set run columns (device, checkpoint_path, timings, metrics, message, config)."""
        allowed = {"device", "checkpoint_path", "timings", "metrics", "message", "config", "pid"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValidationError(f"run fields {sorted(unknown)} cannot be updated")
        with self._project.session() as session, session.begin():
            session.execute(update(RunRow).where(RunRow.id == run_id).values(**fields))

    def finish(self, run_id: int, status: str, *, message: str = "",
               timings: Mapping[str, Any] | None = None,
               metrics: Mapping[str, Any] | None = None,
               checkpoint_path: str | None = None,
               results: RunResults | None = None) -> RunRecord:
        """Set a run's final status; with ``results``, its pseudo-labels and per-frame
        statistics are written in the same transaction, so a kill leaves either a finished run
        with all its results or a running (then failed) run with none."""
        if status not in RUN_STATUSES or status == "running":
            raise ValidationError(f"a run cannot finish with status {status!r}")
        values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "message": message}
        if timings is not None:
            values["timings"] = dict(timings)
        if metrics is not None:
            values["metrics"] = dict(metrics)
        if checkpoint_path is not None:
            values["checkpoint_path"] = checkpoint_path
        with self._project.session() as session, session.begin():
            if results is not None:
                self._insert_pseudo_labels(session, run_id, results.frames, results.points,
                                           results.confidence)
                self._insert_frame_stats(session, run_id, results.frames, results.stats)
            session.execute(update(RunRow).where(RunRow.id == run_id).values(**values))
            row = session.get(RunRow, run_id)
            if row is None:
                raise StoreError(f"{self._project.target}: no run with id {run_id}")
            return _record(row)

    def end_if_running(self, run_id: int, status: str, message: str) -> bool:
        """Finish a run that is still "running" (its process was killed by its owner, who
        knows its id); a run that ended on its own keeps its status. True when it was ended."""
        if status not in RUN_STATUSES or status == "running":
            raise ValidationError(f"a run cannot end with status {status!r}")
        with self._project.session() as session, session.begin():
            ended = session.execute(update(RunRow).where(
                RunRow.id == run_id, RunRow.status == "running").values(
                status=status, finished_at=utcnow(), message=message)).rowcount
        return bool(ended)

    def get(self, run_id: int) -> RunRecord:
        with self._project.session() as session:
            row = session.get(RunRow, run_id)
            if row is None:
                raise StoreError(f"{self._project.target}: no run with id {run_id}")
            return _record(row)

    def all(self, video_id: int | None = None) -> list[RunRecord]:
        query = select(RunRow).order_by(RunRow.id)
        if video_id is not None:
            query = query.where(RunRow.video_id == video_id)
        with self._project.session() as session:
            return [_record(row) for row in session.scalars(query)]

    def latest(self, video_id: int, statuses: tuple[str, ...] = ("done", "stopped")
               ) -> RunRecord | None:
        """The newest run of a video whose results can be used (finished or stopped cleanly)."""
        with self._project.session() as session:
            row = session.scalars(select(RunRow).where(
                RunRow.video_id == video_id, RunRow.status.in_(statuses))
                .order_by(RunRow.id.desc())).first()
            return None if row is None else _record(row)

    def mark_abandoned(self) -> list[int]:
        """Mark 'running' runs whose process is gone (killed) as failed; their rows stay but
        ``latest`` never returns them, so earlier runs keep serving."""
        with self._project.session() as session, session.begin():
            rows = session.scalars(select(RunRow).where(RunRow.status == "running")).all()
            dead = [row for row in rows if _abandoned(row)]
            for row in dead:
                row.status, row.finished_at = "failed", utcnow()
                row.message = row.message or ABANDONED_MESSAGE
            return [row.id for row in dead]

    # -- pseudo-labels ---------------------------------------------------------------------
    def write_pseudo_labels(self, run_id: int, frames: np.ndarray, points: np.ndarray,
                            confidence: np.ndarray) -> int:
        """Store (or replace) pseudo-labels for ``frames`` of a run in one transaction."""
        with self._project.session() as session, session.begin():
            return self._insert_pseudo_labels(session, run_id, frames, points, confidence)

    def _insert_pseudo_labels(self, session: Session, run_id: int, frames: np.ndarray,
                              points: np.ndarray, confidence: np.ndarray) -> int:
        frames = np.asarray(frames, dtype=np.int64)
        points = np.asarray(points, dtype=np.float32)
        confidence = np.asarray(confidence, dtype=np.float32)
        n = len(frames)
        if points.shape != (n, N_POINTS, 2) or confidence.shape != (n, N_POINTS):
            raise ValidationError(f"run {run_id}: pseudo-labels need points ({n}, {N_POINTS}, 2) "
                                  f"and confidence ({n}, {N_POINTS}); got {points.shape} and "
                                  f"{confidence.shape}")
        bad = ~np.isfinite(points).reshape(n, -1).all(axis=1)
        if bad.any():
            raise ValidationError(f"run {run_id}: pseudo-label of "
                                  f"{frame_label(int(frames[np.argmax(bad)]))} has NaN or "
                                  "infinite points")
        run = session.get(RunRow, run_id)
        if run is None:
            raise StoreError(f"{self._project.target}: no run with id {run_id}")
        video_id, frame_count = run.video_id, session.get(VideoRow, run.video_id).frame_count
        outside = (frames < 0) | (frames >= frame_count)
        if outside.any():
            raise ValidationError(f"run {run_id}: {frame_label(int(frames[np.argmax(outside)]))} "
                                  f"is outside video {video_id} (frames 1..{frame_count})")
        session.execute(delete(PseudoLabelRow).where(
            PseudoLabelRow.run_id == run_id, PseudoLabelRow.frame.in_(frames.tolist()))
            if n <= 50_000 else delete(PseudoLabelRow).where(PseudoLabelRow.run_id == run_id))
        for start in range(0, n, _CHUNK):
            chunk = slice(start, start + _CHUNK)
            session.execute(insert(PseudoLabelRow), [
                {"run_id": run_id, "video_id": video_id, "frame": int(f),
                 "points": p.astype(POINTS_DTYPE).tobytes(),
                 "confidence": c.astype(CONF_DTYPE).tobytes()}
                for f, p, c in zip(frames[chunk], points[chunk], confidence[chunk])])
        return n

    def lineage(self, run_id: int) -> list[int]:
        """``run_id`` and, while a run is a derived revision (it stores only the frames it
        changed), the runs it was derived from: newest first, ending at a whole run."""
        chain = []
        with self._project.session() as session:
            current: int | None = run_id
            while current is not None:
                row = session.get(RunRow, current)
                if row is None:
                    raise StoreError(f"{self._project.target}: no run with id {current}")
                chain.append(current)
                current = row.parent_run_id if row.method in DERIVED_METHODS else None
        return chain

    def pseudo_labels(self, run_id: int) -> PseudoLabels:
        """Every pseudo-labelled frame of a run; for a derived revision, its frames over those
        of the runs it was derived from (``run_ids`` says which run produced each frame)."""
        chain = self.lineage(run_id)
        merged = self._own_pseudo_labels(chain[-1])
        run_ids = np.full(len(merged.frames), chain[-1], dtype=np.int64)
        for derived in reversed(chain[:-1]):
            own = self._own_pseudo_labels(derived)
            index = {int(f): i for i, f in enumerate(merged.frames)}
            points, confidence = merged.points.copy(), merged.confidence.copy()
            new_frames = [f for f in own.frames.tolist() if f not in index]
            for i, f in enumerate(own.frames.tolist()):
                if f in index:
                    points[index[f]], confidence[index[f]] = own.points[i], own.confidence[i]
                    run_ids[index[f]] = derived
            if new_frames:  # a revision that covers frames its parent did not (rare)
                extra = np.isin(own.frames, new_frames)
                frames = np.concatenate([merged.frames, own.frames[extra]])
                order = np.argsort(frames, kind="stable")
                points = np.concatenate([points, own.points[extra]])[order]
                confidence = np.concatenate([confidence, own.confidence[extra]])[order]
                run_ids = np.concatenate([run_ids, np.full(int(extra.sum()), derived)])[order]
                merged = replace(merged, frames=frames[order])
            merged = replace(merged, points=points, confidence=confidence)
        return replace(merged, run_id=run_id, run_ids=run_ids)

    def own_pseudo_labels(self, run_id: int, first: int, last: int) -> PseudoLabels:
        """The frames ``first..last`` a run stored itself (for a derived revision, only the
        frames it changed; nothing merged from the runs it was derived from)."""
        return self._own_pseudo_labels(run_id, (int(first), int(last)))

    def _own_pseudo_labels(self, run_id: int, span: tuple[int, int] | None = None
                           ) -> PseudoLabels:
        with self._project.session() as session:
            run = session.get(RunRow, run_id)
            if run is None:
                raise StoreError(f"{self._project.target}: no run with id {run_id}")
            table = PseudoLabelRow.__table__  # Core select: no ORM overhead on 100k rows
            query = select(table.c.frame, table.c.points, table.c.confidence).where(
                table.c.run_id == run_id)
            if span is not None:
                query = query.where(table.c.frame.between(*span))
            rows = session.connection().execute(query.order_by(table.c.frame)).all()
        where = f"pseudo-labels of run {run_id}"
        return PseudoLabels(
            run_id=run_id, video_id=run.video_id,
            frames=np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
            points=unpack_many([r[1] for r in rows], POINTS_DTYPE, (N_POINTS, 2), where),
            confidence=unpack_many([r[2] for r in rows], CONF_DTYPE, (N_POINTS,), where))

    # -- per-frame statistics ----------------------------------------------------------------
    def write_frame_stats(self, run_id: int, frames: np.ndarray,
                          values: Mapping[str, np.ndarray]) -> None:
        with self._project.session() as session, session.begin():
            self._insert_frame_stats(session, run_id, frames, values)

    def _insert_frame_stats(self, session: Session, run_id: int, frames: np.ndarray,
                            values: Mapping[str, np.ndarray]) -> None:
        frames = np.asarray(frames, dtype=np.int64)
        unknown = set(values) - set(STAT_FIELDS)
        if unknown:
            raise ValidationError(f"unknown frame statistics {sorted(unknown)}; "
                                  f"known: {STAT_FIELDS}")
        columns = {name: np.asarray(v, dtype=np.float64) for name, v in values.items()}
        for name, column in columns.items():
            if column.shape != frames.shape:
                raise ValidationError(f"run {run_id}: statistic {name!r} has shape "
                                      f"{column.shape}, frames {frames.shape}")
            column[~np.isfinite(column)] = 0.0
        run = session.get(RunRow, run_id)
        if run is None:
            raise StoreError(f"{self._project.target}: no run with id {run_id}")
        session.execute(delete(FrameStatsRow).where(FrameStatsRow.run_id == run_id))
        rows = [{"run_id": run_id, "video_id": run.video_id, "frame": int(f)} for f in frames]
        for name, column in columns.items():
            for row, value in zip(rows, column.tolist()):
                row[name] = value
        for start in range(0, len(rows), _CHUNK):
            session.execute(insert(FrameStatsRow), rows[start:start + _CHUNK])

    def frame_stats(self, run_id: int) -> FrameStats:
        """Per-frame statistics of a run (a derived revision's over its parent's)."""
        chain = self.lineage(run_id)
        merged = self._own_frame_stats(chain[-1])
        for derived in reversed(chain[:-1]):
            own = self._own_frame_stats(derived)
            index = np.searchsorted(merged.frames, own.frames)
            inside = (index < len(merged.frames)) & (merged.frames[np.minimum(
                index, max(len(merged.frames) - 1, 0))] == own.frames) \
                if len(merged.frames) else np.zeros(len(own.frames), bool)
            values = {name: column.copy() for name, column in merged.values.items()}
            for name in values:
                values[name][index[inside]] = own.values[name][inside]
            merged = FrameStats(run_id=run_id, frames=merged.frames, values=values)
        return FrameStats(run_id=run_id, frames=merged.frames, values=merged.values)

    def _own_frame_stats(self, run_id: int) -> FrameStats:
        table = FrameStatsRow.__table__
        columns = [table.c[name] for name in STAT_FIELDS]
        with self._project.session() as session:
            rows = session.connection().execute(select(table.c.frame, *columns).where(
                table.c.run_id == run_id).order_by(table.c.frame)).all()
        # flat floats, not np.array(rows): numpy walks Row objects one sequence at a time
        width = 1 + len(STAT_FIELDS)
        table = np.fromiter(chain.from_iterable(rows), dtype=np.float64,
                            count=len(rows) * width).reshape(len(rows), width)
        return FrameStats(run_id=run_id, frames=table[:, 0].astype(np.int64),
                          values={name: table[:, i + 1] for i, name in enumerate(STAT_FIELDS)})
