"""A run's or a CI build's summary, for the CI job that made it: totals, new failures and
fixed tests against what came before, flaky tests, the biggest failure groups.

"Before" is the previous run of the same branch (or ``base``'s latest run), not of the
same build; when that run was one job of a build, all of that build's runs together. So a
shard is compared with the whole of the previous build, not with whichever shard happened
to upload last. Statuses of several runs are combined per test: failing in any run is
failing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from ..errors import NotFound, ServiceError
from ..storage.bulk import chunks
from ..storage.engine import AnySession
from ..storage.models import Run, TestDefinition, TestResultRow
from ..web.schemas import RunGroup, Totals
from ..web.schemas_history import (
    BuildOut,
    SummaryBase,
    SummaryList,
    SummaryOut,
    SummaryTest,
)
from . import queries
from .service import run_summary

#: Tests listed per section (the count says how many there are in all).
SHOWN = 100
#: Failure groups listed.
GROUPS_SHOWN = 10
_COUNTS = ("tests", "passed", "failed", "errors", "skipped", "xfailed", "xpassed")
_SUBTESTS = ("subtests_failed", "subtests_passed")


def build_runs(session: AnySession, build_id: str, project: str | None) -> list[Run]:
    """The runs of a build, oldest first; a build of several projects needs ``project``."""
    if len(build_id) > 200 or "\x00" in build_id:
        raise NotFound("no build with that build_id")
    query = select(Run).where(Run.build_id == build_id)
    if project:
        query = query.where(Run.project == project)
    runs = list(session.execute(query.order_by(Run.id)).scalars())
    if not runs:
        which = f" in project {project!r}" if project else ""
        raise NotFound(f"no runs of build {build_id!r}{which}")
    projects = sorted({run.project for run in runs})
    if len(projects) > 1:
        raise ServiceError(
            "ambiguous_build",
            f"build {build_id!r} has runs of {len(projects)} projects: name one with project",
            {"projects": projects[:50]},
        )
    return runs


def _totals(runs: Sequence[Run]) -> Totals:
    return Totals(
        **{name: sum(getattr(run, name) for run in runs) for name in _COUNTS},
        **{name: sum(getattr(run, name) or 0 for run in runs) for name in _SUBTESTS},
    )


def build(session: AnySession, build_id: str, project: str | None) -> BuildOut:
    """A build's runs and their totals together."""
    runs = build_runs(session, build_id, project)
    return BuildOut(
        build_id=build_id,
        project=runs[0].project,
        runs=[run_summary(run) for run in runs],
        totals=_totals(runs),
        flaky=sum(run.flaky for run in runs),
        duration=sum(run.duration for run in runs),
        branches=sorted({run.branch for run in runs if run.branch}),
    )


def _base(session: AnySession, runs: Sequence[Run], base: str | None) -> list[Run]:
    """What ``runs`` are compared with: the latest earlier run of ``base`` (else of their
    branch) outside their build, with the other runs of its own build."""
    first = runs[0]
    ids = [run.id for run in runs]
    query = select(Run).where(Run.project == first.project, Run.id < min(ids))
    branch = base if base is not None else first.branch
    query = query.where(Run.branch.is_(None) if branch is None else Run.branch == branch)
    if first.build_id is not None:
        query = query.where((Run.build_id != first.build_id) | Run.build_id.is_(None))
    anchor: Run | None = session.execute(
        query.order_by(Run.id.desc()).limit(1)
    ).scalar_one_or_none()
    if anchor is None:
        if base is not None:
            raise NotFound(f"no earlier run of branch {base[:255]!r} in project {first.project!r}")
        return []
    if anchor.build_id is None:
        return [anchor]
    return list(
        session.execute(
            select(Run)
            .where(Run.project == anchor.project, Run.build_id == anchor.build_id)
            .order_by(Run.id)
        ).scalars()
    )


def _combined(session: AnySession, runs: Sequence[Run]) -> tuple[dict[int, Any], dict[int, int]]:
    """Each test's status over ``runs`` (failing in any is failing), and the run it has that
    status in."""
    status: dict[int, Any] = {}
    where: dict[int, int] = {}
    for run in runs:
        for pk, found in queries.statuses(session, run.id).items():
            if pk not in status or (found in queries.FAILING and status[pk] not in queries.FAILING):
                status[pk] = found
                where[pk] = run.id
    return status, where


