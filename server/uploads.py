"""Uploads answered ``202 Accepted`` and ingested in the background (``Prefer: respond-async``).

A pushing test run should not wait while the server parses and stores ten thousand tests.
When a client asks for it (RFC 7240), a JUnit upload is checked as far as is cheap (token,
encoding, size, the sidecar and the project it names), committed gzip'd to
``queued_uploads``, and answered 202 with where to follow it. The background thread then
parses and ingests it as a synchronous upload would be.

Nothing accepted is dropped. A worker that dies mid-ingest leaves the row queued with its
claim: a worker of the same host (and pid namespace) takes it over as soon as it looks, any
other once the claim is stale; the ingest is idempotent by run_id, so a row ingested twice
still stores one run. A malformed report ends ``failed`` with the error a synchronous upload
would have been given. An upload whose ingest keeps failing for other reasons (the database,
a bug, a worker killed each time) ends ``failed`` after ``MAX_ATTEMPTS``. A failed upload
keeps its bytes, and ``flask requeue-uploads`` queues it again.
"""

from __future__ import annotations

import logging
import os
import socket
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from flask import Flask
from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult

from pytest_testviz.core import (
    JUnitParseError,
    Report,
    SidecarError,
    parse_junit_xml,
)
from pytest_testviz.core.sidecar import SidecarRun, check_sidecar

from .analysis import Analyzer
from .background import BackgroundQueue
from .config import Settings
from .database import AnySession, begin_write
from .db import db
from .errors import APIError
from .ingest import ingest_run
from .models import QueuedUpload
from .schemas import UploadStatus

log = logging.getLogger(__name__)
S = TypeVar("S", bound=UploadStatus)

#: A claim older than this belonged to a worker that died: the upload is claimable again.
STALE_CLAIM = timedelta(minutes=5)
#: Attempts (claims) before an upload whose ingest keeps failing is given up as ``failed``.
MAX_ATTEMPTS = 5
_GZIP_MAGIC = b"\x1f\x8b"
HOST = socket.gethostname()


def _pid_namespace() -> str:
    """Containers may share a host name but not their pids: tell them apart (Linux)."""
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""


PID_NAMESPACE = _pid_namespace()


# -- checking and storing an upload -----------------------------------------------------------


def input_error(exc: JUnitParseError | SidecarError) -> APIError:
    """What the API answers for a report or sidecar it cannot read."""
    if isinstance(exc, JUnitParseError):
        return APIError(400, "malformed_report", str(exc), exc.to_json())
    malformed = exc.line is not None or exc.reason.startswith("not valid JSON")
    status, code = (400, "malformed_sidecar") if malformed else (422, "invalid_sidecar")
    return APIError(status, code, str(exc), exc.to_json())


def report_from_xml(xml: bytes, meta: bytes | None, project: str | None) -> Report:
    """Parse an uploaded report and its sidecar; a bad one is a 400 or 422."""
    try:
        return parse_junit_xml(xml, meta=meta, project=project, detect_sidecar=False)
    except (JUnitParseError, SidecarError) as exc:
        raise input_error(exc) from None


def check_upload_sidecar(meta: bytes) -> SidecarRun:
    """Validate an upload's sidecar before it is queued: the same answers as its parse will
    give, without building a model per test."""
    try:
        return check_sidecar(meta)
    except SidecarError as exc:
        raise input_error(exc) from None


def gunzip(data: bytes, limit: int, what: str) -> bytes:
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
            raise APIError(400, "bad_encoding", f"the {what} is not valid gzip: {exc}") from None
        size += len(chunk)
        out.append(chunk)
        if size > limit or inflater.unconsumed_tail:
            raise APIError(
                413, "too_large", f"the {what} is larger than {limit} bytes once unzipped"
            )
        if not inflater.eof:
            raise APIError(400, "bad_encoding", f"the {what} is truncated gzip")
        rest = inflater.unused_data
        if not rest:
            return b"".join(out)
        if not rest.startswith(_GZIP_MAGIC):
            raise APIError(
                400, "bad_encoding", f"the {what} has {len(rest)} bytes after its gzip data"
            )


def queue_upload(
    session: AnySession, report: bytes, meta: bytes | None, project: str | None, run_id: str | None
) -> QueuedUpload:
    """Store an upload (both parts gzip'd) for the background ingest; committed on return."""
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
    query = update(QueuedUpload).where(
        QueuedUpload.state == "failed", QueuedUpload.report.is_not(None)
    )
    if upload_ids is not None:
        query = query.where(QueuedUpload.id.in_(upload_ids))
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        query.values(
            state="queued", attempts=0, error=None, finished_at=None, claimed_at=None
        ).execution_options(synchronize_session=False)
    )
    session.commit()
    return int(result.rowcount or 0)


# -- ingesting it in the background -----------------------------------------------------------


@dataclass(frozen=True)
class _Claim:
    """This worker's hold on an upload: who, and which attempt (both must still match)."""

    upload_id: int
    holder: str
    attempt: int


def _holder() -> str:
    return f"{HOST}:{PID_NAMESPACE}:{os.getpid()}"


