"""Uploads answered ``202 Accepted`` and ingested in the background (``Prefer: respond-async``).

A pushing test run should not wait while the server parses and stores ten thousand tests.
When a client asks for it (RFC 7240), a JUnit upload is checked as far as is cheap (token,
encoding, size, the sidecar and the project it names), committed to ``queued_uploads``, and
answered 202 with where to follow it. The background thread then ingests it exactly as a
synchronous upload would be. A crash in between leaves the row queued, and a worker of any
instance claims it again once the claim is stale; the ingest is idempotent by run_id, so a
row ingested twice still stores one run. A report that turns out to be malformed ends
``failed`` with the error a synchronous upload would have been given, its bytes kept.
"""

from __future__ import annotations

import gzip
import logging
import os
import socket
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult

from pytest_testviz.core import (
    JUnitParseError,
    Report,
    Sidecar,
    SidecarError,
    parse_junit_xml,
    parse_sidecar,
)

from .analysis import Analyzer
from .background import BackgroundQueue
from .database import AnySession, begin_write
from .db import db
from .errors import APIError
from .ingest import ingest_run
from .models import QueuedUpload
from .schemas import UploadStatus

log = logging.getLogger(__name__)

#: A claim older than this belonged to a worker that died: the upload is claimable again.
STALE_CLAIM = timedelta(minutes=5)
#: Unexpected failures (the database, a bug) are retried by the sweeper this many times.
MAX_ATTEMPTS = 5
_GZIP_MAGIC = b"\x1f\x8b"
HOST = socket.gethostname()


def input_error(exc: JUnitParseError | SidecarError) -> APIError:
    """What the API answers for a report or sidecar it cannot read."""
    if isinstance(exc, JUnitParseError):
        return APIError(400, "malformed_report", str(exc), exc.to_json())
    malformed = exc.line is not None or exc.reason.startswith("not valid JSON")
    status, code = (400, "malformed_sidecar") if malformed else (422, "invalid_sidecar")
    return APIError(status, code, str(exc), exc.to_json())


def report_from_xml(xml: bytes, meta: bytes | Sidecar | None, project: str | None) -> Report:
    """Parse an uploaded report and its sidecar; a bad one is a 400 or 422."""
    try:
        return parse_junit_xml(xml, meta=meta, project=project, detect_sidecar=False)
    except (JUnitParseError, SidecarError) as exc:
        raise input_error(exc) from None


def read_sidecar(meta: bytes) -> Sidecar:
    try:
        return parse_sidecar(meta)
    except SidecarError as exc:
        raise input_error(exc) from None


def queue_upload(
    session: AnySession, report: bytes, meta: bytes | None, project: str | None, run_id: str | None
) -> QueuedUpload:
    """Store an upload for the background ingest; committed when this returns."""
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
    session.commit()
    return upload


