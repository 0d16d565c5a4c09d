"""``POST /api/tests/ingest``: JSON, multipart (report + sidecar) or a raw XML body."""

from __future__ import annotations

import zlib
from typing import Any

from flask import Blueprint, current_app, request
from flask.typing import ResponseReturnValue
from pydantic import ValidationError

from pytest_testviz.core import JUnitParseError, Report, SidecarError, parse_junit_xml

from .auth import check_ingest_token, check_project
from .db import db
from .errors import APIError
from .ingest import ingest_run
from .schemas import IngestRunRequest

bp = Blueprint("ingest", __name__, url_prefix="/api/tests")
XML_TYPES = {"application/xml", "text/xml", "application/junit+xml"}
_GZIP_MAGIC = b"\x1f\x8b"
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
    if encoding == "identity" or (not encoding and not data.startswith(_GZIP_MAGIC)):
        return data
    return _gunzip(data, _settings().max_upload_bytes, what)


def _gunzip(data: bytes, limit: int, what: str) -> bytes:
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


def _report_from_xml(xml: bytes, meta: bytes | None, project: str | None) -> Report:
    try:
        return parse_junit_xml(xml, meta=meta, project=project, detect_sidecar=False)
    except JUnitParseError as exc:
        raise APIError(400, "malformed_report", str(exc), exc.to_json()) from None
    except SidecarError as exc:
        malformed = exc.line is not None or exc.reason.startswith("not valid JSON")
        status, code = (400, "malformed_sidecar") if malformed else (422, "invalid_sidecar")
        raise APIError(status, code, str(exc), exc.to_json()) from None


def _from_json() -> Report | IngestRunRequest:
    body = _decompressed(request.get_data(cache=False), "request body")
    try:
        return IngestRunRequest.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        first = errors[0]
        field = ".".join(str(part) for part in first["loc"]) or "(body)"
        if first["type"] == "json_invalid":
            raise APIError(
                400, "malformed_json", f"the body is not valid JSON: {first['msg']}"
            ) from None
        details = {
            "errors": [
                {"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in errors[:50]
            ]
        }
        raise APIError(
            422, "invalid_request", f"invalid field {field!r}: {first['msg']}", details
        ) from None


def _from_multipart() -> Report:
    report = request.files.get("report")
    if report is None:
        raise APIError(
            422,
            "invalid_request",
            "missing field 'report': the JUnit XML file",
            {"errors": [{"field": "report", "message": "required"}]},
        )
    meta_file = request.files.get("meta")
    xml = _decompressed(report.read(), "report")
    meta = _decompressed(meta_file.read(), "sidecar") if meta_file else None
    project = _project(request.form.get("project"), "form field") or _project(
        request.args.get("project"), "query parameter"
    )
    return _report_from_xml(xml, meta, project)


def _from_xml_body() -> Report:
    xml = _decompressed(request.get_data(cache=False), "request body")
    return _report_from_xml(xml, None, _project(request.args.get("project"), "query parameter"))


@bp.post("/ingest")
def ingest() -> ResponseReturnValue:
    """Store a run; 200 ``created``, or 200 ``skipped`` when its run_id is already stored."""
    allowed = check_ingest_token()  # 401 before the body is read
    mimetype = request.mimetype
    payload: Report | IngestRunRequest
    if mimetype == "application/json":
        payload = _from_json()
    elif mimetype == "multipart/form-data":
        payload = _from_multipart()
    elif mimetype in XML_TYPES:
        payload = _from_xml_body()
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
    response.url = f"/api/tests/runs/{response.run_id}"
    return response.model_dump(mode="json"), 200
