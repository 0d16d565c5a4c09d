"""Writing a run as JUnit XML (what every tool reads) plus the sidecar (what XML cannot say).

The XML follows pytest's own ``junit_family=xunit2`` output, so the same tests get the same
``test_id`` from either file and other JUnit consumers read it as they read pytest's. Reruns,
owners, tags and source hashes go into the sidecar.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from .capture import TestRecord, xml_safe
from .core.results import Attempt, cap_text
from .core.sidecar_limits import SCHEMA_VERSION, entry_fits, run_fits

PRODUCER_PROPERTY = "testviz.producer"


def _escape(value: str) -> str:
    """``xml.sax.saxutils.escape``, without importing it (it pulls in ``urllib.request``)."""
    if "&" in value:
        value = value.replace("&", "&amp;")
    if ">" in value:
        value = value.replace(">", "&gt;")
    if "<" in value:
        value = value.replace("<", "&lt;")
    return value


def _attr(value: str) -> str:
    """The quoted attribute value ``xml.sax.saxutils.quoteattr`` writes, for XML-safe text."""
    value = _escape(xml_safe(value))
    if "\n" in value or "\r" in value or "\t" in value:
        value = value.replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;")
    if '"' in value:
        if "'" in value:
            return '"' + value.replace('"', "&quot;") + '"'
        return "'" + value + "'"
    return '"' + value + '"'


def _text(value: str) -> str:
    return _escape(xml_safe(value))


def _testcase(record: TestRecord, classname: str, max_output: int) -> str:
    """One ``<testcase>``; ``classname`` is the record's, already quoted."""
    head = f'<testcase classname={classname} name={_attr(record.name)} time="{record.duration:.3f}"'
    status = record.status
    if status == "passed" and not (record.stdout or record.stderr or record.stderr_extra):
        return head + "/>"  # most tests: nothing more to say
    body: list[str] = []
    if record.subtest_failures:
        # One <failure> per failed subtest, as pytest writes them.
        for failure in record.subtest_failures:
            message = _attr(failure.message or "")
            body.append(f"<failure message={message}>{_text(failure.text or '')}</failure>")
    elif status in ("failed", "error"):
        # No ``type``: pytest writes none, and the parser derives it from the message alike.
        tag = "failure" if status == "failed" else "error"
        message = _attr(record.message or "")
        body.append(f"<{tag} message={message}>{_text(record.text or '')}</{tag}>")
    elif status in ("skipped", "xfailed"):
        message = _attr(record.message or "")
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
        if record.status == "xfailed":
            counts["skipped"] += 1  # pytest counts an xfail among the skipped
        elif record.status in counts:
            counts[record.status] += 1
    quoted: dict[str, str] = {}  # a module's tests share their classname
    cases: list[str] = []
    for record in records:
        classname = quoted.get(record.classname)
        if classname is None:
            classname = quoted[record.classname] = _attr(record.classname)
        cases.append(_testcase(record, classname, max_output))
    suite = (
        f'<testsuite name="pytest" errors="{counts["error"]}" failures="{counts["failed"]}" '
        f'skipped="{counts["skipped"]}" tests="{len(records)}" time="{duration:.3f}" '
        f"timestamp={_attr(started.isoformat())} hostname={_attr(hostname)}>"
        f"<properties><property name={_attr(PRODUCER_PROPERTY)} value={_attr(producer)}/>"
        f"</properties>{''.join(cases)}</testsuite>"
    )
    head = '<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">'
    return f"{head}{suite}</testsuites>\n".encode()


def test_meta(records: Iterable[TestRecord]) -> dict[str, dict[str, Any]]:
    """Per-test sidecar entries, keyed by ``classname::name``; only tests with something to say.

    Plain JSON-ready dicts, already in the shape :meth:`Sidecar.dump` writes (fields in the
    model's order, no empty ones): built directly rather than through 10,000 pydantic models.
    """
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
        entry: dict[str, Any] = {}
        if meta:
            for key in ("tags", "owner", "markers", "source_hash"):
                value = meta.get(key)
                if value:
                    entry[key] = value
        entry["nodeid"] = record.nodeid
        if record.attempts:
            entry["attempts"] = [_attempt(attempt) for attempt in record.attempts]
        if record.status == "xpassed":
            entry["outcome"] = "xpassed"
        if record.subtests_failed:
            entry["subtests_failed"] = record.subtests_failed
        if record.subtests_passed:
            entry["subtests_passed"] = record.subtests_passed
        entries[f"{record.classname}::{record.name}"] = entry
    return entries


test_meta.__test__ = False  # type: ignore[attr-defined]


def _attempt(attempt: Attempt) -> dict[str, Any]:
    entry: dict[str, Any] = {}
    if attempt.status == "error":  # "failed" is the default, left out
        entry["status"] = "error"
    for key, value in (
        ("error_type", attempt.error_type),
        ("message", attempt.message),
        ("text", attempt.text),
    ):
        if value is not None:
            entry[key] = value
    return entry


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
) -> bytes:
    """The sidecar's bytes, as :meth:`Sidecar.dump` writes them and :class:`Sidecar` accepts.

    A value the schema refuses (an owner longer than 1,024 characters, a NUL character) is a
    ``ValueError`` naming the field. Values :mod:`.core.sidecar_limits` recognises as fitting
    are written as they are; only the others go through the pydantic models, so a usual run
    does not import pydantic at all.
    """
    fields: dict[str, Any] = {
        "run_id": run_id,
        "project": project,
        "session_id": session_id,
        "git_sha": git_sha,
        "branch": branch,
        "env_fingerprint": env_fingerprint,
        "env": env,
        "started_at": started,
        "finished_at": finished,
        "producer": producer,
    }
    document: dict[str, Any] = {"schema_version": SCHEMA_VERSION}
    if run_fits(fields):
        document.update(
            (name, _json_time(value) if isinstance(value, datetime) else value)
            for name, value in fields.items()
            if value is not None and value != {}
        )
    else:
        from .core.sidecar import Sidecar

        run = Sidecar.model_validate(fields)
        document.update(run.model_dump(mode="json", exclude_none=True, exclude_defaults=True))
    tests = test_meta(records)
    for key, entry in tests.items():
        if not entry_fits(entry):
            _validate_entry(key, entry)
    if tests:
        document["tests"] = tests
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    if "\\u0000" in text:  # json.dumps writes a NUL as \u0000: let the model say where
        from .core.sidecar import Sidecar

        Sidecar.model_validate(document)
    return text.encode() + b"\n"


def _json_time(value: datetime) -> str:
    """A time as pydantic writes it in JSON: ISO 8601, ``Z`` for UTC."""
    text = value.isoformat()
    return text[: -len("+00:00")] + "Z" if text.endswith("+00:00") else text


def _validate_entry(key: str, entry: dict[str, Any]) -> None:
    from pydantic import ValidationError

    from .core.sidecar import TestMeta

    try:
        TestMeta.model_validate(entry)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"test {key!r}: invalid {where!r}: {first['msg']}") from None
