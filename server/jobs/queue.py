"""The ``jobs`` table: enqueue, claim, heartbeat, finish, retry.

One claim protocol for every kind of work. A worker claims the oldest due job in one short
write transaction: on PostgreSQL ``SELECT ... FOR UPDATE SKIP LOCKED`` (workers never wait
for each other's candidate), on SQLite under its single writer (``BEGIN IMMEDIATE``), then a
conditional ``UPDATE`` that sets ``running``, the worker's id and a lease. While it works,
the worker's heartbeat moves the lease on; a job whose lease has passed belonged to a worker
that died (or lost its database), and the next claim takes it over. Every write that ends
an attempt checks that the job is still this worker's (same ``claimed_by`` and ``attempts``),
so a worker that lost its lease never overwrites the one that took the job over.

A failed attempt goes back to ``queued`` with ``run_after`` pushed out exponentially
(:func:`backoff`); after ``max_attempts`` the job ends ``failed`` with the error kept. A job
claimed ``max_attempts`` times without ever ending (each attempt killed its worker) is
handed to the worker as ``exhausted``: its handler gives it up instead of running it again.

Times are the workers' clocks (UTC), as everywhere in this server: hosts sharing a database
should keep their clocks in step (NTP), well within a lease.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, and_, delete, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session, scoped_session

from ..storage.bulk import dialect_insert
from ..storage.engine import AnySession, begin_write
from ..storage.models import Job

#: How long a claim holds without a heartbeat.
DEFAULT_LEASE = timedelta(seconds=60)
DEFAULT_MAX_ATTEMPTS = 5
BACKOFF_BASE = timedelta(seconds=5)
BACKOFF_CAP = timedelta(minutes=10)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def worker_id(suffix: str = "") -> str:
    """``host:pid:random``: unique per worker thread, readable in the table."""
    tail = f":{suffix}" if suffix else ""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}{tail}"[:255]


def backoff(
    attempt: int, base: timedelta = BACKOFF_BASE, cap: timedelta = BACKOFF_CAP
) -> timedelta:
    """The wait before attempt ``attempt + 1``: base, 2 x base, 4 x base, ... up to ``cap``."""
    wait: timedelta = base * (2 ** max(attempt - 1, 0))
    return min(wait, cap)


@dataclass(frozen=True)
class ClaimedJob:
    """A job this worker holds: which attempt it is, and whether it must be given up."""

    id: int
    kind: str
    key: str
    payload: dict[str, Any] | None
    attempts: int
    max_attempts: int
    claimed_by: str
    #: Claimed ``max_attempts`` times already, never finished: give it up, do not run it.
    exhausted: bool = False


def enqueue(
    session: AnySession,
    kind: str,
    key: str = "",
    payload: dict[str, Any] | None = None,
    *,
    run_after: datetime | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    commit: bool = False,
) -> bool:
    """Add a job in the session's (write) transaction; False if one for (kind, key) is
    already queued or running. Commits only with ``commit``."""
    now = utcnow()
    begin_write_if_needed(session)
    values: dict[str, Any] = {
        "kind": kind,
        "key": key,
        "state": "queued",
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_after": run_after or now,
        "created_at": now,
        "updated_at": now,
    }
    if payload is not None:
        values["payload"] = payload
    inserted = session.execute(
        dialect_insert(session, Job.__table__)
        .values(**values)
        .on_conflict_do_nothing()
        .returning(Job.__table__.c.id)
    ).first()
    if commit:
        session.commit()
    return inserted is not None


def begin_write_if_needed(session: AnySession) -> None:
    """Join the caller's transaction if it writes already, else start a write transaction."""
    real: Session = session() if isinstance(session, scoped_session) else session
    if not real.in_transaction():
        begin_write(session)


def _claimable(now: datetime) -> Any:
    return or_(
        and_(Job.state == "queued", Job.run_after <= now),
        and_(Job.state == "running", Job.lease_until < now),
    )