def _claimable(seen: Any, now: datetime) -> bool:
    """Unclaimed, stale, or held by a process of this host and pid namespace that is gone."""
    if seen.claimed_at is None or seen.claimed_at < now - STALE_CLAIM:
        return True
    parts = (seen.claimed_by or "").rsplit(":", 2)
    if len(parts) != 3 or parts[:2] != [HOST, PID_NAMESPACE] or not parts[2].isdigit():
        return False
    pid = int(parts[2])
    return pid != os.getpid() and not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


class UploadQueue(BackgroundQueue[int]):
    """Ingests queued uploads, one at a time per server process, then queues their analysis."""

    name = "ingest"

    def __init__(self, app: Flask, settings: Settings, analyzer: Analyzer) -> None:
        super().__init__(app)
        self.settings = settings
        self.analyzer = analyzer

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
        """Ingest one queued upload if this worker can claim it; returns its state after."""
        session = db.session
        claim = self._claim(session, upload_id)
        if claim is None:
            return self._state(session, upload_id)
        stored = session.execute(
            select(QueuedUpload.report, QueuedUpload.meta, QueuedUpload.project).where(
                QueuedUpload.id == upload_id
            )
        ).one()
        session.rollback()  # no read transaction held open while the report is parsed
        limit = self.settings.max_upload_bytes
        try:
            report = report_from_xml(
                gunzip(stored.report or b"", limit, "report"),
                gunzip(stored.meta, limit, "sidecar") if stored.meta is not None else None,
                stored.project,
            )
            response = ingest_run(report, session)
        except APIError as exc:
            session.rollback()
            log.warning("queued upload %d could not be ingested: %s", upload_id, exc.message)
            error = {"status": exc.status, "code": exc.code, "message": exc.message}
            return self._finish(session, claim, "failed", error=error)
        except Exception as exc:
            session.rollback()
            log.exception("queued upload %d: ingest failed", upload_id)
            return self._release(session, claim, exc)
        response.url = f"/api/tests/runs/{response.run_id}"
        state = self._finish(
            session, claim, "done", run_id=response.run_id, result=response.model_dump(mode="json")
        )
        if response.status == "created":
            self.analyzer.submit(response.run_id)
        return state

    def _state(self, session: AnySession, upload_id: int) -> str:
        state = session.execute(
            select(QueuedUpload.state).where(QueuedUpload.id == upload_id)
        ).scalar()
        session.rollback()
        return state or "missing"

    def _claim(self, session: AnySession, upload_id: int) -> _Claim | None:
        """Take the upload for this worker, so two workers never ingest it at once.

        The update only succeeds if ``attempts`` is still what was read: nobody claimed it
        meanwhile. An upload claimed ``MAX_ATTEMPTS`` times whose last attempt never
        finished (its worker died each time) is given up instead of claimed again.
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
            return None
        values: dict[str, Any]
        if seen.attempts >= MAX_ATTEMPTS:
            values = {
                "state": "failed",
                "claimed_at": None,
                "claimed_by": None,
                "finished_at": now,
                "error": _gave_up(seen.attempts, "none of them finished: the worker died"),
            }
        else:
            values = {"claimed_at": now, "claimed_by": _holder(), "attempts": seen.attempts + 1}
        result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(QueuedUpload)
            .where(
                QueuedUpload.id == upload_id,
                QueuedUpload.state == "queued",
                QueuedUpload.attempts == seen.attempts,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        if not result.rowcount or seen.attempts >= MAX_ATTEMPTS:
            return None
        return _Claim(upload_id, values["claimed_by"], values["attempts"])

    def _update_if_held(self, session: AnySession, claim: _Claim, values: dict[str, Any]) -> bool:
        """Write ``values`` if the claim is still this worker's (not taken over as stale)."""
        begin_write(session)
        result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(QueuedUpload)
            .where(
                QueuedUpload.id == claim.upload_id,
                QueuedUpload.state == "queued",
                QueuedUpload.claimed_by == claim.holder,
                QueuedUpload.attempts == claim.attempt,
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        if not result.rowcount:
            log.warning("queued upload %d: another worker took it over meanwhile", claim.upload_id)
        return bool(result.rowcount)

    def _finish(self, session: AnySession, claim: _Claim, state: str, **values: Any) -> str:
        if state == "done":
            values.update(report=None, meta=None)  # the run holds it all now
        values.update(
            state=state, claimed_at=None, claimed_by=None, finished_at=datetime.now(timezone.utc)
        )
        if not self._update_if_held(session, claim, values):
            return self._state(session, claim.upload_id)
        return state

    def _release(self, session: AnySession, claim: _Claim, exc: Exception) -> str:
        """Give the upload back for the sweeper to retry, or give up after a few attempts."""
        if claim.attempt >= MAX_ATTEMPTS:
            error = _gave_up(claim.attempt, f"the last failed with {type(exc).__name__}")
            return self._finish(session, claim, "failed", error=error)
        if not self._update_if_held(session, claim, {"claimed_at": None, "claimed_by": None}):
            return self._state(session, claim.upload_id)
        return "queued"


def _gave_up(attempts: int, why: str) -> dict[str, Any]:
    return {
        "status": 500,
        "code": "ingest_failed",
        "message": f"gave up after {attempts} attempts to ingest the upload ({why}); "
        "its bytes are kept: queue it again with flask requeue-uploads",
    }
