"""``parse_junit_xml``: a whole report, with retries folded and the sidecar applied."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

from .errors import SidecarError
from .fingerprint import error_fingerprint, error_type_of
from .identity import content_run_digest, test_id
from .junit import DEFAULT_MAX_OUTPUT, JUnitReader, ReportSource
from .names import infer_path, split_params
from .results import PASSING, Attempt, Report, RunInfo, Status, Suite, TestResult, Totals
from .sidecar import Sidecar, SidecarRun, find_sidecar, load_sidecar, parse_sidecar

DEFAULT_PROJECT = "default"
MetaSource = Sidecar | bytes | str | os.PathLike[str] | None


def parse_junit_xml(
    source: ReportSource,
    *,
    meta: MetaSource = None,
    project: str | None = None,
    detect_sidecar: bool = True,
    max_output: int = DEFAULT_MAX_OUTPUT,
) -> Report:
    """Parse a JUnit XML report (a path, bytes or a binary file object) into a :class:`Report`.

    ``meta`` is the sidecar (a path, its bytes, or a :class:`Sidecar`); when it is not given
    and ``source`` is a path, ``<report>.meta.json`` beside it is used if present. The project
    is ``project`` if given, else the sidecar's, else ``"default"``. Raises
    :class:`~pytest_testviz.core.errors.JUnitParseError` or ``SidecarError`` on bad input.
    """
    sidecar, sidecar_bytes = _sidecar(source, meta, detect_sidecar)
    project = resolve_project(project, sidecar)
    reader = JUnitReader(source, project=project, max_output=max_output)
    testcases: list[TestResult] = []
    for batch in reader.batches():
        testcases += batch
    results = fold_repeats(testcases)
    if sidecar is not None:
        apply_test_meta(results, sidecar)
    assert reader.sha256 is not None
    run = _run_info(reader, sidecar, project, content_run_digest(reader.sha256, sidecar_bytes))
    return Report(
        run=run,
        results=results,
        suites=reader.suites,
        totals=Totals.count(results),
        declared=reader.declared,
        codeowners=sidecar.codeowners if sidecar else None,
        nameless=reader.nameless,
        testcases=len(testcases),
        repeated=repeated_ids(testcases) if len(results) != len(testcases) else [],
    )


def resolve_project(project: str | None, sidecar: SidecarRun | None) -> str:
    """The run's project: the one given, else the sidecar's, else ``"default"``."""
    return project or (sidecar.project if sidecar else None) or DEFAULT_PROJECT


def _sidecar(
    source: ReportSource, meta: MetaSource, detect: bool
) -> tuple[Sidecar | None, bytes | None]:
    if isinstance(meta, Sidecar):
        return meta, meta.dump()
    if isinstance(meta, bytes):
        return parse_sidecar(meta), meta
    if meta is not None:
        return load_sidecar(meta)
    if detect and isinstance(source, (str, os.PathLike)):
        found = find_sidecar(source)
        if found is not None:
            return load_sidecar(found)
    return None, None


def fold_repeats(results: list[TestResult]) -> list[TestResult]:
    """Fold testcase elements that share a ``test_id`` (retries, reruns) into one test.

    The reader gives repeats the same id only where the producer's names are unique test ids
    (pytest, unittest, Go, this project's plugin) and the repeat is the same test (the same
    classname and name to the character, and the same ``file`` where the report gives one);
    other repeats already have distinct ids and are left alone. The folded test has the final
    attempt's outcome; it is ``flaky`` when it passed in the end after earlier tries (only a
    failed test is rerun), and not when it never passed. pytest writes a test that fails and
    then errors in teardown as two elements: that is one attempt, reported as failed.
    """
    if len({result.test_id for result in results}) == len(results):
        return results  # nothing repeats (the common case), so nothing to fold
    groups: dict[str, list[TestResult]] = {}
    for result in results:
        groups.setdefault(result.test_id, []).append(result)
    return [group[0] if len(group) == 1 else _fold(group) for group in groups.values()]


def repeated_ids(results: list[TestResult]) -> list[str]:
    """The ``test_id`` of every test with more than one result in ``results``."""
    counts = Counter(result.test_id for result in results)
    return [identity for identity, count in counts.items() if count > 1]


def _fold(group: list[TestResult]) -> TestResult:
    tries: list[TestResult] = []
    for result in group:
        if tries and _is_teardown_error(result) and tries[-1].status in ("failed", "error"):
            previous = tries[-1]
            note = f"then {result.message}" + (f"\n{result.text}" if result.text else "")
            previous.text = f"{previous.text}\n\n{note}" if previous.text else note
            continue
        tries.append(result)
    final = tries[-1]
    earlier = tries[:-1]
    if earlier:
        final.attempts = [
            Attempt(t.status, t.error_type, t.message, t.text)
            for t in earlier
            if t.status in ("failed", "error")
        ] + final.attempts
        # Only a failed test is run again, so a final pass after earlier tries is flaky.
        # A test that never passed is not flaky, whatever mix of failures it had: it failed.
        final.flaky = final.flaky or final.status in PASSING
    final.occurrence = 1
    return final


def _is_teardown_error(result: TestResult) -> bool:
    return result.status == "error" and (result.message or "").startswith("failed on teardown")


def apply_test_meta(results: list[TestResult], sidecar: Sidecar) -> None:
    """Apply the sidecar's per-test entries, keyed by ``test_id`` or ``classname::name``."""
    if not sidecar.tests:
        return
    for result in results:
        meta = sidecar.tests.get(result.test_id) or sidecar.tests.get(
            f"{result.classname}::{result.name}"
        )
        if meta is None:
            continue
        if meta.tags:
            result.tags = list(meta.tags)
        if meta.owner:
            result.owner = meta.owner
        if meta.markers:
            result.markers = list(meta.markers)
        if meta.source_hash:
            result.source_hash = meta.source_hash
        if meta.outcome == "xpassed" and result.status == "passed":
            result.status = "xpassed"  # JUnit XML has no word for it: pytest writes a pass
        elif meta.outcome == "xfailed" and result.status == "skipped":
            result.status = "xfailed"
        if meta.subtests_failed or meta.subtests_passed:
            result.subtests_failed = meta.subtests_failed
            result.subtests_passed = meta.subtests_passed
        if meta.attempts and not result.attempts:
            result.attempts = [
                Attempt(a.status, a.error_type, a.message, a.text) for a in meta.attempts
            ]
            result.flaky = result.flaky or result.status in PASSING