def upload_status(upload: QueuedUpload) -> UploadStatus:
    """An upload's state, as ``GET /api/tests/uploads/<id>`` shows it."""
    return UploadStatus(
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


def _claimable(seen: Any, now: datetime) -> bool:
    if seen.claimed_at is None or seen.claimed_at < now - STALE_CLAIM:
        return True
    host, _, pid = (seen.claimed_by or "").rpartition(":")
    return host == HOST and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _plain(data: bytes | None) -> bytes | None:
    """Stored bytes as the parser reads them (the size was checked when they arrived)."""
    if data is not None and data.startswith(_GZIP_MAGIC):
        return gzip.decompress(data)
    return data


class UploadQueue(BackgroundQueue[int]):
    """Ingests queued uploads, one at a time per server process, then queues their analysis."""

    name = "ingest"

    def __init__(self, app: Flask, analyzer: Analyzer) -> None:
        super().__init__(app)
        self.analyzer = analyzer

    def start_sweeper(self, interval: float = 60.0) -> None:
        super().start_sweeper(interval)

    def pending(self) -> list[int]:
        return list(
            db.session.execute(
                select(QueuedUpload.id)
                .where(QueuedUpload.state == "queued")
                .order_by(QueuedUpload.id)
            ).scalars()
        )

    def work(self, key: int) -> None:
        self.ingest(key)

    def ingest(self, upload_id: int) -> str:
        """Ingest one queued upload if this worker can claim it; returns its state."""
        session = db.session
        if not self._claim(session, upload_id):
            state = session.execute(
                select(QueuedUpload.state).where(QueuedUpload.id == upload_id)
            ).scalar()
            session.rollback()
            return state or "missing"
        upload = session.execute(
            select(QueuedUpload).where(QueuedUpload.id == upload_id)
        ).scalar_one()
        try:
            report = report_from_xml(
                _plain(upload.report) or b"", _plain(upload.meta), upload.project
            )
            response = ingest_run(report, session)
        except APIError as exc:
            session.rollback()
            log.warning("queued upload %d could not be ingested: %s", upload_id, exc.message)
            error = {"status": exc.status, "code": exc.code, "message": exc.message}
            return self._finish(session, upload_id, "failed", error=error)
        except Exception as exc:
            session.rollback()
            log.exception("queued upload %d: ingest failed", upload_id)
            return self._release(session, upload_id, exc)
        response.url = f"/api/tests/runs/{response.run_id}"
        state = self._finish(
            session,
            upload_id,
            "done",
            run_id=response.run_id,
            result=response.model_dump(mode="json"),
        )
        if response.status == "created":
            self.analyzer.submit(response.run_id)
        return state

    def _claim(self, session: AnySession, upload_id: int) -> bool:
        """Take the upload for this worker, so two workers never ingest it at once.

        A claim can be taken over once it is stale, or at once when it names a process of
        this host that has ended (a worker killed mid-ingest, then restarted). The update
        only succeeds if ``attempts`` is still what was read: nobody claimed it meanwhile.
        """
        now = datetime.now(timezone.utc)
        begin_write(session)
        seen = session.execute(
            select(
                QueuedUpload.state,
                QueuedUpload.attempts,
                QueuedUpload.claimed_at,
                QueuedUpload.claimed_by,
            ).where(QueuedUpload.id == upload_id)
        ).one_or_none()
        if seen is None or seen.state != "queued" or not _claimable(seen, now):
            session.rollback()
            return False
        result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(QueuedUpload)
            .where(
                QueuedUpload.id == upload_id,
                QueuedUpload.state == "queued",
                QueuedUpload.attempts == seen.attempts,
            )
            # Host and process: a pid alone means nothing on another host.
            .values(claimed_at=now, claimed_by=f"{HOST}:{os.getpid()}", attempts=seen.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        claimed = result.rowcount
        session.commit()
        return bool(claimed)

    def _finish(self, session: AnySession, upload_id: int, state: str, **values: Any) -> str:
        if state == "done":
            values.update(report=None, meta=None)  # the run holds it all now
        begin_write(session)
        session.execute(
            update(QueuedUpload)
            .where(QueuedUpload.id == upload_id)
            .values(
                state=state,
                claimed_at=None,
                claimed_by=None,
                finished_at=datetime.now(timezone.utc),
                **values,
            )
            .execution_options(synchronize_session=False)
        )
        session.commit()
        return state

    def _release(self, session: AnySession, upload_id: int, exc: Exception) -> str:
        """Give the upload back for the sweeper to retry, or give up after a few attempts."""
        attempts = session.execute(
            select(QueuedUpload.attempts).where(QueuedUpload.id == upload_id)
        ).scalar_one()
        session.rollback()
        if attempts >= MAX_ATTEMPTS:
            error = {
                "status": 500,
                "code": "ingest_failed",
                "message": f"ingest failed {attempts} times; last: {type(exc).__name__}",
            }
            return self._finish(session, upload_id, "failed", error=error)
        begin_write(session)
        session.execute(
            update(QueuedUpload)
            .where(QueuedUpload.id == upload_id)
            .values(claimed_at=None, claimed_by=None)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        return "queued"
