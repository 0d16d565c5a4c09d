"""``ingest_run``: store one run, whole or not at all, exactly once per ``run_id``.

Idempotency rests on the unique constraint on ``runs.run_id`` (``INSERT ... ON CONFLICT DO
NOTHING``), never on a check-then-insert, so concurrent posts of one run from several workers
or instances create it once. Everything of a run is written in one transaction, in bulk.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import json
import logging
import math
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any, TypeVar

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.exc import DBAPIError, OperationalError

from pytest_testviz.core import Report
from pytest_testviz.core.results import TestResult, cap_text

from ..history.aggregates import update_aggregates
from ..jobs.queue import enqueue
from ..storage.bulk import (
    DRIVER_ERRORS,
    BulkInsert,
    BulkSelect,
    BulkUpdate,
    bind_processor,
    dialect_insert,
    execute_in,
    insert_new_returning,
    insert_rows,
    select_in,
    unique_key,
)
from ..storage.engine import AnySession, begin_write
from ..storage.models import FailureGroup, Run, TestDefinition, TestResultRow
from ..web.schemas import IngestCounts, IngestRunRequest, IngestRunResponse
from .reports import report_from_request

log = logging.getLogger(__name__)

#: Stored message and traceback text are capped; the cap is noted in the text.
TEXT_CAP = 64 * 1024
#: The largest count an integer column holds.
COUNT_MAX = 2**31 - 1
_RETRIES = 6
#: Attempts of a run's ``analysis`` job (see :mod:`server.ingest.analysis`).
ANALYSIS_ATTEMPTS = 3
T = TypeVar("T")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def ingest_run(payload: IngestRunRequest | Report, session: AnySession) -> IngestRunResponse:
    """Store a run; ``status`` is ``created``, or ``skipped`` when the run_id is known."""
    report = payload if isinstance(payload, Report) else report_from_request(payload)
    with _cyclic_gc_paused():
        return _retrying(lambda: _ingest(report, session), session)


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """A big ingest allocates a few objects per test, and each full collection would walk
    the whole report again (a seventh of a 100,000-test ingest's time); nothing built here
    needs the cycle collector before it is over."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


_RETRYABLE: tuple[type[Exception], ...] = (OperationalError, DBAPIError, *DRIVER_ERRORS)


def _retrying(work: Callable[[], T], session: AnySession) -> T:
    """Run a write transaction again when the database asks for it (lock, deadlock)."""
    for attempt in range(_RETRIES):
        try:
            return work()
        except _RETRYABLE as exc:
            # The bulk paths use the driver directly, so its own errors arrive unwrapped.
            session.rollback()
            if attempt == _RETRIES - 1 or not _is_transient(exc):
                raise
            log.info("ingest retried after a transient database error: %s", exc)
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")


def _is_transient(exc: Exception) -> bool:
    cause = exc.orig if isinstance(exc, DBAPIError) else exc
    text = str(cause).lower()
    code = getattr(cause, "sqlstate", None)
    return "database is locked" in text or "deadlock" in text or code in {"40001", "40P01", "55P03"}


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    try:
        in_utc = parsed.astimezone(timezone.utc)
    except OverflowError:
        return None
    # A time outside these years is a producer's bug, and PostgreSQL cannot read back a
    # timestamp past year 9999 at all: keep nothing rather than a row that breaks every read.
    return in_utc if 1970 <= in_utc.year <= 9000 else None


def _cap(text: str | None) -> str | None:
    return cap_text(text, TEXT_CAP)


def _counts(report: Report, new_definitions: int, groups: int) -> IngestCounts:
    return IngestCounts(
        **report.totals.to_json(), new_definitions=new_definitions, failure_groups=groups
    )


def _ingest(report: Report, session: AnySession) -> IngestRunResponse:
    now = utcnow()
    run = report.run
    begin_write(session)
    runs = Run.__table__
    run_pk = session.execute(
        dialect_insert(session, runs)
        .values(**_run_row(report, now))
        .on_conflict_do_nothing(index_elements=["run_id"])
        .returning(runs.c.id)
    ).scalar()
    if run_pk is None:
        session.rollback()
        return IngestRunResponse(run_id=run.run_id, status="skipped", counts=_counts(report, 0, 0))
    definition_pks, created = _upsert_definitions(session, report, run_pk, now)
    new_definitions = len(created)
    _insert_results(session, report.results, definition_pks, run_pk)
    groups = _upsert_failure_groups(session, report, run_pk, now)
    update_aggregates(session, report, run_pk, definition_pks, created)
    # Owners and integrity come after, in a worker; queued with the run, so never lost.
    enqueue(session, "analysis", run.run_id, max_attempts=ANALYSIS_ATTEMPTS)
    session.commit()
    if new_definitions >= 10_000 and session.get_bind().dialect.name == "postgresql":
        # Fresh statistics, or the planner keeps guessing for the next big upload's lookups
        # (measured: 77 ms instead of 4 ms per batch until autovacuum gets round to it).
        session.execute(text("ANALYZE test_definitions"))
        session.commit()
    log.info(
        "ingested run %s (%s): %d tests, %d new definitions",
        run.run_id,
        run.project,
        report.totals.tests,
        new_definitions,
    )
    return IngestRunResponse(
        run_id=run.run_id, status="created", counts=_counts(report, new_definitions, groups)
    )


def _run_row(report: Report, now: datetime) -> dict[str, Any]:
    run, totals, declared = report.run, report.totals, report.declared
    started, finished = _parse_time(run.started_at), _parse_time(run.finished_at)
    duration = (
        (finished - started).total_seconds()
        if started and finished and finished >= started
        else sum(result.duration for result in report.results)
    )
    if not math.isfinite(duration):
        # Finite durations can add up to infinity, which the API would write as the
        # invalid JSON token `Infinity` (found by schemathesis): keep the largest float.
        duration = sys.float_info.max
    notes: dict[str, Any] = {}
    if report.repeated:
        notes["repeated_test_ids"] = report.repeated[:1000]
        notes["repeated_count"] = len(report.repeated)
    if report.nameless:
        notes["nameless_testcases"] = report.nameless
    return {
        "run_id": run.run_id,
        "project": run.project,
        "branch": run.branch,
        "git_sha": run.git_sha,
        "session_id": run.session_id,
        "build_id": run.build_id,
        "env_fingerprint": run.env_fingerprint,
        "env": run.env,
        "hostname": (run.hostname or "")[:255] or None,
        "source": run.source,
        "started_at": started,
        "finished_at": finished,
        "ingested_at": now,
        "duration": duration,
        "tests": totals.tests,
        "passed": totals.passed,
        "failed": totals.failed,
        "errors": totals.errors,
        "skipped": totals.skipped,
        "xfailed": totals.xfailed,
        "xpassed": totals.xpassed,
        # Each test's counts fit the column; their sum over a run may not (a bogus report).
        "subtests_failed": min(totals.subtests_failed, COUNT_MAX),
        "subtests_passed": min(totals.subtests_passed, COUNT_MAX),
        "flaky": sum(1 for result in report.results if result.flaky),
        "testcases": report.testcases or totals.tests,
        "declared_tests": declared.tests,
        "declared_failures": declared.failures,
        "declared_errors": declared.errors,
        "declared_skipped": declared.skipped,
        "notes": notes,
        "codeowners": report.codeowners,
        "mapping_state": "pending",
        "integrity_state": "pending",
    }


_DEFINITIONS = TestDefinition.__table__
_RESULTS = TestResultRow.__table__
_GROUPS = FailureGroup.__table__

#: What the producer declares about a test, compared through ``declared_hash``.
_DECLARED_COLUMNS = (
    _DEFINITIONS.c.suite,
    _DEFINITIONS.c.file,
    _DEFINITIONS.c.line,
    _DEFINITIONS.c.source_hash,
    _DEFINITIONS.c.declared_owner,
    _DEFINITIONS.c.declared_tags,
    _DEFINITIONS.c.markers,
)
_NEW_DEFINITIONS = BulkInsert(
    (
        _DEFINITIONS.c.project,
        _DEFINITIONS.c.test_id,
        _DEFINITIONS.c.name,
        _DEFINITIONS.c.base_name,
        _DEFINITIONS.c.params,
        _DEFINITIONS.c.classname,
        *_DECLARED_COLUMNS,
        _DEFINITIONS.c.declared_hash,
        _DEFINITIONS.c.tags,
        _DEFINITIONS.c.first_seen_at,
        _DEFINITIONS.c.last_seen_at,
        _DEFINITIONS.c.first_run_pk,
        _DEFINITIONS.c.last_run_pk,
    ),
    on_conflict=unique_key(_DEFINITIONS),
    returning=_DEFINITIONS.c.test_id,
)
_STORED_DEFINITIONS = BulkSelect(
    (_DEFINITIONS.c.id, _DEFINITIONS.c.test_id, _DEFINITIONS.c.declared_hash),
    where=(_DEFINITIONS.c.project,),
    key=_DEFINITIONS.c.test_id,
)
_SEEN_AGAIN = BulkUpdate(
    (_DEFINITIONS.c.last_seen_at, _DEFINITIONS.c.last_run_pk),
    older=_DEFINITIONS.c.last_run_pk,
    key=_DEFINITIONS.c.id,
)
_DECLARED_CHANGED = (
    update(_DEFINITIONS)
    .where(_DEFINITIONS.c.id == bindparam("b_id"))
    .values(
        {
            column.name: bindparam(f"b_{column.name}")
            for column in (*_DECLARED_COLUMNS, _DEFINITIONS.c.declared_hash)
        }
    )
)
_NEW_RESULTS = BulkInsert(
    (
        _RESULTS.c.run_pk,
        _RESULTS.c.definition_pk,
        _RESULTS.c.status,
        _RESULTS.c.flaky,
        _RESULTS.c.duration,
        _RESULTS.c.error_type,
        _RESULTS.c.message,
        _RESULTS.c.text,
        _RESULTS.c.fingerprint,
        _RESULTS.c.attempts,
        _RESULTS.c.subtests_failed,
        _RESULTS.c.subtests_passed,
    )
)
_GROUP_COUNTS = BulkInsert(
    (
        _GROUPS.c.project,
        _GROUPS.c.fingerprint,
        _GROUPS.c.error_type,
        _GROUPS.c.example_message,
        _GROUPS.c.example_text,
        _GROUPS.c.occurrences,
        _GROUPS.c.runs_affected,
        _GROUPS.c.first_seen_at,
        _GROUPS.c.last_seen_at,
        _GROUPS.c.first_run_pk,
        _GROUPS.c.last_run_pk,
    ),
    on_conflict=unique_key(_GROUPS),
    add=(_GROUPS.c.occurrences, _GROUPS.c.runs_affected),
    replace=(_GROUPS.c.last_seen_at, _GROUPS.c.last_run_pk),
)


@functools.lru_cache(maxsize=1024)
def _suite_json(suite: tuple[str, ...]) -> str:
    return json.dumps(list(suite), ensure_ascii=False)  # tests of a module share their suite


def _declared_hash(declared: tuple[Any, ...]) -> str:
    """A stable digest of the declared fields (same values, same digest, in any process):
    ``declared`` holds them in ``_DECLARED_COLUMNS`` order, the lists as lists."""
    return hashlib.blake2b(repr(declared).encode(), digest_size=16).hexdigest()


def _declared(result: TestResult) -> tuple[Any, ...]:
    """The definition's declared fields as the producer sent them, in ``_DECLARED_COLUMNS``
    order: the suite as JSON text, the tags and markers as lists."""
    return (
        _suite_json(result.suite) if result.suite else None,
        result.file,
        result.line,
        result.source_hash,
        result.owner,
        list(result.tags),
        list(result.markers),
    )


def _upsert_definitions(
    session: AnySession, report: Report, run_pk: int, now: datetime
) -> tuple[dict[str, int], set[int]]:
    """Make sure every test has a definition; returns ``test_id -> pk`` and the pks of the
    definitions this transaction created (no other transaction can know them yet)."""
    project = report.run.project
    wanted = {result.test_id: result for result in report.results}
    ids = sorted(wanted)  # one lock order for every writer: no deadlocks between runs
    declared = {test_id: _declared(wanted[test_id]) for test_id in ids}
    digests = {test_id: _declared_hash(fields) for test_id, fields in declared.items()}
    known: dict[str, int] = {}
    changed: list[dict[str, Any]] = []  # bound parameters of the update below
    if _has_definitions(session, project):  # else this project's first run: nothing to find
        for pk, test_id, stored_hash in select_in(session, _STORED_DEFINITIONS, (project,), ids):
            known[test_id] = pk
            if digests[test_id] != stored_hash:
                fields = zip(_DECLARED_COLUMNS, declared[test_id], strict=True)
                changed.append(
                    {
                        "b_id": pk,
                        "b_declared_hash": digests[test_id],
                        **{f"b_{column.name}": value for column, value in fields},
                    }
                )

    stamp = bind_processor(session, _DEFINITIONS.c.last_seen_at)(now)
    # New definitions get their ids in the report's order on SQLite, so the results, written
    # in that order, go to the end of their indexes instead of all over them (a 100,000-test
    # first run: 1 s instead of 2.2 s). Writers there take turns, so no lock order is needed;
    # on PostgreSQL the insert takes them in key order, one lock order for every writer.
    order = ids if session.get_bind().dialect.name == "postgresql" else wanted
    missing = [test_id for test_id in order if test_id not in known]
    inserted: list[tuple[int, Any]] = []
    if missing:
        rows_to_insert = []
        for test_id in missing:
            result = wanted[test_id]
            suite, file, line, source_hash, owner, tags, markers = declared[test_id]
            rows_to_insert.append(
                (
                    project,
                    test_id,
                    result.name,
                    result.base_name,
                    result.params,
                    result.classname,
                    suite,
                    file,
                    line,
                    source_hash,
                    owner,
                    _json_list(tags),
                    _json_list(markers),
                    digests[test_id],
                    "[]",  # tags: mapping resolution decides them
                    stamp,
                    stamp,
                    run_pk,
                    run_pk,
                )
            )
        inserted = insert_new_returning(session, _NEW_DEFINITIONS, rows_to_insert)
        for pk, test_id in inserted:
            known[test_id] = pk
        # Created by a concurrent run between our read and our insert.
        raced = [test_id for test_id in missing if test_id not in known]
        for pk, test_id, _ in select_in(session, _STORED_DEFINITIONS, (project,), raced):
            known[test_id] = pk

    created = {pk for pk, _ in inserted}
    execute_in(
        session,
        _SEEN_AGAIN,
        (stamp, run_pk, run_pk),
        sorted(pk for pk in known.values() if pk not in created),
    )
    if changed:
        session.execute(_DECLARED_CHANGED, changed)
    return known, created


def _has_definitions(session: AnySession, project: str) -> bool:
    return (
        session.execute(
            select(TestDefinition.id).where(TestDefinition.project == project).limit(1)
        ).first()
        is not None
    )


def _json_list(values: list[str]) -> str:
    """A list as the text of a JSON column, as SQLAlchemy's default serializer writes it
    (text, so that PostgreSQL's ``COPY`` takes it as it is); most lists are empty."""
    return json.dumps(values) if values else "[]"


def _insert_results(
    session: AnySession, results: list[TestResult], definition_pks: dict[str, int], run_pk: int
) -> None:
    # The values are what the driver takes as they are (a bool is stored as SQLite's 1 or 0).
    # A count of 0 is stored as NULL: a test without subtests has nothing in its row for them.
    rows = [
        (
            run_pk,
            definition_pks[result.test_id],
            result.status,
            result.flaky,
            result.duration,
            result.error_type[:512] if result.error_type else None,
            _cap(result.message),
            _cap(result.text),
            result.fingerprint,
            len(result.attempts),
            result.subtests_failed or None,
            result.subtests_passed or None,
        )
        for result in results
    ]
    insert_rows(session, _NEW_RESULTS, rows)


def _upsert_failure_groups(session: AnySession, report: Report, run_pk: int, now: datetime) -> int:
    """Count this run's failures into their groups (project x fingerprint)."""
    occurrences: dict[str, int] = {}
    examples: dict[str, TestResult] = {}
    for result in report.results:
        fingerprint = result.fingerprint
        if fingerprint is not None:
            if fingerprint in occurrences:
                occurrences[fingerprint] += 1
            else:
                occurrences[fingerprint] = 1
                examples[fingerprint] = result
    if not occurrences:
        return 0
    stamp = bind_processor(session, _GROUPS.c.last_seen_at)(now)
    project = report.run.project
    rows = []
    for fingerprint, example in examples.items():
        error_type = example.error_type
        rows.append(
            (
                project,
                fingerprint,
                error_type[:512] if error_type else None,
                _cap(example.message),
                _cap(example.text),
                occurrences[fingerprint],
                1,  # runs_affected: added to the stored count
                stamp,
                stamp,
                run_pk,
                run_pk,
            )
        )
    insert_rows(session, _GROUP_COUNTS, rows)
    return len(rows)