def _run_info(
    reader: JUnitReader, sidecar: Sidecar | None, project: str, content_id: str
) -> RunInfo:
    first: Suite | None = reader.suites[0] if reader.suites else None
    timestamps = [suite.timestamp for suite in reader.suites if suite.timestamp]
    run = RunInfo(
        run_id=content_id,
        project=project,
        started_at=min(timestamps) if timestamps else None,
        hostname=first.hostname if first else None,
        source=Path(reader.name).name if not reader.name.startswith("<") else None,
    )
    if sidecar is None:
        return run
    run.run_id = sidecar.run_id or content_id
    run.session_id = sidecar.session_id
    run.build_id = sidecar.build_id
    run.git_sha = sidecar.git_sha.lower() if sidecar.git_sha else None
    run.branch = sidecar.branch
    run.env_fingerprint = sidecar.env_fingerprint
    run.env = dict(sidecar.env)
    if sidecar.started_at:
        run.started_at = sidecar.started_at.isoformat()
    if sidecar.finished_at:
        run.finished_at = sidecar.finished_at.isoformat()
    return run


__all__ = [
    "DEFAULT_PROJECT",
    "SidecarError",
    "apply_test_meta",
    "build_result",
    "fold_repeats",
    "parse_junit_xml",
    "repeated_ids",
]


def build_result(
    project: str,
    *,
    name: str,
    classname: str,
    status: Status,
    occurrence: int = 1,
    **fields: Any,
) -> TestResult:
    """A :class:`TestResult` from structured fields (a JSON upload), derived as the parser
    derives them: the same ``test_id``, parameter split, inferred file and fingerprint."""
    base_name, params = split_params(name)
    result = TestResult(
        test_id=test_id(project, classname, name, occurrence),
        name=name,
        classname=classname,
        base_name=base_name,
        params=params,
        suite=tuple(fields.pop("suite", ()) or ()),
        status=status,
        occurrence=occurrence,
        **fields,
    )
    if result.file is None:
        result.file = infer_path(classname, name)
    if status in ("failed", "error"):
        result.error_type = error_type_of(result.error_type, result.message)
        result.fingerprint = error_fingerprint(
            result.error_type, result.message, result.text, f"{classname}::{name}"
        )
    else:
        result.error_type = None
    return result
