"""What ingest keeps up to date for the visualizer, in the run's own transaction.

The pages must answer from millions of results in milliseconds, so the questions that would
need a scan of the whole history are answered here, once per run, from the run's own results:

* failure group membership (which tests a fingerprint has hit, and in how many runs);
* each test's latest pass/fail outcome per environment, whose changes are *flips*;
* flaky evidence: a pass after reruns, pass and fail on the same git sha in the same
  environment, and flips. A test that fails only in one environment never flips in any
  environment, so it shows as environment-specific instead of flaky.

Only tests whose outcome changed are written, so a run where nothing changed writes nothing
here beyond its failures.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from pytest_testviz.core import Report

from ..storage.bulk import (
    BulkInsert,
    BulkSelect,
    BulkUpdate,
    chunks,
    execute_rows,
    insert_rows,
    select_in,
    unique_key,
)
from ..storage.engine import AnySession
from ..storage.models import FailureGroupTest, FlakyEvidence, Run, TestEnvStatus, TestResultRow

FAILING = ("failed", "error")
#: A piece of flaky evidence: the definition's pk, its kind and its detail.
Evidence = tuple[int, str, dict[str, Any]]

_EVIDENCE = FlakyEvidence.__table__
_ENV = TestEnvStatus.__table__
_GROUP_TESTS = FailureGroupTest.__table__

_NEW_EVIDENCE = BulkInsert(
    (
        _EVIDENCE.c.project,
        _EVIDENCE.c.run_pk,
        _EVIDENCE.c.definition_pk,
        _EVIDENCE.c.kind,
        _EVIDENCE.c.detail,
    ),
    on_conflict=unique_key(_EVIDENCE),
)
_ENV_COLUMNS = (
    _ENV.c.definition_pk,
    _ENV.c.env_key,
    _ENV.c.project,
    _ENV.c.outcome,
    _ENV.c.branch,
    _ENV.c.since_run_pk,
    _ENV.c.last_run_pk,
)
#: Rows of tests created by this transaction cannot collide with anyone's: straight in.
_NEW_ENV = BulkInsert(_ENV_COLUMNS)
_FIRST_ENV = BulkInsert(_ENV_COLUMNS, on_conflict=unique_key(_ENV))
_KNOWN_ENV = BulkSelect(
    (_ENV.c.definition_pk, _ENV.c.outcome, _ENV.c.last_run_pk, _ENV.c.branch),
    where=(_ENV.c.env_key,),
    key=_ENV.c.definition_pk,
)
#: An older run arriving late does not rewrite what a newer run established.
_CHANGED_ENV = BulkUpdate(
    (_ENV.c.outcome, _ENV.c.branch, _ENV.c.since_run_pk, _ENV.c.last_run_pk),
    where=(_ENV.c.definition_pk, _ENV.c.env_key),
    older=_ENV.c.last_run_pk,
)
_GROUP_TEST_COUNTS = BulkInsert(
    (
        _GROUP_TESTS.c.project,
        _GROUP_TESTS.c.fingerprint,
        _GROUP_TESTS.c.definition_pk,
        _GROUP_TESTS.c.occurrences,
        _GROUP_TESTS.c.first_run_pk,
        _GROUP_TESTS.c.last_run_pk,
    ),
    on_conflict=unique_key(_GROUP_TESTS),
    add=(_GROUP_TESTS.c.occurrences,),
    replace=(_GROUP_TESTS.c.last_run_pk,),
)


def outcome_of(status: str) -> str | None:
    """``pass``, ``fail``, or None for a skip, an xfail or an xpass: none says anything about
    flakiness (an xfail-marked test is declared unreliable, so xfailed/xpassed is no flip)."""
    if status == "passed":
        return "pass"
    if status in FAILING:
        return "fail"
    return None


def update_aggregates(
    session: AnySession,
    report: Report,
    run_pk: int,
    definition_pks: dict[str, int],
    created: set[int] | frozenset[int] = frozenset(),
) -> None:
    """Fold one freshly inserted run into the aggregate tables; ``created`` are the
    definitions this transaction inserted, which nothing else can refer to yet."""
    outcomes: dict[int, str] = {}
    reruns: list[int] = []
    fingerprints: dict[tuple[str, int], int] = {}
    for result in report.results:
        pk = definition_pks[result.test_id]
        outcome = outcome_of(result.status)
        if outcome is not None:
            outcomes[pk] = outcome
        if result.flaky:
            reruns.append(pk)
        if result.fingerprint is not None:
            key = (result.fingerprint, pk)
            fingerprints[key] = fingerprints.get(key, 0) + 1
    project = report.run.project
    evidence: list[Evidence] = [(pk, "rerun", {}) for pk in sorted(set(reruns))]
    evidence += _flips(session, report, run_pk, outcomes, created)
    if report.run.git_sha:
        evidence += _same_sha(session, report, run_pk, outcomes)
    insert_rows(
        session,
        _NEW_EVIDENCE,
        [(project, run_pk, pk, kind, json.dumps(detail)) for pk, kind, detail in evidence],
    )
    _failure_group_tests(session, project, run_pk, fingerprints)


def _flips(
    session: AnySession,
    report: Report,
    run_pk: int,
    outcomes: dict[int, str],
    created: set[int] | frozenset[int],
) -> list[Evidence]:
    """Update each test's latest outcome in this environment; a change on the branch that set
    the previous outcome is a flip."""
    project, branch = report.run.project, report.run.branch
    env_key = report.run.env_fingerprint or ""
    pks = sorted(outcomes)
    known: dict[int, tuple[str, int, str | None]] = {
        pk: (outcome, last, last_branch)
        for pk, outcome, last, last_branch in select_in(
            session,
            _KNOWN_ENV,
            (env_key,),
            [pk for pk in pks if pk not in created],  # a new test has no outcome yet
        )
    }
    first = [
        (pk, env_key, project, outcomes[pk], branch, run_pk, run_pk)
        for pk in pks
        if pk not in known
    ]
    # An older run arriving late does not rewrite what a newer run established.
    changed = [
        pk for pk in pks if pk in known and known[pk][0] != outcomes[pk] and known[pk][1] < run_pk
    ]
    insert_rows(session, _NEW_ENV, [row for row in first if row[0] in created])
    insert_rows(session, _FIRST_ENV, [row for row in first if row[0] not in created])
    execute_rows(
        session,
        _CHANGED_ENV,
        [(outcomes[pk], branch, run_pk, run_pk, pk, env_key, run_pk) for pk in changed],
    )
    return [
        (
            pk,
            "flip",
            {"from": known[pk][0], "to": outcomes[pk], "env": env_key or None, "branch": branch},
        )
        for pk in changed
        if known[pk][2] == branch
    ]


def _same_sha(
    session: AnySession, report: Report, run_pk: int, outcomes: dict[int, str]
) -> list[Evidence]:
    """Tests that passed on this git sha in one run and failed in another, same environment."""
    env = report.run.env_fingerprint
    others = dict(
        session.execute(
            select(Run.id, Run.run_id).where(
                Run.project == report.run.project,
                Run.git_sha == report.run.git_sha,
                Run.id != run_pk,
                Run.env_fingerprint.is_(None) if env is None else Run.env_fingerprint == env,
            )
        ).all()
    )
    if not others:
        return []
    found: dict[int, int] = {}
    failing = sorted(pk for pk, outcome in outcomes.items() if outcome == "fail")
    for chunk in chunks(failing):
        rows = session.execute(
            select(TestResultRow.definition_pk, TestResultRow.run_pk).where(
                TestResultRow.run_pk.in_(others),
                TestResultRow.definition_pk.in_(chunk),
                TestResultRow.status == "passed",
            )
        )
        found.update((pk, other) for pk, other in rows)
    rows = session.execute(
        select(TestResultRow.definition_pk, TestResultRow.run_pk).where(
            TestResultRow.run_pk.in_(others), TestResultRow.status.in_(FAILING)
        )
    )
    found.update((pk, other) for pk, other in rows if outcomes.get(pk) == "pass")
    return [
        (pk, "same_sha", {"other_run_id": others[other]}) for pk, other in sorted(found.items())
    ]


def _failure_group_tests(
    session: AnySession, project: str, run_pk: int, fingerprints: dict[tuple[str, int], int]
) -> None:
    insert_rows(
        session,
        _GROUP_TEST_COUNTS,
        [
            (project, fingerprint, pk, count, run_pk, run_pk)
            for (fingerprint, pk), count in fingerprints.items()
        ],
    )
