"""Where an export may write, and how it writes there without ever losing anything.

Every export (300VW today, other formats later) goes through this module:

- ``safe_folder_name`` turns a video name into a folder name that stays inside the export folder
  on every system (no ``..``, separators, leading dots or reserved device names) and is unique.
- ``check_target`` refuses a target that is a file, that holds (or is) the project, its media or
  checkpoint folders or a source video, and, with ``force``, one that FaceProp did not write
  (no manifest) and is not empty: ``--force`` replaces only an earlier export.
- ``staged_export`` writes into a staging folder beside the target, adds the manifest and moves
  it into place; the staging folder is registered in the project first, so when the process is
  killed the next export (or ``info``) removes it (``clean_stale_staging``) and puts back a
  previous export that was set aside.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from core.errors import FormatError, StoreError
from core.store.liveness import process_gone, this_host

#: The file that marks a folder as written by a FaceProp export.
MANIFEST = ".faceprop-export.json"
_STAGING_KEY = "export-staging-"
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
             *(f"lpt{i}" for i in range(1, 10))}
_MAX_NAME = 80


def safe_folder_name(name: str, used: set[str]) -> str:
    """A readable folder name for ``name`` that cannot leave its parent folder, unique among
    ``used`` (compared case-insensitively, as on macOS and Windows); adds it to ``used``."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._ ")[:_MAX_NAME].rstrip("._ ")
    if not safe or safe.split(".")[0].lower() in _RESERVED:
        safe = f"video_{safe}" if safe else "video"
    candidate, n = safe, 1
    while candidate.lower() in used:
        n += 1
        candidate = f"{safe}-{n}"
    used.add(candidate.lower())
    return candidate


def export_videos(project, video_ids: Sequence[int] | None, run_id: int | None) -> list:
    """The videos an export covers: the run's video, the ones named, or all; StoreError when
    a named video does not exist or there is nothing to export. Returns VideoRecords."""
    videos = project.videos.all()
    if run_id is not None:
        run = project.runs.get(run_id)
        videos = [v for v in videos if v.id == run.video_id]
    elif video_ids is not None:
        wanted = set(video_ids)
        missing = wanted - {v.id for v in videos}
        if missing:
            raise StoreError(f"{project.target}: no video with id {min(missing)}")
        videos = [v for v in videos if v.id in wanted]
    if not videos:
        raise StoreError(f"{project.target}: the project has no videos to export")
    return videos


def protected_paths(project) -> list[Path]:  # project: core.store.Project
    """What no export may replace or delete: the project, its folders and its source videos."""
    paths: list[Path] = []
    if project.path is not None:
        paths += [project.path, project.media_folder,
                  project.path.with_name(project.path.name + ".checkpoints")]
    for video in project.videos.all():
        paths.append(project.videos.resolve_path(video))
        if video.source_path:
            paths.append(Path(video.source_path))
    return [p.resolve() for p in paths]


def check_target(project, target: Path, force: bool) -> None:
    """Refuse, with the reason, an export target that could cost the user data."""
    resolved = target.resolve()
    for path in protected_paths(project):
        if path == resolved or resolved in path.parents:
            raise FormatError(f"{target}: holds {path}, which belongs to the project; an export "
                              "never writes there. Choose a new folder.")
    if target.exists() and not target.is_dir():
        raise FormatError(f"{target}: is a file, not a folder; choose a new folder")
    if not target.parent.is_dir():
        raise FormatError(f"{target.parent}: no such folder")
    if not target.exists() or not any(target.iterdir()):
        return
    if not force:
        raise FormatError(f"{target}: exists and is not empty; choose another folder or use "
                          "--force to replace an earlier export")
    if not (target / MANIFEST).is_file():
        example = next(iter(sorted(p.name for p in target.iterdir())))
        raise FormatError(f"{target}: --force replaces only an earlier FaceProp export (a folder "
                          f"holding {MANIFEST}) or an empty folder; this one holds other files "
                          f"(e.g. {example}). Choose another folder.")


@contextmanager
def staged_export(project, target: Path, manifest: dict) -> Iterator[Path]:
    """Yield a staging folder to write the export into; on success it replaces ``target``
    (an earlier export is kept until the move succeeded), on failure it is removed."""
    clean_stale_staging(project)
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    staging = target.with_name(f".{target.name}.tmp-{token}")
    backup = target.with_name(f".{target.name}.old-{token}")
    key = _STAGING_KEY + token
    project.set_meta(key, json.dumps({"staging": str(staging.resolve()), "target":
                                      str(target.resolve()), "backup": str(backup.resolve()),
                                      "pid": os.getpid(), "host": this_host(),
                                      "started": datetime.now(timezone.utc).isoformat()}))
    try:
        try:
            staging.mkdir()
        except OSError as exc:
            raise FormatError(f"{target.parent}: cannot write the export there "
                              f"({exc.strerror or exc}); choose a folder you can write to"
                              ) from None
        yield staging
        (staging / MANIFEST).write_text(json.dumps(
            {"format": "faceprop-export", "version": 1, "project": project.target,
             "written_at": datetime.now(timezone.utc).isoformat(), **manifest}, indent=2))
        _replace_folder(staging, target, backup)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        where = exc.filename or staging
        raise FormatError(f"{where}: export to {target} failed ({exc.strerror or exc}); "
                          "nothing was changed there") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        project.delete_meta(key)


def _replace_folder(staging: Path, target: Path, backup: Path) -> None:
    """Move ``staging`` to ``target``; an existing target is kept until the move succeeded."""
    had_target = target.exists()
    if had_target:
        target.rename(backup)
    try:
        staging.rename(target)
    except BaseException:
        if had_target:
            backup.rename(target)
        raise
    if had_target:
        shutil.rmtree(backup, ignore_errors=True)


def clean_stale_staging(project) -> list[Path]:
    """Remove the staging folders of exports whose process is gone; an earlier export that was
    set aside when the process died is put back. Returns the folders removed."""
    removed = []
    for key, value in project.meta_items(_STAGING_KEY):
        try:
            entry = json.loads(value)
            staging, target, backup = (Path(entry[k]) for k in ("staging", "target", "backup"))
            pid, host = int(entry["pid"]), entry.get("host")
            started = datetime.fromisoformat(entry["started"]) if "started" in entry else None
        except (ValueError, KeyError, TypeError):
            project.delete_meta(key)
            continue
        if not process_gone(pid, host, started):
            continue
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
            removed.append(staging)
        if backup.exists():
            if target.exists():
                shutil.rmtree(backup, ignore_errors=True)
                removed.append(backup)
            else:
                backup.rename(target)
        project.delete_meta(key)
    return removed
