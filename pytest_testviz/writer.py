"""Writing a run as JUnit XML (what every tool reads) plus the sidecar (what XML cannot say).

The XML follows pytest's own ``junit_family=xunit2`` output, so the same tests get the same
``test_id`` from either file and other JUnit consumers read it as they read pytest's. Reruns,
owners, tags and source hashes go into the sidecar.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from .capture import TestRecord, xml_safe
from .core.results import Attempt, cap_text

PRODUCER_PROPERTY = "testviz.producer"


def _testcase(suite: ET.Element, record: TestRecord, classname: str, max_output: int) -> None:
    """One ``<testcase>`` in ``suite``, as pytest's ``_NodeReporter`` writes it."""
    testcase = ET.SubElement(
        suite,
        "testcase",
        classname=classname,
        name=xml_safe(record.name),
        time=f"{record.duration:.3f}",
    )
    status = record.status
    if record.subtest_failures:
        # One <failure> per failed subtest, as pytest writes them.
        for failure in record.subtest_failures:
            node = ET.SubElement(testcase, "failure", message=xml_safe(failure.message or ""))
            node.text = xml_safe(failure.text or "")
    elif status in ("failed", "error"):
        # No ``type``: pytest writes none, and the parser derives it from the message alike.
        tag = "failure" if status == "failed" else "error"
        node = ET.SubElement(testcase, tag, message=xml_safe(record.message or ""))
        node.text = xml_safe(record.text or "")
    elif status in ("skipped", "xfailed"):
        ET.SubElement(
            testcase,
            "skipped",
            type=xml_safe(record.skip_type or "pytest.skip"),
            message=xml_safe(record.message or ""),
        )
    if not max_output:
        return
    if record.stdout:
        out = ET.SubElement(testcase, "system-out")
        out.text = xml_safe(cap_text("".join(record.stdout), max_output) or "")
    stderr = "".join(record.stderr) + "\n".join(record.stderr_extra)
    if stderr:
        err = ET.SubElement(testcase, "system-err")
        err.text = xml_safe(cap_text(stderr, max_output) or "")


def junit_xml(
    records: list[TestRecord],
    *,
    producer: str,
    started: datetime,
    duration: float,
    hostname: str,
    max_output: int,
) -> bytes:
    """The whole report, in one ``<testsuite name="pytest">`` like pytest writes it.

    Built with :mod:`xml.etree.ElementTree`, as pytest's ``--junitxml`` is; characters XML
    cannot hold are shown as ``#xNN`` first (:func:`.capture.xml_safe`, pytest's
    ``bin_xml_escape``), and ElementTree escapes the rest.
    """
    counts = {"failed": 0, "error": 0, "skipped": 0}
    for record in records:
        if record.status == "xfailed":
            counts["skipped"] += 1  # pytest counts an xfail among the skipped
        elif record.status in counts:
            counts[record.status] += 1
    suite = ET.Element(
        "testsuite",
        name="pytest",
        errors=str(counts["error"]),
        failures=str(counts["failed"]),
        skipped=str(counts["skipped"]),
        tests=str(len(records)),
        time=f"{duration:.3f}",
        timestamp=started.isoformat(),
        hostname=xml_safe(hostname),
    )
    properties = ET.SubElement(suite, "properties")
    ET.SubElement(properties, "property", name=PRODUCER_PROPERTY, value=xml_safe(producer))
    safe: dict[str, str] = {}  # a module's tests share their classname
    for record in records:
        classname = safe.get(record.classname)
        if classname is None:
            classname = safe[record.classname] = xml_safe(record.classname)
        _testcase(suite, record, classname, max_output)
    testsuites = ET.Element("testsuites", name="pytest tests")
    testsuites.append(suite)
    body = ET.tostring(testsuites, encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>{body}\n'.encode()


def test_meta(records: Iterable[TestRecord]) -> dict[str, dict[str, Any]]:
    """Per-test values for the sidecar's ``tests``, keyed by ``classname::name``; only tests
    with something to say (the model validates them and leaves empty fields out)."""
    entries: dict[str, dict[str, Any]] = {}
    for record in records:
        meta = record.meta
        if not (
            meta
            or record.attempts
            or record.status == "xpassed"
            or record.subtests_failed
            or record.subtests_passed
        ):
            continue
        entry: dict[str, Any] = {**meta} if meta else {}
        entry["nodeid"] = record.nodeid
        if record.attempts:
            entry["attempts"] = [_attempt(attempt) for attempt in record.attempts]
        if record.status == "xpassed":
            entry["outcome"] = "xpassed"
        entry["subtests_failed"] = record.subtests_failed
        entry["subtests_passed"] = record.subtests_passed
        entries[f"{record.classname}::{record.name}"] = entry
    return entries


test_meta.__test__ = False  # type: ignore[attr-defined]


def _attempt(attempt: Attempt) -> dict[str, Any]:
    return {
        "status": "error" if attempt.status == "error" else "failed",
        "error_type": attempt.error_type,
        "message": attempt.message,
        "text": attempt.text,
    }


def sidecar(
    *,
    run_id: str,
    project: str,
    session_id: str,
    build_id: str | None = None,
    git_sha: str | None,
    branch: str | None,
    env_fingerprint: str,
    env: dict[str, str],
    started: datetime,
    finished: datetime,
    producer: str,
    records: list[TestRecord],
) -> bytes:
    """The sidecar's bytes, validated and written by the :class:`~.core.sidecar.Sidecar` model.

    A value the schema refuses (an owner longer than 1,024 characters, a NUL character) is a
    ``ValueError`` naming the field.
    """
    from pydantic import ValidationError

    from .core.sidecar import dump_sidecar

    values: dict[str, Any] = {
        "run_id": run_id,
        "project": project,
        "session_id": session_id,
        "build_id": build_id,
        "git_sha": git_sha,
        "branch": branch,
        "env_fingerprint": env_fingerprint,
        "env": env,
        "started_at": started,
        "finished_at": finished,
        "producer": producer,
        "tests": test_meta(records),
    }
    try:
        return dump_sidecar(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = [str(part) for part in first["loc"]]
        if len(where) > 1 and where[0] == "tests":
            test, where = where[1], where[2:]
            raise ValueError(
                f"test {test!r}: invalid {'.'.join(where)!r}: {first['msg']}"
            ) from None
        if not where:  # the model's own check (a NUL character) names the field
            raise ValueError(first["msg"].removeprefix("Value error, ")) from None
        raise ValueError(f"invalid {'.'.join(where)!r}: {first['msg']}") from None
