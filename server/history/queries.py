"""Queries over stored history, shared by the JSON API and the pages.

Each answers from an index or a table ingest keeps up to date (``aggregates.py``), never from a
scan of every result, so the pages stay fast with millions of results stored.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, or_, select

from pytest_testviz.core.results import PASSING

from ..storage.bulk import BulkSelect, chunks, raw_select
from ..storage.engine import AnySession
from ..storage.models import (
    FailureGroup,
    FailureGroupTest,
    IntegritySignal,
    Run,
    TestDefinition,
    TestResultRow,
)
from ..web.schemas import Page, ResultOut, RunGroup, SignalTest
from ..web.schemas_history import (
    DiffItem,
    DiffSection,
    GroupDetail,
    GroupList,
    GroupOccurrence,
    GroupSummary,
    GroupTest,
    HistoryPoint,
    LinkedTest,
    ProjectOut,
    RunDiff,
    SignalItem,
    SignalList,
    TestFailureGroup,
    TestHistory,
    TestOut,
    TrendPoint,
)
from .flaky import flakiness_of

DIFF_SHOWN = 200
FAILING = ("failed", "error")


def pass_rate(passed: int, xpassed: int, failed: int, errors: int) -> float | None:
    """Passed and xpassed among passed, xpassed, failed and errors (skips and xfails left out)."""
    ran = passed + xpassed + failed + errors
    return round((passed + xpassed) / ran, 4) if ran else None


def run_ids(session: AnySession, pks: Iterable[int | None]) -> dict[int, str]:
    wanted = sorted({pk for pk in pks if pk is not None})
    found: dict[int, str] = {}
    for chunk in chunks(wanted):
        rows = session.execute(select(Run.id, Run.run_id).where(Run.id.in_(chunk)))
        found.update((pk, run_id) for pk, run_id in rows)
    return found


# -- projects, trends ----------------------------------------------------------------------


def projects(session: AnySession) -> list[ProjectOut]:
    latest = (
        select(Run.project, func.count().label("runs"), func.max(Run.id).label("last"))
        .group_by(Run.project)
        .subquery()
    )
    rows = session.execute(
        select(latest.c.project, latest.c.runs, Run.run_id, Run.ingested_at)
        .join(Run, Run.id == latest.c.last)
        .order_by(latest.c.last.desc())
    )
    return [
        ProjectOut(name=project, runs=runs, last_run_id=run_id, last_ingested_at=at)
        for project, runs, run_id, at in rows
    ]


def default_project(session: AnySession, requested: str | None) -> str | None:
    """The project asked for, else the project of the newest run (None with no runs)."""
    if requested:
        return requested
    found: str | None = session.execute(
        select(Run.project).order_by(Run.id.desc()).limit(1)
    ).scalar()
    return found


def latest_by_branch(session: AnySession, project: str, limit: int = 12) -> list[Run]:
    """The newest run of each branch, most recently active branches first."""
    newest = (
        select(func.max(Run.id))
        .where(Run.project == project)
        .group_by(Run.branch)
        .order_by(func.max(Run.id).desc())
        .limit(limit)
    )
    return list(
        session.execute(select(Run).where(Run.id.in_(newest)).order_by(Run.id.desc())).scalars()
    )


def trend(
    session: AnySession, project: str, branch: str | None = None, limit: int = 100
) -> list[TrendPoint]:
    """The latest runs, oldest first, with their pass rate and duration."""
    query = select(Run).where(Run.project == project)
    if branch:
        query = query.where(Run.branch == branch)
    runs = list(session.execute(query.order_by(Run.id.desc()).limit(limit)).scalars())
    points = []
    for run in reversed(runs):
        points.append(
            TrendPoint(
                run_id=run.run_id,
                branch=run.branch,
                ingested_at=run.ingested_at,
                tests=run.tests,
                failed=run.failed,
                errors=run.errors,
                skipped=run.skipped,
                xfailed=run.xfailed,
                xpassed=run.xpassed,
                pass_rate=pass_rate(run.passed, run.xpassed, run.failed, run.errors),
                duration=run.duration,
            )
        )
    return points


# -- one run -------------------------------------------------------------------------------


def previous_run(session: AnySession, run: Run) -> Run | None:
    """The run before this one on the same project and branch."""
    found: Run | None = session.execute(
        select(Run)
        .where(
            Run.project == run.project,
            Run.branch.is_(None) if run.branch is None else Run.branch == run.branch,
            Run.id < run.id,
        )
        .order_by(Run.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return found


def run_groups(session: AnySession, run: Run) -> list[RunGroup]:
    """The run's failures grouped by fingerprint, biggest group first."""
    rows = session.execute(
        select(
            TestResultRow.fingerprint,
            func.max(TestResultRow.error_type),
            func.min(TestResultRow.message),
            func.count(),
        )
        .where(TestResultRow.run_pk == run.id, TestResultRow.fingerprint.is_not(None))
        .group_by(TestResultRow.fingerprint)
        .order_by(func.count().desc(), TestResultRow.fingerprint)
    )
    return [
        RunGroup(fingerprint=fp, error_type=error_type, message=message, count=count)
        for fp, error_type, message, count in rows
    ]


