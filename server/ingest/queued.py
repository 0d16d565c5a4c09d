"""Uploads answered ``202 Accepted`` and ingested by a worker (``Prefer: respond-async``).

A pushing test run should not wait while the server parses and stores ten thousand tests.
When a client asks for it (RFC 7240), a JUnit upload is checked as far as is cheap (token,
encoding, size, the sidecar and the project it names), committed gzip'd to
``queued_uploads`` together with its ``ingest`` job (:mod:`server.jobs`), and answered 202
with where to follow it. A worker process then parses and ingests it as a synchronous upload
would be.

Nothing accepted is dropped. A worker that dies mid-ingest leaves its job claimed with a
lease that runs out: another worker takes it over; the ingest is idempotent by run_id, so an
upload ingested twice still stores one run. A malformed report ends ``failed`` with the
error a synchronous upload would have been given. An upload whose ingest keeps failing for
other reasons (the database, a bug, a worker killed each time) ends ``failed`` after
``MAX_ATTEMPTS``. A failed upload keeps its bytes, and ``flask requeue-uploads`` queues it
again.

A report it cannot read is an :class:`~server.errors.IngestRejected`, which the upload's
record keeps as the status, code and message a synchronous upload would have been answered.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult

from ..config import Settings
from ..errors import IngestRejected, NotFound
from ..jobs.queue import enqueue
from ..storage.engine import AnySession, begin_write
from ..storage.models import QueuedUpload, run_id_can_exist
from ..web.schemas import UploadStatus
from .reports import parse_upload, unzip
from .store import ingest_run

log = logging.getLogger(__name__)
S = TypeVar("S", bound=UploadStatus)

#: Attempts of an upload's ``ingest`` job before it is given up as ``failed``.
MAX_ATTEMPTS = 5


def queue_upload(
    session: AnySession,
    report: bytes,
    meta: bytes | None,
    project: str | None,
    run_id: str | None,
    build_id: str | None = None,
) -> QueuedUpload:
    """Store an upload (both parts gzip'd) and its ``ingest`` job; committed on return."""
    begin_write(session)
    upload = QueuedUpload(
        state="queued",
        received_at=datetime.now(timezone.utc),
        project=project,
        run_id=run_id,
        build_id=build_id,
        report=report,
        meta=meta,
        attempts=0,
    )
    session.add(upload)
    session.flush()
    enqueue(session, "ingest", str(upload.id), max_attempts=MAX_ATTEMPTS)
    session.commit()
    return upload


def upload_status(upload: QueuedUpload, model: type[S] = UploadStatus) -> S:  # type: ignore[assignment]
    """An upload's state, as ``GET /api/tests/uploads/<id>`` shows it (or the 202 answer)."""
    return model(
        upload_id=upload.id,
        state=upload.state,
        received_at=upload.received_at,
        finished_at=upload.finished_at,
        run_id=upload.run_id,
        attempts=upload.attempts,
        url=f"/api/tests/uploads/{upload.id}",
        run_url=f"/api/tests/runs/{upload.run_id}" if upload.run_id else None,
        result=upload.result,
        error=upload.error,
    )


def find_upload(
    session: AnySession, upload_id: str, projects: frozenset[str] | None
) -> QueuedUpload:
    """The upload ``upload_id`` (as written in its URL), if it is of one of ``projects``
    (``None``: any project)."""
    upload = None
    if (
        upload_id.isascii()
        and upload_id.isdigit()
        and len(upload_id) <= 19
        and int(upload_id) < 2**63
    ):
        upload = session.get(QueuedUpload, int(upload_id))
    if upload is None or (projects is not None and upload.project not in projects):
        raise NotFound(f"no upload {upload_id[:40]!r}")
    return upload


def waiting_upload(session: AnySession, run_id: str) -> QueuedUpload | None:
    """The newest queued or failed upload of ``run_id``: the summary line of a pushing test
    run links the run's page before the run is stored."""
    if not run_id_can_exist(run_id):
        return None
    return session.scalars(
        select(QueuedUpload)
        .where(QueuedUpload.run_id == run_id, QueuedUpload.state.in_(("queued", "failed")))
        .order_by(QueuedUpload.id.desc())
        .limit(1)
    ).first()


def requeue_failed(session: AnySession, upload_ids: list[int] | None = None) -> int:
    """Queue failed uploads again (all, or those named), with a fresh count of attempts."""
    begin_write(session)
    query = select(QueuedUpload.id).where(
        QueuedUpload.state == "failed", QueuedUpload.report.is_not(None)
    )
    if upload_ids is not None:
        query = query.where(QueuedUpload.id.in_(upload_ids))
    ids = list(session.execute(query).scalars())
    if ids:
        session.execute(
            update(QueuedUpload)
            .where(QueuedUpload.id.in_(ids))
            .values(state="queued", attempts=0, error=None, finished_at=None)
            .execution_options(synchronize_session=False)
        )
        for upload_id in ids:
            enqueue(session, "ingest", str(upload_id), max_attempts=MAX_ATTEMPTS)
    session.commit()
    return len(ids)


# -- ingesting it in a worker -----------------------------------------------------------------


def ingest_upload(session: AnySession, upload_id: int, settings: Settings, attempt: int) -> str:
    """Ingest one queued upload (its job's attempt ``attempt``); returns its state after.

    A report that cannot be read ends the upload ``failed`` (the job did its work); any
    other exception is raised for the job to retry, after noting the attempt.
    """
    stored = session.execute(
        select(
            QueuedUpload.state,
            QueuedUpload.report,
            QueuedUpload.meta,
            QueuedUpload.project,
            QueuedUpload.build_id,
        ).where(QueuedUpload.id == upload_id)
    ).one_or_none()
    session.rollback()  # no read transaction held open while the report is parsed
    if stored is None:
        return "missing"  # pruned meanwhile
    if stored.state != "queued":
        return str(stored.state)  # done by an attempt whose worker lost its lease
    limit = settings.max_upload_bytes
    try:
        report = parse_upload(
            unzip(stored.report or b"", limit, "report"),
            unzip(stored.meta, limit, "sidecar") if stored.meta is not None else None,
            stored.project,
            stored.build_id,
        )
        response = ingest_run(report, session)
    except IngestRejected as exc:
        session.rollback()
        log.warning("queued upload %d could not be ingested: %s", upload_id, exc.message)
        return _finish(session, upload_id, "failed", attempts=attempt, error=exc.record())
    except Exception:
        session.rollback()
        _note_attempt(session, upload_id, attempt)
        raise
    response.url = f"/api/tests/runs/{response.run_id}"
    return _finish(
        session,
        upload_id,
        "done",
        attempts=attempt,
        run_id=response.run_id,
        result=response.model_dump(mode="json"),
        report=None,  # the run holds it all now
        meta=None,
    )


def give_up(session: AnySession, upload_id: int, attempts: int, why: str) -> str:
    """End an upload whose job has used up its attempts: ``failed``, its bytes kept."""
    return _finish(session, upload_id, "failed", attempts=attempts, error=_gave_up(attempts, why))


def _finish(session: AnySession, upload_id: int, state: str, **values: Any) -> str:
    """Record the outcome, if the upload is still queued (a first finisher wins)."""
    begin_write(session)
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(QueuedUpload)
        .where(QueuedUpload.id == upload_id, QueuedUpload.state == "queued")
        .values(state=state, finished_at=datetime.now(timezone.utc), **values)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    if not result.rowcount:
        found = session.execute(
            select(QueuedUpload.state).where(QueuedUpload.id == upload_id)
        ).scalar()
        session.rollback()
        return found or "missing"
    return state


def _note_attempt(session: AnySession, upload_id: int, attempt: int) -> None:
    try:
        begin_write(session)
        session.execute(
            update(QueuedUpload)
            .where(QueuedUpload.id == upload_id, QueuedUpload.state == "queued")
            .values(attempts=attempt)
            .execution_options(synchronize_session=False)
        )
        session.commit()
    except Exception:  # the database that failed the ingest may fail this too
        session.rollback()
        log.warning("queued upload %d: could not record attempt %d", upload_id, attempt)


def _gave_up(attempts: int, why: str) -> dict[str, Any]:
    return {
        "status": 500,
        "code": "ingest_failed",
        "message": f"gave up after {attempts} attempts to ingest the upload ({why}); "
        "its bytes are kept: queue it again with flask requeue-uploads",
    }
