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

The background path raises no HTTP errors: a report it cannot read is an
:class:`UploadInputError`, which the upload's record keeps as the status, code and message a
synchronous upload would have been answered.
"""

from __future__ import annotations

import logging
import zlib
from datetime import datetime, timezone
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult

from pytest_testviz.core import (
    JUnitParseError,
    Report,
    SidecarError,
    parse_junit_xml,
)
from pytest_testviz.core.sidecar import SidecarRun, check_sidecar

from .config import Settings
from .database import AnySession, begin_write
from .errors import APIError
from .ingest import ingest_run
from .jobs.queue import enqueue
from .models import QueuedUpload
from .schemas import UploadStatus

log = logging.getLogger(__name__)
S = TypeVar("S", bound=UploadStatus)

#: Attempts of an upload's ``ingest`` job before it is given up as ``failed``.
MAX_ATTEMPTS = 5
_GZIP_MAGIC = b"\x1f\x8b"


class UploadInputError(Exception):
    """A queued upload that cannot be read: what a synchronous upload would have been told."""

    def __init__(
        self, status: int, code: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}

    def to_api(self) -> APIError:
        return APIError(self.status, self.code, self.message, self.details)

    def record(self) -> dict[str, Any]:
        return {"status": self.status, "code": self.code, "message": self.message}


# -- checking and storing an upload -----------------------------------------------------------


def input_failure(exc: JUnitParseError | SidecarError) -> UploadInputError:
    """What a report or sidecar that cannot be read is answered (400 or 422)."""
    if isinstance(exc, JUnitParseError):
        return UploadInputError(400, "malformed_report", str(exc), exc.to_json())
    malformed = exc.line is not None or exc.reason.startswith("not valid JSON")
    status, code = (400, "malformed_sidecar") if malformed else (422, "invalid_sidecar")
    return UploadInputError(status, code, str(exc), exc.to_json())


def input_error(exc: JUnitParseError | SidecarError) -> APIError:
    """What the API answers for a report or sidecar it cannot read."""
    return input_failure(exc).to_api()


def parse_upload(xml: bytes, meta: bytes | None, project: str | None) -> Report:
    """Parse an uploaded report and its sidecar; a bad one is an :class:`UploadInputError`."""
    try:
        return parse_junit_xml(xml, meta=meta, project=project, detect_sidecar=False)
    except (JUnitParseError, SidecarError) as exc:
        raise input_failure(exc) from None


def report_from_xml(xml: bytes, meta: bytes | None, project: str | None) -> Report:
    """Parse an uploaded report and its sidecar; a bad one is a 400 or 422."""
    try:
        return parse_upload(xml, meta, project)
    except UploadInputError as exc:
        raise exc.to_api() from None


def check_upload_sidecar(meta: bytes) -> SidecarRun:
    """Validate an upload's sidecar before it is queued: the same answers as its parse will
    give, without building a model per test."""
    try:
        return check_sidecar(meta)
    except SidecarError as exc:
        raise input_error(exc) from None


def gunzip(data: bytes, limit: int, what: str) -> bytes:
    """:func:`unzip` for the API: a bad stream is a 400, a bomb a 413."""
    try:
        return unzip(data, limit, what)
    except UploadInputError as exc:
        raise exc.to_api() from None


def unzip(data: bytes, limit: int, what: str) -> bytes:
    """Every gzip member of ``data``, at most ``limit`` bytes in all (a gzip bomb is a 413).

    ``cat a.gz b.gz`` is one valid stream; a truncated stream or bytes after the last member
    are a 400.
    """
    out: list[bytes] = []
    size = 0
    rest = data
    while True:
        inflater = zlib.decompressobj(wbits=31)
        try:
            chunk = inflater.decompress(rest, limit + 1 - size)
        except zlib.error as exc:
            raise UploadInputError(
                400, "bad_encoding", f"the {what} is not valid gzip: {exc}"
            ) from None
        size += len(chunk)
        out.append(chunk)
        if size > limit or inflater.unconsumed_tail:
            raise UploadInputError(
                413, "too_large", f"the {what} is larger than {limit} bytes once unzipped"
            )
        if not inflater.eof:
            raise UploadInputError(400, "bad_encoding", f"the {what} is truncated gzip")
        rest = inflater.unused_data
        if not rest:
            return b"".join(out)
        if not rest.startswith(_GZIP_MAGIC):
            raise UploadInputError(
                400, "bad_encoding", f"the {what} has {len(rest)} bytes after its gzip data"
            )


def queue_upload(
    session: AnySession, report: bytes, meta: bytes | None, project: str | None, run_id: str | None
) -> QueuedUpload:
    """Store an upload (both parts gzip'd) and its ``ingest`` job; committed on return."""
    begin_write(session)
    upload = QueuedUpload(
        state="queued",
        received_at=datetime.now(timezone.utc),
        project=project,
        run_id=run_id,
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
            QueuedUpload.state, QueuedUpload.report, QueuedUpload.meta, QueuedUpload.project
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
        )
        response = ingest_run(report, session)
    except UploadInputError as exc:
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