RESULT_COLUMNS = (
    TestDefinition.test_id,
    TestDefinition.name,
    TestDefinition.base_name,
    TestDefinition.params,
    TestDefinition.classname,
    TestDefinition.file,
    TestDefinition.line,
    TestDefinition.suite,
    TestDefinition.tags,
    TestDefinition.owner,
    TestResultRow.status,
    TestResultRow.flaky,
    TestResultRow.duration,
    TestResultRow.error_type,
    TestResultRow.message,
    TestResultRow.fingerprint,
    TestResultRow.subtests_failed,
    TestResultRow.subtests_passed,
)


@functools.lru_cache(maxsize=4096)
def _suite(stored: str) -> list[str]:
    suite: list[str] = json.loads(stored)
    return suite


def result_out(row: Any) -> ResultOut:
    return ResultOut(
        test_id=row.test_id,
        name=row.name,
        base_name=row.base_name,
        params=row.params,
        classname=row.classname,
        file=row.file,
        line=row.line,
        suite=_suite(row.suite) if row.suite else [],
        status=row.status,
        flaky=row.flaky,
        duration=row.duration,
        error_type=row.error_type,
        message=row.message,
        fingerprint=row.fingerprint,
        tags=row.tags or [],
        owner=row.owner,
        subtests_failed=row.subtests_failed or 0,
        subtests_passed=row.subtests_passed or 0,
    )


def run_results(
    session: AnySession,
    run: Run,
    *,
    status: str | None,
    search: str | None,
    page: int,
    per_page: int,
) -> tuple[list[ResultOut], int]:
    """The run's results matching the filters, in report order, and how many match."""
    query = (
        select(*RESULT_COLUMNS)
        .join(TestDefinition, TestDefinition.id == TestResultRow.definition_pk)
        .where(TestResultRow.run_pk == run.id)
    )
    if status:
        query = query.where(TestResultRow.status == status)
    if search:
        query = query.where(TestDefinition.name.contains(search, autoescape=True))
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(
        query.order_by(TestResultRow.id).limit(per_page).offset((page - 1) * per_page)
    )
    return [result_out(row) for row in rows], total


def slowest(session: AnySession, run: Run, limit: int = 10) -> list[ResultOut]:
    rows = session.execute(
        select(*RESULT_COLUMNS)
        .join(TestDefinition, TestDefinition.id == TestResultRow.definition_pk)
        .where(TestResultRow.run_pk == run.id)
        .order_by(TestResultRow.duration.desc(), TestResultRow.id)
        .limit(limit)
    )
    return [result_out(row) for row in rows]


def run_diff(session: AnySession, run: Run) -> RunDiff:
    """What changed since the previous run of the same branch."""
    previous = previous_run(session, run)
    now = statuses(session, run.id)
    before = statuses(session, previous.id) if previous else {}
    new_failures, fixed = changes(now, before)
    new_tests = [pk for pk in now if previous is not None and pk not in before]
    removed = [pk for pk in before if pk not in now]
    shown = [*new_failures[:DIFF_SHOWN], *fixed[:DIFF_SHOWN], *new_tests[:DIFF_SHOWN]]
    names = _names(session, [*shown, *removed[:DIFF_SHOWN]])
    messages = _messages(session, run.id, new_failures[:DIFF_SHOWN] + new_tests[:DIFF_SHOWN])

    def section(pks: list[int]) -> DiffSection:
        items = []
        for pk in pks[:DIFF_SHOWN]:
            test_id, name, classname = names[pk]
            items.append(
                DiffItem(
                    test_id=test_id,
                    name=name,
                    classname=classname,
                    status=now.get(pk),
                    previous_status=before.get(pk),
                    message=messages.get(pk),
                )
            )
        items.sort(key=lambda item: (item.classname, item.name))
        return DiffSection(count=len(pks), tests=items)

    return RunDiff(
        run_id=run.run_id,
        previous_run_id=previous.run_id if previous else None,
        new_failures=section(new_failures),
        fixed=section(fixed),
        new_tests=section(new_tests),
        removed_tests=section(removed),
    )