def _listed(
    session: AnySession, pks: list[int], where: dict[int, int], run_ids: dict[int, str]
) -> SummaryList:
    """The first :data:`SHOWN` of ``pks`` (ordered by class and name), and how many."""
    shown = _first(session, pks) if len(pks) > SHOWN else pks
    tests: list[SummaryTest] = []
    for chunk in chunks(shown):
        rows = session.execute(
            select(
                TestDefinition.id,
                TestDefinition.test_id,
                TestDefinition.name,
                TestDefinition.classname,
                TestDefinition.file,
                TestDefinition.line,
                TestResultRow.run_pk,
                TestResultRow.status,
                TestResultRow.message,
            )
            .join(TestResultRow, TestResultRow.definition_pk == TestDefinition.id)
            .where(
                TestDefinition.id.in_(chunk),
                TestResultRow.run_pk.in_({where[pk] for pk in chunk}),
            )
        )
        tests.extend(
            SummaryTest(
                test_id=row.test_id,
                name=row.name,
                classname=row.classname,
                file=row.file,
                line=row.line,
                status=row.status,
                message=row.message,
                run_id=run_ids[row.run_pk],
            )
            for row in rows
            if where[row.id] == row.run_pk
        )
    tests.sort(key=lambda test: (test.classname, test.name))
    return SummaryList(count=len(pks), tests=tests)


def _first(session: AnySession, pks: list[int]) -> list[int]:
    """The :data:`SHOWN` of ``pks`` first by class and name (their names only are read)."""
    named: list[tuple[str, str, int]] = []
    for chunk in chunks(sorted(pks)):
        rows = session.execute(
            select(TestDefinition.classname, TestDefinition.name, TestDefinition.id).where(
                TestDefinition.id.in_(chunk)
            )
        )
        named.extend((classname, name, pk) for classname, name, pk in rows)
    named.sort()
    return [pk for _, _, pk in named[:SHOWN]]


def _flaky(session: AnySession, runs: Sequence[Run]) -> tuple[list[int], dict[int, int]]:
    """Tests that passed on a rerun in ``runs``, and the run each did."""
    found: dict[int, int] = {}
    for run in runs:
        if not run.flaky:
            continue  # the run's count says there is nothing to look for
        rows = session.execute(
            select(TestResultRow.definition_pk).where(
                TestResultRow.run_pk == run.id, TestResultRow.flaky.is_(True)
            )
        )
        for (pk,) in rows:
            found.setdefault(pk, run.id)
    return list(found), found


def _groups(session: AnySession, runs: Sequence[Run]) -> list[RunGroup]:
    """The failures of ``runs`` by fingerprint, biggest group first."""
    rows = session.execute(
        select(
            TestResultRow.fingerprint,
            func.max(TestResultRow.error_type),
            func.min(TestResultRow.message),
            func.count(),
        )
        .where(
            TestResultRow.run_pk.in_([run.id for run in runs]),
            TestResultRow.fingerprint.is_not(None),
        )
        .group_by(TestResultRow.fingerprint)
        .order_by(func.count().desc(), TestResultRow.fingerprint)
        .limit(GROUPS_SHOWN)
    )
    return [
        RunGroup(fingerprint=fp, error_type=error_type, message=message, count=count)
        for fp, error_type, message, count in rows
    ]


def _summary(
    session: AnySession, runs: Sequence[Run], base: str | None, build_id: str | None
) -> SummaryOut:
    last = runs[-1]
    run_ids = {run.id: run.run_id for run in runs}
    now, where = _combined(session, runs)
    before_runs = _base(session, runs, base)
    failing = [pk for pk, status in now.items() if status in queries.FAILING]
    flaky, flaky_where = _flaky(session, runs)
    new_failures = fixed = None
    summary_base = None
    if before_runs:
        before, _ = _combined(session, before_runs)
        new, mended = queries.changes(now, before)
        new_failures = _listed(session, new, where, run_ids)
        fixed = _listed(session, mended, where, run_ids)
        anchor = before_runs[-1]
        summary_base = SummaryBase(
            run_id=anchor.run_id,
            branch=anchor.branch,
            build_id=anchor.build_id,
            runs=len(before_runs),
        )
    return SummaryOut(
        project=last.project,
        run_id=None if build_id is not None else last.run_id,
        build_id=build_id if build_id is not None else last.build_id,
        branch=last.branch,
        git_sha=last.git_sha,
        runs=[run_summary(run) for run in runs],
        totals=_totals(runs),
        flaky=sum(run.flaky for run in runs),
        duration=sum(run.duration for run in runs),
        base=summary_base,
        new_failures=new_failures,
        fixed=fixed,
        failures=_listed(session, failing, where, run_ids),
        flaky_tests=_listed(session, flaky, flaky_where, run_ids),
        quarantined=SummaryList(count=0, tests=[]),
        failure_groups=_groups(session, runs),
    )


def run_summary_of(session: AnySession, run: Run, base: str | None) -> SummaryOut:
    """One run's summary, against its branch's previous run (or ``base``'s latest)."""
    return _summary(session, [run], base, None)


def build_summary(
    session: AnySession, build_id: str, project: str | None, base: str | None
) -> SummaryOut:
    """A build's runs summarised together."""
    return _summary(session, build_runs(session, build_id, project), base, build_id)
