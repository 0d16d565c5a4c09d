"""The worker: claims jobs, runs their handlers, keeps its leases alive, schedules.

``flask --app server worker`` runs one :class:`Worker` per process (``--concurrency`` threads
in it). Any number of worker processes, on any host that shares the database, may run at
once: the claim (:mod:`.queue`) gives each job to one of them. Scheduled kinds (the directory
sync of ``TEST_RESULTS_DIR``, retention) are jobs too: each worker makes sure one is queued,
and the worker that finishes one queues the next, in the same transaction.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask

from ..ingest.sync import DirectoryWatcher
from ..storage.db import db
from . import queue
from .handlers import HANDLERS
from .queue import ClaimedJob

log = logging.getLogger(__name__)

#: Set when a job was queued in this process: idle worker threads here look at once.
_wake = threading.Event()


def notify() -> None:
    """A job was just committed: wake this process's idle workers (others poll)."""
    _wake.set()


@dataclass(frozen=True)
class Schedule:
    kind: str
    key: str
    every: timedelta
    max_attempts: int = 3


#: How often retention runs (it prunes nothing unless TESTVIZ_RETENTION is set, but always
#: forgets old finished jobs).
RETENTION_EVERY = timedelta(hours=1)
#: How often the directory is synced without a file event (a safety net for the watcher).
SYNC_EVERY = timedelta(seconds=60)


def schedules(app: Flask) -> list[Schedule]:
    settings = app.extensions["testviz"].settings
    found = [Schedule("retention", "", RETENTION_EVERY)]
    if settings.results_dir:
        found.append(Schedule("sync", str(Path(settings.results_dir)), SYNC_EVERY))
    return found