def claim(
    session: AnySession,
    holder: str,
    *,
    lease: timedelta = DEFAULT_LEASE,
    kinds: Sequence[str] | None = None,
    now: datetime | None = None,
) -> ClaimedJob | None:
    """Take the oldest due job (or one whose lease has run out) for ``holder``; committed."""
    now = now or utcnow()
    condition = _claimable(now)
    if kinds is not None:
        condition = and_(condition, Job.kind.in_(list(kinds)))
    # A read first: an idle worker's poll must not take SQLite's write lock from an ingest.
    due = session.execute(select(Job.id).where(condition).limit(1)).first()
    session.rollback()
    if due is None:
        return None
    begin_write(session)
    row = session.execute(
        select(Job.id, Job.kind, Job.key, Job.payload, Job.attempts, Job.max_attempts)
        .where(condition)
        .order_by(Job.run_after, Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).one_or_none()
    if row is None:
        session.rollback()
        return None
    exhausted = row.attempts >= row.max_attempts
    attempts = row.attempts if exhausted else row.attempts + 1
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(Job)
        .where(Job.id == row.id, Job.attempts == row.attempts, _claimable(now))
        .values(
            state="running",
            claimed_by=holder,
            lease_until=now + lease,
            attempts=attempts,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if not result.rowcount:
        return None  # only without row locks (never under SQLite's single writer)
    return ClaimedJob(
        row.id, row.kind, row.key, row.payload, attempts, row.max_attempts, holder, exhausted
    )


def _held(job: ClaimedJob) -> Any:
    return and_(
        Job.id == job.id,
        Job.state == "running",
        Job.claimed_by == job.claimed_by,
        Job.attempts == job.attempts,
    )


def _end(session: AnySession, job: ClaimedJob, values: dict[str, Any]) -> bool:
    # A write transaction of its own: the handler may have left a read one open, which
    # SQLite cannot turn into a write once another writer has committed.
    begin_write(session)
    values = {"claimed_by": None, "lease_until": None, "updated_at": utcnow(), **values}
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(Job).where(_held(job)).values(**values).execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


def complete(session: AnySession, job: ClaimedJob) -> bool:
    """Mark the job done, if it is still this worker's (in a new write transaction, after
    committing what the session holds); the caller commits."""
    return _end(session, job, {"state": "done", "finished_at": utcnow(), "last_error": None})


def fail(session: AnySession, job: ClaimedJob, error: str) -> bool:
    """Mark the job failed for good, keeping ``error``; the caller commits."""
    return _end(session, job, {"state": "failed", "finished_at": utcnow(), "last_error": error})


def retry(session: AnySession, job: ClaimedJob, error: str, delay: timedelta) -> bool:
    """Queue the job again in ``delay``, keeping ``error``; the caller commits."""
    return _end(
        session, job, {"state": "queued", "run_after": utcnow() + delay, "last_error": error}
    )


def again(session: AnySession, job: ClaimedJob, delay: timedelta) -> bool:
    """Queue the job again in ``delay`` without counting this attempt (it did not fail: it
    found work not ready yet, e.g. a report still being written)."""
    return _end(
        session,
        job,
        {"state": "queued", "run_after": utcnow() + delay, "attempts": job.attempts - 1},
    )


def heartbeat(engine: Engine, jobs: Iterable[ClaimedJob], lease: timedelta) -> list[ClaimedJob]:
    """Move the leases of ``jobs`` on; returns the jobs that are no longer this worker's."""
    lost: list[ClaimedJob] = []
    held = list(jobs)
    if not held:
        return lost
    with engine.connect() as connection:
        connection = connection.execution_options(testviz_write=True)
        with connection.begin():
            now = utcnow()
            for job in held:
                result = connection.execute(
                    update(Job).where(_held(job)).values(lease_until=now + lease, updated_at=now)
                )
                if not result.rowcount:
                    lost.append(job)
    return lost


def cancel(session: AnySession, kind: str, key: str) -> int:
    """Delete a queued (not running) job of (kind, key); the caller commits."""
    begin_write_if_needed(session)
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        delete(Job)
        .where(Job.kind == kind, Job.key == key, Job.state == "queued")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def forget_finished(session: AnySession, done_before: datetime, failed_before: datetime) -> int:
    """Delete finished jobs: done ones before ``done_before``, failed before ``failed_before``."""
    begin_write_if_needed(session)
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        delete(Job)
        .where(
            or_(
                and_(Job.state == "done", Job.finished_at < done_before),
                and_(Job.state == "failed", Job.finished_at < failed_before),
            )
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def pending_count(session: AnySession, now: datetime | None = None) -> tuple[int, int]:
    """(due queued jobs, running jobs): what a drain still waits for."""
    now = now or utcnow()
    due = session.execute(
        select(Job.id).where(Job.state == "queued", Job.run_after <= now).limit(1)
    ).first()
    running = session.execute(select(Job.id).where(Job.state == "running").limit(1)).first()
    session.rollback()
    return int(due is not None), int(running is not None)
