"""``POST /api/tests/ingest``: JSON, multipart (report + sidecar) or a raw XML body."""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, current_app, request
from flask.typing import ResponseReturnValue
from pydantic import ValidationError

from pytest_testviz.core import Report, resolve_project
from pytest_testviz.core.sidecar import BUILD_ID_MAX

from ..ingest.queued import find_upload, queue_upload, upload_status
from ..ingest.reports import GZIP_MAGIC, check_upload_sidecar, parse_upload, unzip
from ..ingest.store import ingest_run
from ..jobs.worker import notify
from ..storage.db import db
from .auth import check_ingest_token, check_project, upload_readers_projects
from .errors import APIError, invalid_body
from .schemas import IngestRunRequest, QueuedUploadResponse

bp = Blueprint("ingest", __name__, url_prefix="/api/tests")
XML_TYPES = {"application/xml", "text/xml", "application/junit+xml"}
_ENCODINGS = {"", "identity", "gzip", "x-gzip"}


def _settings() -> Any:
    return current_app.extensions["testviz"].settings


def _decompressed(data: bytes, what: str) -> bytes:
    """Bytes as sent, or gunzipped (``Content-Encoding: gzip`` or a gzip file), bounded.

    Every gzip member is read (``cat a.gz b.gz`` is one valid stream); a truncated stream,
    bytes after the last member, or more than ``TESTVIZ_MAX_UPLOAD_MB`` once unzipped (a gzip
    bomb) is refused. Other content encodings (deflate, br, ...) are a 415.
    """
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in _ENCODINGS:
        raise APIError(
            415,
            "unsupported_encoding",
            f"cannot read Content-Encoding {encoding[:40]!r}: send gzip or an unencoded body",
        )
    if encoding == "identity" or (not encoding and not data.startswith(GZIP_MAGIC)):
        return data
    return unzip(data, _settings().max_upload_bytes, what)


def _project(value: str | None, where: str) -> str | None:
    """A project named in a form field or the query string, checked like the JSON field."""
    if value is None or value == "":
        return None
    if len(value) > 200 or not value.strip() or "\x00" in value:
        raise APIError(
            422,
            "invalid_request",
            f"invalid {where} 'project': 1 to 200 characters",
            {"errors": [{"field": "project", "message": "1 to 200 characters"}]},
        )
    return value


def _build_id(where: str) -> str | None:
    """The ``build_id`` a form field (else the query string) names, checked as the sidecar's."""
    value = request.form.get("build_id") if where == "form field" else None
    if not value:
        value, where = request.args.get("build_id"), "query parameter"
    if value is None or value == "":
        return None
    if len(value) > BUILD_ID_MAX or any(ord(c) < 32 or ord(c) == 127 for c in value):
        message = f"1 to {BUILD_ID_MAX} characters, no control characters"
        raise APIError(
            422,
            "invalid_request",
            f"invalid {where} 'build_id': {message}",
            {"errors": [{"field": "build_id", "message": message}]},
        )
    return value


def _from_json() -> Report | IngestRunRequest:
    body = _decompressed(request.get_data(cache=False), "request body")
    try:
        return IngestRunRequest.model_validate_json(body)
    except ValidationError as exc:
        raise invalid_body(exc) from None


@dataclass
class _XmlUpload:
    """A JUnit upload as received (``raw``: gzip'd if it came so) and unzipped."""

    raw: bytes
    xml: bytes
    meta_raw: bytes | None
    meta: bytes | None
    project: str | None
    #: Named by the request: overrides the sidecar's.
    build_id: str | None = None

    def stored(self) -> tuple[bytes, bytes | None]:
        """What to queue: gzip, as it came if it was unzipped here (bytes that merely start
        like gzip were not, and are stored as what they are: a report to parse)."""
        report = self.raw if self.xml is not self.raw else _gzip(self.xml)
        if self.meta is None or self.meta_raw is None:
            return report, None
        return report, self.meta_raw if self.meta is not self.meta_raw else _gzip(self.meta)


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=1, mtime=0)


