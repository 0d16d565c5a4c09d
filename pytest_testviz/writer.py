"""Writing a run as JUnit XML (what every tool reads) plus the sidecar (what XML cannot say).

The XML follows pytest's own ``junit_family=xunit2`` output, so the same tests get the same
``test_id`` from either file and other JUnit consumers read it as they read pytest's. Reruns,
owners, tags and source hashes go into the sidecar.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from xml.sax.saxutils import escape, quoteattr

from .capture import TestRecord, xml_safe
from .core.results import cap_text
from .core.sidecar import AttemptMeta, Sidecar, TestMeta

PRODUCER_PROPERTY = "testviz.producer"


def _attr(value: str) -> str:
    return quoteattr(xml_safe(value))


def _text(value: str) -> str:
    return escape(xml_safe(value))


def _testcase(record: TestRecord, max_output: int) -> str:
    head = (
        f"<testcase classname={_attr(record.classname)} name={_attr(record.name)} "
        f'time="{record.duration:.3f}"'
    )
    body: list[str] = []
    message = _attr(record.message or "")
    if record.status in ("failed", "error"):
        # No ``type``: pytest writes none, and the parser derives it from the message alike.
        tag = "failure" if record.status == "failed" else "error"
        body.append(f"<{tag} message={message}>{_text(record.text or '')}</{tag}>")
    elif record.status == "skipped":
        body.append(f"<skipped type={_attr(record.skip_type or 'pytest.skip')} message={message}/>")
    if record.stdout and max_output:
        body.append(
            f"<system-out>{_text(cap_text(''.join(record.stdout), max_output) or '')}</system-out>"
        )
    stderr = "".join(record.stderr) + "\n".join(record.stderr_extra)
    if stderr and max_output:
        body.append(f"<system-err>{_text(cap_text(stderr, max_output) or '')}</system-err>")
    if not body:
        return head + "/>"
    return head + ">" + "".join(body) + "</testcase>"


def junit_xml(
    records: list[TestRecord],
    *,
    producer: str,
    started: datetime,
    duration: float,
    hostname: str,
    max_output: int,
) -> bytes:
    """The whole report, in one ``<testsuite name="pytest">`` like pytest writes it."""
    counts = {"failed": 0, "error": 0, "skipped": 0}
    for record in records:
        if record.status in counts:
            counts[record.status] += 1
    cases = "".join(_testcase(record, max_output) for record in records)
    suite = (
        f'<testsuite name="pytest" errors="{counts["error"]}" failures="{counts["failed"]}" '
        f'skipped="{counts["skipped"]}" tests="{len(records)}" time="{duration:.3f}" '
        f"timestamp={_attr(started.isoformat())} hostname={_attr(hostname)}>"
        f"<properties><property name={_attr(PRODUCER_PROPERTY)} value={_attr(producer)}/>"
        f"</properties>{cases}</testsuite>"
    )
    head = '<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">'
    return f"{head}{suite}</testsuites>\n".encode()


def test_meta(records: Iterable[TestRecord]) -> dict[str, TestMeta]:
    """Per-test sidecar entries, keyed by ``classname::name``; only tests with something to say."""
    entries: dict[str, TestMeta] = {}
    for record in records:
        meta = record.meta
        attempts = [
            AttemptMeta(
                status="error" if a.status == "error" else "failed",
                error_type=a.error_type,
                message=a.message,
                text=a.text,
            )
            for a in record.attempts
        ]
        if not (meta or attempts):
            continue
        entries[f"{record.classname}::{record.name}"] = TestMeta(
            tags=meta.get("tags", []),
            owner=meta.get("owner"),
            markers=meta.get("markers", []),
            source_hash=meta.get("source_hash"),
            nodeid=record.nodeid,
            attempts=attempts,
        )
    return entries


test_meta.__test__ = False  # type: ignore[attr-defined]


def sidecar(
    *,
    run_id: str,
    project: str,
    session_id: str,
    git_sha: str | None,
    branch: str | None,
    env_fingerprint: str,
    env: dict[str, str],
    started: datetime,
    finished: datetime,
    producer: str,
    records: list[TestRecord],
) -> Sidecar:
    return Sidecar(
        run_id=run_id,
        project=project,
        session_id=session_id,
        git_sha=git_sha,
        branch=branch,
        env_fingerprint=env_fingerprint,
        env=env,
        started_at=started,
        finished_at=finished,
        producer=producer,
        tests=test_meta(records),
    )