_STATUS_BY_DEFINITION = BulkSelect(
    (TestResultRow.__table__.c.definition_pk, TestResultRow.__table__.c.status),
    where=(TestResultRow.__table__.c.run_pk,),
)


def statuses(session: AnySession, run_pk: int) -> dict[int, Any]:
    """Each test's status in one run, by definition pk."""
    return dict(raw_select(session, _STATUS_BY_DEFINITION, (run_pk,)))


def changes(now: dict[int, Any], before: dict[int, Any]) -> tuple[list[int], list[int]]:
    """The tests (definition pks) failing now that did not before, and those passing now
    that failed before. A test new since then is not a new failure: nothing to compare."""
    new_failures = [
        pk
        for pk, status in now.items()
        if status in FAILING and pk in before and before[pk] not in FAILING
    ]
    fixed = [pk for pk, status in now.items() if status in PASSING and before.get(pk) in FAILING]
    return new_failures, fixed


def _messages(session: AnySession, run_pk: int, pks: Sequence[int]) -> dict[int, str]:
    found: dict[int, str] = {}
    for chunk in chunks(sorted(set(pks))):
        rows = session.execute(
            select(TestResultRow.definition_pk, TestResultRow.message).where(
                TestResultRow.run_pk == run_pk,
                TestResultRow.definition_pk.in_(chunk),
                TestResultRow.message.is_not(None),
            )
        )
        found.update((pk, message) for pk, message in rows if message is not None)
    return found


def _names(session: AnySession, pks: Sequence[int]) -> dict[int, tuple[str, str, str]]:
    found: dict[int, tuple[str, str, str]] = {}
    for chunk in chunks(sorted(set(pks))):
        rows = session.execute(
            select(
                TestDefinition.id,
                TestDefinition.test_id,
                TestDefinition.name,
                TestDefinition.classname,
            ).where(TestDefinition.id.in_(chunk))
        )
        found.update((pk, (test_id, name, cls)) for pk, test_id, name, cls in rows)
    return found


# -- one test ------------------------------------------------------------------------------


def find_test(session: AnySession, test_id: str, project: str | None) -> TestDefinition | None:
    query = select(TestDefinition).where(TestDefinition.test_id == test_id)
    if project:
        query = query.where(TestDefinition.project == project)
    found: TestDefinition | None = session.execute(
        query.order_by(TestDefinition.id).limit(1)
    ).scalar_one_or_none()
    return found


def linked_tests(session: AnySession, test: TestDefinition) -> list[TestDefinition]:
    """Earlier or later ids of the same test, linked by its source hash across a rename.

    Candidates share the project and source hash and never ran alongside it (a parametrized
    test's instances share a source hash, and run together). With parameters, only a
    candidate with the same parameters is the same test.
    """
    if not test.source_hash:
        return []
    candidates = [
        other
        for other in session.execute(
            select(TestDefinition).where(
                TestDefinition.project == test.project,
                TestDefinition.source_hash == test.source_hash,
                TestDefinition.id != test.id,
                or_(
                    TestDefinition.last_run_pk < test.first_run_pk,
                    TestDefinition.first_run_pk > test.last_run_pk,
                ),
            )
        ).scalars()
    ]
    same_params = [c for c in candidates if c.params == test.params]
    if same_params or test.params:
        candidates = same_params
    return sorted(candidates, key=lambda c: c.first_run_pk)


