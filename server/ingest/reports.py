"""Reading an upload into a :class:`Report`: gunzip (bounded), parse, check the sidecar, or
build one from a JSON body. What cannot be read is an :class:`IngestRejected` with the answer
a client is given, on the synchronous path and in a queued upload's record alike."""

from __future__ import annotations

import hashlib
import zlib

from pytest_testviz.core import (
    DeclaredTotals,
    JUnitParseError,
    Report,
    RunInfo,
    SidecarError,
    Totals,
    parse_junit_xml,
)
from pytest_testviz.core.report import build_result
from pytest_testviz.core.sidecar import SidecarRun, check_sidecar

from ..errors import IngestRejected
from ..web.schemas import IngestRunRequest

GZIP_MAGIC = b"\x1f\x8b"


def rejection(exc: JUnitParseError | SidecarError) -> IngestRejected:
    """What a report or sidecar that cannot be read is answered (400 or 422)."""
    if isinstance(exc, JUnitParseError):
        return IngestRejected(400, "malformed_report", str(exc), exc.to_json())
    malformed = exc.line is not None or exc.reason.startswith("not valid JSON")
    status, code = (400, "malformed_sidecar") if malformed else (422, "invalid_sidecar")
    return IngestRejected(status, code, str(exc), exc.to_json())


def parse_upload(
    xml: bytes, meta: bytes | None, project: str | None, build_id: str | None = None
) -> Report:
    """Parse an uploaded report and its sidecar; ``project`` and ``build_id`` (named by the
    request) override the sidecar's."""
    try:
        report = parse_junit_xml(xml, meta=meta, project=project, detect_sidecar=False)
    except (JUnitParseError, SidecarError) as exc:
        raise rejection(exc) from None
    if build_id is not None:
        report.run.build_id = build_id
    return report


def check_upload_sidecar(meta: bytes) -> SidecarRun:
    """Validate an upload's sidecar before it is queued: the same answers as its parse will
    give, without building a model per test."""
    try:
        return check_sidecar(meta)
    except SidecarError as exc:
        raise rejection(exc) from None


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
            raise IngestRejected(
                400, "bad_encoding", f"the {what} is not valid gzip: {exc}"
            ) from None
        size += len(chunk)
        out.append(chunk)
        if size > limit or inflater.unconsumed_tail:
            raise IngestRejected(
                413, "too_large", f"the {what} is larger than {limit} bytes once unzipped"
            )
        if not inflater.eof:
            raise IngestRejected(400, "bad_encoding", f"the {what} is truncated gzip")
        rest = inflater.unused_data
        if not rest:
            return b"".join(out)
        if not rest.startswith(GZIP_MAGIC):
            raise IngestRejected(
                400, "bad_encoding", f"the {what} has {len(rest)} bytes after its gzip data"
            )


def report_from_request(request: IngestRunRequest) -> Report:
    """The core :class:`Report` for a JSON upload, with ids derived as for XML."""
    seen: dict[tuple[str, str], int] = {}

    def occurrence(classname: str, name: str) -> int:
        # Same rule as for XML from a producer whose names are not unique ids: a repeated
        # name is another test, with an id of its own, not a retry of the first. Names are
        # compared exactly, as the id compares them.
        key = (classname, name)
        seen[key] = seen.get(key, 0) + 1
        return seen[key]

    results = [
        build_result(
            request.project,
            name=item.name,
            classname=item.classname,
            occurrence=occurrence(item.classname, item.name),
            status=item.status,
            duration=item.duration,
            file=item.file,
            line=item.line,
            suite=item.suite,
            flaky=item.flaky,
            error_type=item.error_type,
            message=item.message,
            text=item.text,
            tags=list(item.tags),
            owner=item.owner,
            markers=list(item.markers),
            source_hash=item.source_hash,
            subtests_failed=item.subtests_failed,
            subtests_passed=item.subtests_passed,
        )
        for item in request.results
    ]
    run_id = request.run_id
    if run_id is None:  # derived from the content: the same body twice is the same run
        payload = request.model_dump_json().encode()
        run_id = hashlib.sha256(b"testviz-json:1\0" + payload).hexdigest()[:32]
    run = RunInfo(
        run_id=run_id,
        project=request.project,
        session_id=request.session_id,
        build_id=request.build_id,
        git_sha=request.git_sha.lower() if request.git_sha else None,
        branch=request.branch,
        env_fingerprint=request.env_fingerprint,
        env=dict(request.env),
        started_at=request.started_at.isoformat() if request.started_at else None,
        finished_at=request.finished_at.isoformat() if request.finished_at else None,
    )
    return Report(
        run=run,
        results=results,
        suites=[],
        totals=Totals.count(results),
        declared=DeclaredTotals(),
        codeowners=request.codeowners,
        testcases=len(results),
    )
