"""Deferred work done in one background thread per server process, found again after a crash.

Both kinds of deferred work, ingesting a queued upload and analysing a stored run, keep
their state in the database and claim an item there before working on it. This class holds
what they share: a one-thread executor, a set of what is already waiting in this process
(so a sweep does not queue the same item twice), and a sweeper thread that asks the database
now and then for items a dead worker of any instance left behind.
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

from flask import Flask, has_app_context

from .db import db

log = logging.getLogger(__name__)
K = TypeVar("K", bound=Hashable)


class BackgroundQueue(ABC, Generic[K]):
    """Work items keyed by ``K``; subclasses say how to do one and how to find waiting ones."""

    #: Names the threads (``testviz-<name>``) and the log lines.
    name = "work"
    #: Seconds between two looks for waiting items (:meth:`start_sweeper`).
    sweep_every = 60.0

    def __init__(self, app: Flask, *, in_background: bool = True) -> None:
        self.app = app
        self.in_background = in_background
        self._executor: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._futures: set[Future[None]] = set()
        self._queued: set[K] = set()
        self._sweeper: threading.Thread | None = None
        self._stop = threading.Event()

    # -- what a subclass provides -------------------------------------------------------------

    @abstractmethod
    def work(self, key: K) -> None:
        """Do one item, inside an app context; claiming it is the subclass's business."""

    @abstractmethod
    def pending(self) -> list[K]:
        """Items waiting in the database (inside an app context), oldest first."""

    # -- running it ---------------------------------------------------------------------------

    def submit(self, key: K) -> None:
        """Do ``key`` in the background thread, or right now when configured inline."""
        if not self.in_background:
            if has_app_context():
                self.work(key)
            else:  # resume_pending at start-up
                self._in_context(key)
            return
        with self._lock:
            if key in self._queued:
                return  # the sweeper found an item that is already waiting its turn
            if self._executor is None:
                self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"testviz-{self.name}")
            self._queued.add(key)
            future = self._executor.submit(self._in_context, key)
            self._futures.add(future)
            future.add_done_callback(self._futures.discard)
            future.add_done_callback(lambda _: self._queued.discard(key))

    def wait(self, timeout: float | None = None) -> None:
        """Block until every submitted item has been done (for tests and shutdown)."""
        with self._lock:
            pending = list(self._futures)
        for future in pending:
            future.result(timeout)

    def resume_pending(self) -> int:
        """Submit every item waiting in the database; returns how many."""
        with self.app.app_context():
            keys = self.pending()
            db.session.remove()
        for key in keys:
            self.submit(key)
        return len(keys)

    def start_sweeper(self, interval: float | None = None) -> None:
        """Look for waiting items every ``interval`` seconds (``sweep_every``): a worker that
        died mid-way leaves its claim behind, and the item becomes claimable once the claim
        is stale."""
        interval = self.sweep_every if interval is None else interval

        def sweep() -> None:
            while not self._stop.wait(interval):
                try:
                    self.resume_pending()
                except Exception:
                    log.exception("looking for pending %s failed; will look again", self.name)

        self._sweeper = threading.Thread(
            target=sweep, name=f"testviz-{self.name}-sweeper", daemon=True
        )
        self._sweeper.start()

    def shutdown(self) -> None:
        self._stop.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout=10)
            self._sweeper = None
        with self._lock:
            if self._executor is not None:
                self._executor.shutdown(wait=True, cancel_futures=True)
                self._executor = None

    def _in_context(self, key: K) -> None:
        with self.app.app_context():
            try:
                self.work(key)
            except Exception:
                log.exception("%s of %s failed", self.name, key)
                raise
            finally:
                db.session.remove()