def _multipart() -> _XmlUpload:
    report = request.files.get("report")
    if report is None:
        raise APIError(
            422,
            "invalid_request",
            "missing field 'report': the JUnit XML file",
            {"errors": [{"field": "report", "message": "required"}]},
        )
    meta_file = request.files.get("meta")
    raw = report.read()
    meta_raw = meta_file.read() if meta_file else None
    project = _project(request.form.get("project"), "form field") or _project(
        request.args.get("project"), "query parameter"
    )
    return _XmlUpload(
        raw,
        _decompressed(raw, "report"),
        meta_raw,
        _decompressed(meta_raw, "sidecar") if meta_raw is not None else None,
        project,
        _build_id("form field"),
    )


def _xml_body() -> _XmlUpload:
    raw = request.get_data(cache=False)
    project = _project(request.args.get("project"), "query parameter")
    return _XmlUpload(
        raw, _decompressed(raw, "request body"), None, None, project, _build_id("query")
    )


def _prefers_async() -> bool:
    """``Prefer: respond-async`` (RFC 7240), and the server is configured to honour it."""
    if not _settings().async_ingest:
        return False
    preferences = ",".join(request.headers.getlist("Prefer")).split(",")
    return any(
        part.split(";")[0].split("=")[0].strip().lower() == "respond-async" for part in preferences
    )


def _queue(upload: _XmlUpload, allowed: frozenset[str] | None) -> ResponseReturnValue:
    """Check what is cheap to check, store the upload, answer 202 (see
    :mod:`server.ingest.queued`)."""
    if not upload.xml.strip():  # an empty report (a wrong path to curl): parsing it is free
        parse_upload(upload.xml, None, None)
    sidecar = check_upload_sidecar(upload.meta) if upload.meta is not None else None
    # Stored resolved, as the parse would resolve it: the upload's record says whose it is.
    project = resolve_project(upload.project, sidecar)
    check_project(allowed, project)
    report, meta = upload.stored()
    run_id = sidecar.run_id if sidecar else None
    queued = queue_upload(db.session, report, meta, project, run_id, upload.build_id)
    notify()
    body = upload_status(queued, QueuedUploadResponse)
    headers = {"Location": body.url, "Preference-Applied": "respond-async"}
    return body.model_dump(mode="json"), 202, headers


@bp.post("/ingest")
def ingest() -> ResponseReturnValue:
    """Store a run: 200 ``created``, or 200 ``skipped`` when its run_id is already stored.

    With ``Prefer: respond-async``, a JUnit upload is queued instead: 202 ``queued``.
    """
    allowed = check_ingest_token()  # 401 before the body is read
    mimetype = request.mimetype
    payload: Report | IngestRunRequest
    if mimetype == "application/json":
        payload = _from_json()  # validating it is most of the work: never queued
    elif mimetype == "multipart/form-data" or mimetype in XML_TYPES:
        upload = _multipart() if mimetype == "multipart/form-data" else _xml_body()
        if _prefers_async():
            return _queue(upload, allowed)
        payload = parse_upload(upload.xml, upload.meta, upload.project, upload.build_id)
    else:
        raise APIError(
            415,
            "unsupported_media_type",
            f"cannot ingest {mimetype or 'a body without a Content-Type'}: send application/json, "
            "multipart/form-data (report, meta) or application/xml",
        )
    check_project(allowed, payload.run.project if isinstance(payload, Report) else payload.project)
    response = ingest_run(payload, db.session)
    if response.status == "created":
        current_app.extensions["testviz"].analyzer.submit(response.run_id)
        notify()
    response.url = f"/api/tests/runs/{response.run_id}"
    return response.model_dump(mode="json"), 200


@bp.get("/uploads/<upload_id>")
def get_upload(upload_id: str) -> ResponseReturnValue:
    """Where a queued upload is: ``queued``, ``done`` (with the ingest's answer) or ``failed``."""
    projects = upload_readers_projects()  # a project-scoped ingest token sees its own only
    upload = find_upload(db.session, upload_id, projects)
    return upload_status(upload).model_dump(mode="json")