def test_history(
    session: AnySession, test: TestDefinition, *, page: int, per_page: int, window: int
) -> TestHistory:
    linked = linked_tests(session, test)
    pks = [test.id, *(other.id for other in linked)]
    ids = {test.id: test.test_id, **{other.id: other.test_id for other in linked}}
    total = session.execute(
        select(func.count()).where(TestResultRow.definition_pk.in_(pks))
    ).scalar_one()
    rows = session.execute(
        select(
            TestResultRow, Run.run_id, Run.branch, Run.git_sha, Run.env_fingerprint, Run.ingested_at
        )
        .join(Run, Run.id == TestResultRow.run_pk)
        .where(TestResultRow.definition_pk.in_(pks))
        .order_by(TestResultRow.run_pk.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    history = [
        HistoryPoint(
            run_id=run_id,
            test_id=ids[result.definition_pk],
            branch=branch,
            git_sha=git_sha,
            env_fingerprint=env,
            ingested_at=at,
            status=result.status,
            flaky=result.flaky,
            duration=result.duration,
            fingerprint=result.fingerprint,
            message=result.message,
            subtests_failed=result.subtests_failed or 0,
            subtests_passed=result.subtests_passed or 0,
        )
        for result, run_id, branch, git_sha, env, at in rows
    ]
    return TestHistory(
        test=_test_out(test),
        linked=[
            LinkedTest(
                test_id=other.test_id,
                name=other.name,
                first_seen_at=other.first_seen_at,
                last_seen_at=other.last_seen_at,
            )
            for other in linked
        ],
        history=history,
        failure_groups=_test_groups(session, test.project, pks),
        flakiness=flakiness_of(session, test.project, pks, window),
        pagination=Page(page=page, per_page=per_page, total=total),
    )


def _test_out(test: TestDefinition) -> TestOut:
    return TestOut(
        test_id=test.test_id,
        project=test.project,
        name=test.name,
        base_name=test.base_name,
        params=test.params,
        classname=test.classname,
        file=test.file,
        line=test.line,
        owner=test.owner,
        owner_source=test.owner_source,
        tags=test.tags or [],
        markers=test.markers or [],
        source_hash=test.source_hash,
        first_seen_at=test.first_seen_at,
        last_seen_at=test.last_seen_at,
    )


def _test_groups(session: AnySession, project: str, pks: Sequence[int]) -> list[TestFailureGroup]:
    member = FailureGroupTest
    rows = list(
        session.execute(
            select(
                member.fingerprint,
                func.sum(member.occurrences),
                func.max(member.last_run_pk),
                FailureGroup.error_type,
                FailureGroup.example_message,
            )
            .join(
                FailureGroup,
                (FailureGroup.project == member.project)
                & (FailureGroup.fingerprint == member.fingerprint),
            )
            .where(member.project == project, member.definition_pk.in_(pks))
            .group_by(member.fingerprint, FailureGroup.error_type, FailureGroup.example_message)
            .order_by(func.max(member.last_run_pk).desc())
        )
    )
    ids = run_ids(session, (row[2] for row in rows))
    return [
        TestFailureGroup(
            fingerprint=fp,
            error_type=error_type,
            example_message=message,
            occurrences=count,
            last_run_id=ids.get(last),
        )
        for fp, count, last, error_type, message in rows
    ]


# -- failure groups ------------------------------------------------------------------------

GROUP_ORDER = {
    "recent": (FailureGroup.last_run_pk.desc(), FailureGroup.id.desc()),
    "occurrences": (FailureGroup.occurrences.desc(), FailureGroup.id.desc()),
    "runs": (FailureGroup.runs_affected.desc(), FailureGroup.id.desc()),
}


def failure_groups(
    session: AnySession,
    project: str | None,
    *,
    order: str = "recent",
    since_run_pk: int = 0,
    page: int = 1,
    per_page: int = 50,
) -> GroupList:
    query = select(FailureGroup)
    if project:
        query = query.where(FailureGroup.project == project)
    if since_run_pk:
        query = query.where(FailureGroup.last_run_pk >= since_run_pk)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    groups = list(
        session.execute(
            query.order_by(*GROUP_ORDER[order]).limit(per_page).offset((page - 1) * per_page)
        ).scalars()
    )
    return GroupList(
        project=project,
        groups=_summaries(session, groups),
        pagination=Page(page=page, per_page=per_page, total=total),
    )


def _summaries(session: AnySession, groups: list[FailureGroup]) -> list[GroupSummary]:
    tests = _tests_affected(session, groups)
    ids = run_ids(session, [pk for g in groups for pk in (g.first_run_pk, g.last_run_pk)])
    return [
        GroupSummary(
            fingerprint=g.fingerprint,
            project=g.project,
            error_type=g.error_type,
            example_message=g.example_message,
            occurrences=g.occurrences,
            runs_affected=g.runs_affected,
            tests_affected=tests.get((g.project, g.fingerprint), 0),
            first_seen_at=g.first_seen_at,
            last_seen_at=g.last_seen_at,
            first_run_id=ids.get(g.first_run_pk),
            last_run_id=ids.get(g.last_run_pk),
        )
        for g in groups
    ]


def _tests_affected(session: AnySession, groups: list[FailureGroup]) -> dict[tuple[str, str], int]:
    found: dict[tuple[str, str], int] = {}
    member = FailureGroupTest
    for project in sorted({g.project for g in groups}):  # one grouped count per project
        rows = session.execute(
            select(member.fingerprint, func.count())
            .where(
                member.project == project,
                member.fingerprint.in_({g.fingerprint for g in groups if g.project == project}),
            )
            .group_by(member.fingerprint)
        )
        found.update(((project, fingerprint), count) for fingerprint, count in rows)
    return found


def find_group(session: AnySession, fingerprint: str, project: str | None) -> FailureGroup | None:
    query = select(FailureGroup).where(FailureGroup.fingerprint == fingerprint)
    if project:
        query = query.where(FailureGroup.project == project)
    found: FailureGroup | None = session.execute(
        query.order_by(FailureGroup.last_run_pk.desc()).limit(1)
    ).scalar_one_or_none()
    return found


def group_detail(session: AnySession, group: FailureGroup, limit: int = 100) -> GroupDetail:
    member = FailureGroupTest
    tests = list(
        session.execute(
            select(member, TestDefinition)
            .join(TestDefinition, TestDefinition.id == member.definition_pk)
            .where(member.project == group.project, member.fingerprint == group.fingerprint)
            .order_by(member.last_run_pk.desc(), member.id)
            .limit(limit)
        ).all()
    )
    recent = list(
        session.execute(
            select(TestResultRow.message, Run, TestDefinition.test_id, TestDefinition.name)
            .join(Run, Run.id == TestResultRow.run_pk)
            .join(TestDefinition, TestDefinition.id == TestResultRow.definition_pk)
            .where(
                TestResultRow.fingerprint == group.fingerprint,
                Run.project == group.project,
            )
            .order_by(TestResultRow.run_pk.desc())
            .limit(20)
        ).all()
    )
    ids = run_ids(session, (m.last_run_pk for m, _ in tests))
    summary = _summaries(session, [group])[0]
    return GroupDetail(
        **summary.model_dump(),
        example_text=group.example_text,
        tests=[
            GroupTest(
                test_id=d.test_id,
                name=d.name,
                classname=d.classname,
                occurrences=m.occurrences,
                last_run_id=ids.get(m.last_run_pk),
            )
            for m, d in tests
        ],
        recent=[
            GroupOccurrence(
                run_id=run.run_id,
                branch=run.branch,
                ingested_at=run.ingested_at,
                test_id=test_id,
                name=name,
                message=message,
            )
            for message, run, test_id, name in recent
        ],
    )


# -- integrity ----------------------------------------------------------------------------


def signals(
    session: AnySession,
    project: str | None,
    *,
    kind: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> SignalList:
    query = select(IntegritySignal)
    if project:
        query = query.where(IntegritySignal.project == project)
    if kind:
        query = query.where(IntegritySignal.kind == kind)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    found = list(
        session.execute(
            query.order_by(IntegritySignal.id.desc()).limit(per_page).offset((page - 1) * per_page)
        ).scalars()
    )
    return SignalList(
        project=project,
        signals=signal_items(session, found),
        pagination=Page(page=page, per_page=per_page, total=total),
    )


def signal_fields(signal: IntegritySignal, run_ids: dict[int, str]) -> dict[str, Any]:
    """What the API says of a signal, with run pks turned into run ids."""
    previous = signal.previous_run_pk
    return {
        "kind": signal.kind,
        "severity": signal.severity,
        "message": signal.message,
        "session_id": signal.session_id,
        "previous_run_id": run_ids.get(previous) if previous else None,
        "test_count": signal.test_count,
        "tests": [SignalTest(**t) for t in signal.tests or []],
        "created_at": signal.created_at,
    }


def signal_run_ids(session: AnySession, found: list[IntegritySignal]) -> dict[int, str]:
    return run_ids(session, [pk for s in found for pk in (s.run_pk, s.previous_run_pk)])


def signal_items(session: AnySession, found: list[IntegritySignal]) -> list[SignalItem]:
    ids = signal_run_ids(session, found)
    return [
        SignalItem(run_id=ids.get(s.run_pk, ""), project=s.project, **signal_fields(s, ids))
        for s in found
    ]


def recent_signals(session: AnySession, project: str, limit: int = 8) -> list[SignalItem]:
    found = list(
        session.execute(
            select(IntegritySignal)
            .where(IntegritySignal.project == project)
            .order_by(IntegritySignal.id.desc())
            .limit(limit)
        ).scalars()
    )
    return signal_items(session, found)
