"""``TEST_RESULTS_DIR``: ingest every report dropped into a directory, exactly once.

:func:`sync_test_results` scans the directory. A worker runs it as a ``sync`` job
(:mod:`server.jobs`): on a schedule, and whenever :class:`DirectoryWatcher` (watchdog, in each
worker process on a host that has the directory) sees files appear or change; the job comes
back a few seconds later while some file is still being written. A file
that is still growing, or was modified a moment ago, is retried later rather than read half
written. A malformed file is moved to ``rejected/`` with ``<name>.error.txt`` beside it.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select, update

from pytest_testviz.core import TestvizInputError, parse_junit_xml, sidecar_path

from ..jobs.queue import enqueue, utcnow
from ..storage.engine import AnySession, begin_write
from ..storage.models import Job, SyncedFile
from .store import ingest_run

log = logging.getLogger(__name__)
REJECTED = "rejected"
#: A file modified more recently than this may still be being written.
SETTLE_SECONDS = 2.0


@dataclass
class SyncOutcome:
    ingested: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    unchanged: int = 0
    deferred: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{len(self.ingested)} ingested, {len(self.skipped)} already stored, "
            f"{self.unchanged} unchanged, {len(self.deferred)} still being written, "
            f"{len(self.rejected)} rejected"
            + (f", {len(self.failed)} failed (see the log)" if self.failed else "")
        )


def report_files(directory: Path) -> list[Path]:
    """The ``*.xml`` reports in ``directory`` (not in ``rejected/``), oldest first."""
    files = [p for p in directory.glob("*.xml") if p.is_file()]
    files.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
    return files


def sync_test_results(
    directory: str | os.PathLike[str],
    session: AnySession,
    *,
    on_created: Callable[[str], None] | None = None,
    settle: float = SETTLE_SECONDS,
    progress: Callable[[Path], None] | None = None,
) -> SyncOutcome:
    """Ingest every report in ``directory`` not yet ingested; safe to call again at any time."""
    root = Path(directory)
    outcome = SyncOutcome()
    if not root.is_dir():
        raise FileNotFoundError(f"TEST_RESULTS_DIR {root} is not a directory")
    for path in report_files(root):
        if progress is not None:
            progress(path)
        _sync_one(path, root, session, outcome, on_created, settle)
    if outcome.ingested or outcome.rejected or outcome.deferred:
        log.info("sync of %s: %s", root, outcome.summary())
    return outcome


def _stat_key(path: Path) -> tuple[int, int]:
    stat = path.stat()
    meta = sidecar_path(path)
    meta_mtime = meta.stat().st_mtime_ns if meta.is_file() else 0
    return stat.st_size, max(stat.st_mtime_ns, meta_mtime)


def _sync_one(
    path: Path,
    root: Path,
    session: AnySession,
    outcome: SyncOutcome,
    on_created: Callable[[str], None] | None,
    settle: float,
) -> None:
    key = str(path.resolve())
    try:
        size, mtime_ns = _stat_key(path)
    except FileNotFoundError:
        return  # moved away meanwhile
    seen = session.execute(
        select(SyncedFile.size, SyncedFile.mtime_ns).where(SyncedFile.path == key)
    ).one_or_none()
    session.rollback()  # end the read: ingest starts its own write transaction
    if seen is not None and tuple(seen) == (size, mtime_ns):
        outcome.unchanged += 1
        return
    if time.time() - mtime_ns / 1e9 < settle:
        outcome.deferred.append(path.name)
        return
    try:
        report = parse_junit_xml(path)
        if _stat_key(path) != (size, mtime_ns):
            outcome.deferred.append(path.name)  # written to while we read it
            return
    except TestvizInputError as exc:
        _reject(path, root, exc)
        outcome.rejected.append(path.name)
        _remember(session, key, size, mtime_ns, None, "rejected")
        return
    try:
        response = ingest_run(report, session)
    except Exception:
        # A database failure on one file must not stop the others: note it, and try the
        # file again once it changes (or after a restart).
        log.exception("could not ingest %s; it stays in place", path.name)
        session.rollback()
        outcome.failed.append(path.name)
        _remember(session, key, size, mtime_ns, None, "failed")
        return
    (outcome.ingested if response.status == "created" else outcome.skipped).append(path.name)
    _remember(session, key, size, mtime_ns, response.run_id, response.status)
    if response.status == "created" and on_created is not None:
        on_created(response.run_id)


def _remember(
    session: AnySession, key: str, size: int, mtime_ns: int, run_id: str | None, outcome: str
) -> None:
    begin_write(session)
    row = session.execute(select(SyncedFile).where(SyncedFile.path == key)).scalar_one_or_none()
    if row is None:
        row = SyncedFile(path=key)
        session.add(row)
    row.size, row.mtime_ns, row.run_id, row.outcome = size, mtime_ns, run_id, outcome
    row.synced_at = datetime.now(timezone.utc)
    session.commit()


def _reject(path: Path, root: Path, error: TestvizInputError) -> None:
    """Move a bad report (and its sidecar) aside, with the reason in a file beside it."""
    rejected = root / REJECTED
    rejected.mkdir(exist_ok=True)
    log.warning("rejected %s: %s", path.name, error)
    for item in (path, sidecar_path(path)):
        if item.exists():
            shutil.move(str(item), rejected / item.name)
    (rejected / f"{path.name}.error.txt").write_text(f"{error}\n", encoding="utf-8")


def request_sync(session: AnySession, directory: str) -> bool:
    """Queue a ``sync`` job for ``directory`` due now (or make the queued one due now); True
    once one is queued (not merely running: a scan under way may have listed the directory
    before the change)."""
    begin_write(session)
    queued = enqueue(session, "sync", directory, max_attempts=SYNC_ATTEMPTS)
    if not queued:
        now = utcnow()
        waiting = (Job.kind == "sync", Job.key == directory, Job.state == "queued")
        session.execute(
            update(Job)
            .where(*waiting, Job.run_after > now)
            .values(run_after=now)
            .execution_options(synchronize_session=False)
        )
        queued = session.execute(select(Job.id).where(*waiting)).first() is not None
    session.commit()
    return queued


#: Attempts of one ``sync`` job (the next scheduled one comes anyway).
SYNC_ATTEMPTS = 3


class DirectoryWatcher:
    """Queues a ``sync`` job whenever report files change in a directory (watchdog).

    Any number of workers may watch the same directory: the jobs table keeps one sync of it
    queued at a time, so no election among them is needed.
    """

    def __init__(self, app: Flask, directory: str, retry_seconds: float = 1.0) -> None:
        self.app = app
        self.directory = Path(directory)
        self.key = str(self.directory)
        self.retry_seconds = retry_seconds
        self._dirty = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._observer: Any = None
        self.requests = 0

    def start(self) -> None:
        self._observe()
        self._thread = threading.Thread(target=self._run, name="testviz-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._dirty.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._dirty.wait(self.retry_seconds):
                continue
            # Let a burst of file events settle into one job.
            if self._stop.wait(0.2):
                return
            self._dirty.clear()
            if not self._request():
                self._dirty.set()  # a sync is running: queue the next once it ends

    def _request(self) -> bool:
        from ..storage.db import db

        with self.app.app_context():
            try:
                queued = request_sync(db.session, self.key)
            except Exception:
                log.exception("could not queue a sync of %s; will retry", self.directory)
                db.session.rollback()
                return False
            finally:
                db.session.remove()
        if queued:
            self.requests += 1
        return queued

    def _observe(self) -> None:
        from watchdog.events import FileSystemEvent, FileSystemEventHandler
        from watchdog.observers import Observer

        dirty = self._dirty

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                path = str(event.src_path)
                dest = str(getattr(event, "dest_path", "") or "")
                if path.endswith((".xml", ".json")) or dest.endswith((".xml", ".json")):
                    dirty.set()

        self._observer = Observer()
        self._observer.schedule(Handler(), str(self.directory), recursive=False)
        self._observer.start()