class Worker:
    """Runs jobs for ``app``: :meth:`run_once` / :meth:`run_burst` in the calling thread, or
    :meth:`start` (threads) and :meth:`stop`, or :meth:`run` until stopped."""

    def __init__(
        self,
        app: Flask,
        *,
        concurrency: int = 1,
        lease: timedelta | None = None,
        poll: float = 1.0,
        schedule: bool = True,
        watch: bool | None = None,
    ) -> None:
        settings = app.extensions["testviz"].settings
        self.app = app
        self.concurrency = max(1, concurrency)
        self.lease = lease or timedelta(seconds=settings.job_lease)
        self.poll = poll
        self.schedule = schedule
        self.watch = settings.watch if watch is None else watch
        self.kinds = self._kinds(settings)
        every = [each for each in schedules(app) if each.kind in self.kinds]
        self.schedules = every if schedule else []
        self._scheduled = {(each.kind, each.key): each for each in every}
        self.holder = queue.worker_id()
        self._held: dict[int, ClaimedJob] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._watcher: Any = None
        self.done = 0

    def _kinds(self, settings: Any) -> list[str]:
        """Every kind with a handler; ``sync`` only where the directory is (this host: it is
        created if it can be)."""
        kinds = sorted(HANDLERS)
        if settings.results_dir:
            try:
                Path(settings.results_dir).mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                log.warning(
                    "TEST_RESULTS_DIR %s: %s; not syncing it here", settings.results_dir, exc
                )
        if not settings.results_dir or not Path(settings.results_dir).is_dir():
            kinds.remove("sync")
        return kinds

    # -- one job ------------------------------------------------------------------------------

    def run_once(self, holder: str | None = None) -> bool:
        """Claim one due job and run it in this thread; False if none was due (or the
        database could not be asked)."""
        with self.app.app_context():
            session = db.session
            try:
                job = queue.claim(
                    session, holder or self.holder, lease=self.lease, kinds=self.kinds
                )
            except Exception:
                log.exception("could not claim a job; will try again")
                session.rollback()
                db.session.remove()
                return False
            if job is None:
                db.session.remove()
                return False
            with self._lock:
                self._held[job.id] = job
            try:
                self._execute(job)
            except Exception:
                # Ending the job failed (the database went away): its lease runs out and
                # another attempt (this worker's or another's) takes it over.
                log.exception("job %d (%s %s): could not record its end", job.id, job.kind, job.key)
                session.rollback()
            finally:
                with self._lock:
                    self._held.pop(job.id, None)
                db.session.remove()
            self.done += 1
            return True

    def _execute(self, job: ClaimedJob) -> None:
        session = db.session
        handler = HANDLERS.get(job.kind)
        label = f"job {job.id} ({job.kind} {job.key!r}, attempt {job.attempts})"
        if handler is None:
            queue.fail(session, job, f"no handler for kind {job.kind!r} in this worker")
            session.commit()
            return
        if job.exhausted:
            why = "none of them finished: the worker died"
            log.error("%s: giving up, %s", label, why)
            self._give_up(handler, job, why, f"gave up after {job.attempts} attempts ({why})")
            return
        started = time.monotonic()
        try:
            again = handler.run(self.app, job)
        except Exception as exc:
            session.rollback()
            error = "".join(traceback.format_exception(exc, limit=-8))[-8000:]
            if job.attempts >= job.max_attempts:
                log.exception("%s failed; giving up", label)
                why = f"the last failed with {type(exc).__name__}"
                self._give_up(handler, job, why, error)
                return
            delay = queue.backoff(job.attempts)
            log.exception("%s failed; retrying in %s", label, delay)
            queue.retry(session, job, error, delay)
            session.commit()
            return
        if again is not None:
            queue.again(session, job, again)
            session.commit()
            return
        if not queue.complete(session, job):
            log.warning("%s: another worker took it over meanwhile", label)
        self._next(session, job)
        session.commit()
        log.debug("%s done in %.2fs", label, time.monotonic() - started)

    def _give_up(self, handler: Any, job: ClaimedJob, why: str, error: str) -> None:
        session = db.session
        if handler.give_up is not None:
            handler.give_up(self.app, job, why)  # raises: the lease runs out, tried again
        queue.fail(session, job, error)
        self._next(session, job)
        session.commit()

    def _next(self, session: Any, job: ClaimedJob) -> None:
        """A scheduled job ended: queue its next run (in the same transaction)."""
        schedule = self._scheduled.get((job.kind, job.key))
        if schedule is not None:
            queue.enqueue(
                session,
                schedule.kind,
                schedule.key,
                run_after=queue.utcnow() + schedule.every,
                max_attempts=schedule.max_attempts,
            )

    def run_burst(self, timeout: float | None = None) -> int:
        """Run jobs until none is due; returns how many ran."""
        deadline = None if timeout is None else time.monotonic() + timeout
        count = 0
        while self.run_once():
            count += 1
            if deadline is not None and time.monotonic() > deadline:
                break
        return count

    # -- running for a while ------------------------------------------------------------------

    def ensure_scheduled(self) -> None:
        """Queue each scheduled kind that has no job queued or running (first start)."""
        if not self.schedules:
            return
        with self.app.app_context():
            try:
                for schedule in self.schedules:
                    queue.enqueue(
                        db.session,
                        schedule.kind,
                        schedule.key,
                        max_attempts=schedule.max_attempts,
                        commit=True,
                    )
            except Exception:
                log.exception("could not queue the scheduled jobs; will try again")
                db.session.rollback()
            finally:
                db.session.remove()

    def start(self) -> None:
        """Run in background threads (``concurrency`` of them, a heartbeat, a scheduler and,
        with ``TEST_RESULTS_DIR``, a watcher)."""
        self._stop.clear()
        self.ensure_scheduled()
        for index in range(self.concurrency):
            holder = self.holder if index == 0 else f"{self.holder}-{index}"
            self._spawn(self._loop, f"testviz-worker-{index}", holder)
        self._spawn(self._heartbeat, "testviz-heartbeat")
        if self.schedules:
            self._spawn(self._scheduler, "testviz-scheduler")
        settings = self.app.extensions["testviz"].settings
        if self.watch and "sync" in self.kinds:
            self._watcher = DirectoryWatcher(self.app, str(Path(settings.results_dir)))
            self._watcher.start()
        log.info(
            "worker started: %s, %d threads, kinds %s, lease %ss",
            self.holder,
            self.concurrency,
            ",".join(self.kinds),
            int(self.lease.total_seconds()),
        )

    def _spawn(self, target: Any, name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def request_stop(self) -> None:
        """Stop claiming (safe from a signal handler); :meth:`run` then returns."""
        self._stop.set()
        _wake.set()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop claiming; let the jobs in hand finish (up to ``timeout``)."""
        self._stop.set()
        _wake.set()
        if self._watcher is not None:
            self._watcher.stop()
            self._watcher = None
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []

    def run(self, burst: bool = False) -> None:
        """Run until :meth:`stop` (from a signal handler), or with ``burst`` until no job
        is due."""
        if burst:
            log.info("worker started: %s, burst, %d threads", self.holder, self.concurrency)
            self.ensure_scheduled()
            self._spawn(self._heartbeat, "testviz-heartbeat")
            threads = [
                threading.Thread(target=self.run_burst, name=f"testviz-worker-{index}")
                for index in range(self.concurrency)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            self.stop()
            return
        self.start()
        while not self._stop.wait(1.0):
            pass
        self.stop()

    def _loop(self, holder: str) -> None:
        while not self._stop.is_set():
            if self.run_once(holder):
                continue
            _wake.wait(self.poll * random.uniform(0.8, 1.2))
            if not self._stop.is_set():
                _wake.clear()

    def _heartbeat(self) -> None:
        every = self.lease.total_seconds() / 3
        with self.app.app_context():
            engine = db.engine
        while not self._stop.wait(every):
            with self._lock:
                held = list(self._held.values())
            try:
                for job in queue.heartbeat(engine, held, self.lease):
                    log.warning("job %d (%s): its lease was taken over", job.id, job.kind)
            except Exception:
                log.exception("heartbeat failed; will try again")

    def _scheduler(self) -> None:
        while not self._stop.wait(60):
            self.ensure_scheduled()
