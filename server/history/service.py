"""What the pages and the JSON API show, by plain arguments: runs, one run, its integrity
signals, the overview, trends, one test's history, flaky tests, failure groups.

Each takes the session and what was asked for (project, branch, page, ...), already checked
by the web layer, and returns the API's models; a name that matches nothing is a
:class:`~server.errors.NotFound`.
"""

from __future__ import annotations

from sqlalchemy import func, or_, select

from ..errors import NotFound
from ..storage.engine import AnySession
from ..storage.models import IntegritySignal, Run, TestDefinition, run_id_can_exist
from ..web.schemas import (
    DeclaredTotals,
    IntegrityOut,
    Page,
    RunDetail,
    RunList,
    RunSummary,
    SignalOut,
    Totals,
)
from ..web.schemas_history import (
    FlakyList,
    FlakyTest,
    GroupDetail,
    Overview,
    TestHistory,
    Trend,
)
from . import flaky, queries

#: ``status`` of :func:`run_list`: runs with failures or errors, or runs without.
RUN_STATUSES = ("passed", "failed")


def run_summary(run: Run) -> RunSummary:
    return RunSummary(
        run_id=run.run_id,
        project=run.project,
        branch=run.branch,
        git_sha=run.git_sha,
        session_id=run.session_id,
        build_id=run.build_id,
        env_fingerprint=run.env_fingerprint,
        hostname=run.hostname,
        source=run.source,
        started_at=run.started_at,
        finished_at=run.finished_at,
        ingested_at=run.ingested_at,
        duration=run.duration,
        totals=Totals(
            tests=run.tests,
            passed=run.passed,
            failed=run.failed,
            errors=run.errors,
            skipped=run.skipped,
            xfailed=run.xfailed,
            xpassed=run.xpassed,
            subtests_failed=run.subtests_failed,
            subtests_passed=run.subtests_passed,
        ),
        flaky=run.flaky,
        mapping_state=run.mapping_state,
        integrity_state=run.integrity_state,
    )


def get_run(session: AnySession, run_id: str) -> Run:
    if not run_id_can_exist(run_id):
        raise NotFound("no run with that run_id")
    run = session.execute(select(Run).where(Run.run_id == run_id)).scalar_one_or_none()
    if run is None:
        raise NotFound(f"no run with run_id {run_id!r}")
    return run


def run_list(
    session: AnySession,
    *,
    project: str | None,
    branch: str | None,
    status: str | None,
    page: int,
    per_page: int,
) -> RunList:
    """Runs, newest first; ``status`` (one of :data:`RUN_STATUSES`) keeps the runs with
    failures or those without."""
    query = select(Run)
    if project:
        query = query.where(Run.project == project)
    if branch:
        query = query.where(Run.branch == branch)
    if status == "failed":
        query = query.where(or_(Run.failed > 0, Run.errors > 0))
    elif status == "passed":
        query = query.where(Run.failed == 0, Run.errors == 0)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    runs = session.execute(
        query.order_by(Run.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).scalars()
    return RunList(
        runs=[run_summary(run) for run in runs],
        pagination=Page(page=page, per_page=per_page, total=total),
    )


def run_detail(
    session: AnySession,
    run: Run,
    *,
    status: str | None,
    search: str | None,
    page: int,
    per_page: int,
) -> RunDetail:
    """One run: metadata, totals, failure groups, slowest tests, and a page of its results."""
    results, total = queries.run_results(
        session, run, status=status, search=search, page=page, per_page=per_page
    )
    previous = queries.previous_run(session, run)
    summary = run_summary(run)
    return RunDetail(
        **summary.model_dump(),
        env=run.env or {},
        declared_totals=DeclaredTotals(
            tests=run.declared_tests,
            failures=run.declared_failures,
            errors=run.declared_errors,
            skipped=run.declared_skipped,
        ),
        testcases=run.testcases,
        results=results,
        results_total=total,
        failure_groups=queries.run_groups(session, run),
        slowest=queries.slowest(session, run),
        previous_run_id=previous.run_id if previous else None,
    )


def run_integrity(session: AnySession, run: Run) -> IntegrityOut:
    """The integrity signals recorded for one run."""
    signals = list(
        session.execute(
            select(IntegritySignal)
            .where(IntegritySignal.run_pk == run.id)
            .order_by(IntegritySignal.id)
        ).scalars()
    )
    ids = queries.signal_run_ids(session, signals)
    return IntegrityOut(
        run_id=run.run_id,
        integrity_state=run.integrity_state,
        mapping_state=run.mapping_state,
        signals=[SignalOut(**queries.signal_fields(s, ids)) for s in signals],
    )


def overview(
    session: AnySession, *, project: str | None, branch: str | None, window: int
) -> Overview:
    """Projects, latest run per branch, trends, top failure groups, flaky count, signals of
    ``project`` (else the project of the newest run)."""
    project = queries.default_project(session, project)
    if project is None:
        return Overview(
            project=None,
            projects=[],
            latest_by_branch=[],
            trend=[],
            failure_groups=[],
            flaky_count=0,
            env_specific_count=0,
            signals=[],
        )
    start = flaky.window_start(session, project, window)
    ranked = flaky.ranked(session, project, window)
    return Overview(
        project=project,
        projects=queries.projects(session),
        latest_by_branch=[run_summary(run) for run in queries.latest_by_branch(session, project)],
        trend=queries.trend(session, project, branch),
        failure_groups=queries.failure_groups(
            session, project, order="runs", since_run_pk=start, per_page=5
        ).groups,
        flaky_count=len(ranked),
        env_specific_count=len(
            flaky.environment_specific(session, project, start, (pk for pk, _ in ranked))
        ),
        signals=queries.recent_signals(session, project),
    )


def trends(session: AnySession, *, project: str | None, branch: str | None, limit: int) -> Trend:
    """Pass rate and duration of the latest runs of ``project`` (else the newest run's)."""
    project = queries.default_project(session, project)
    points = queries.trend(session, project, branch, limit) if project else []
    return Trend(project=project, branch=branch, points=points)


def test_history(
    session: AnySession,
    test_id: str,
    *,
    project: str | None,
    page: int,
    per_page: int,
    window: int,
) -> TestHistory:
    """One test: its definition, outcome history (newest first), failure groups, flakiness."""
    test = None
    if "\x00" not in test_id and len(test_id) <= 64:
        test = queries.find_test(session, test_id, project)
    if test is None:
        raise NotFound(f"no test with test_id {test_id[:64]!r}")
    return queries.test_history(session, test, page=page, per_page=per_page, window=window)


def flaky_list(
    session: AnySession, *, project: str | None, window: int, page: int, per_page: int
) -> FlakyList:
    """Flaky tests of ``project`` (else the newest run's) ranked by score over its latest
    ``window`` runs, with their evidence; environment-specific tests apart."""
    project = queries.default_project(session, project)
    if project is None:
        return FlakyList(
            project=None,
            window_runs=window,
            tests=[],
            env_specific=[],
            pagination=Page(page=page, per_page=per_page, total=0),
        )
    start = flaky.window_start(session, project, window)
    ranked = flaky.ranked(session, project, window)
    shown = ranked[(page - 1) * per_page : page * per_page]
    definitions = {
        row.id: row
        for row in session.execute(
            select(
                TestDefinition.id,
                TestDefinition.test_id,
                TestDefinition.name,
                TestDefinition.classname,
                TestDefinition.file,
                TestDefinition.owner,
            ).where(TestDefinition.id.in_([pk for pk, _ in shown]))
        )
    }
    evidence = flaky.evidence_of(session, (pk for pk, _ in shown), start)
    tests = [
        FlakyTest(
            test_id=definitions[pk].test_id,
            name=definitions[pk].name,
            classname=definitions[pk].classname,
            file=definitions[pk].file,
            owner=definitions[pk].owner,
            score=tally.score,
            runs_in_window=tally.runs_in_window,
            evidenced_runs=tally.evidenced_runs,
            flips=tally.flips,
            flip_rate=tally.flip_rate,
            reruns=tally.reruns,
            same_sha=tally.same_sha,
            evidence=evidence.get(pk, []),
        )
        for pk, tally in shown
    ]
    return FlakyList(
        project=project,
        window_runs=window,
        tests=tests,
        env_specific=flaky.environment_specific(session, project, start, (pk for pk, _ in ranked)),
        pagination=Page(page=page, per_page=per_page, total=len(ranked)),
    )


def failure_group(session: AnySession, fingerprint: str, project: str | None) -> GroupDetail:
    """One failure group: the tests it hit, recent occurrences, an example traceback."""
    group = None
    if "\x00" not in fingerprint and len(fingerprint) <= 16:
        group = queries.find_group(session, fingerprint, project)
    if group is None:
        raise NotFound(f"no failure group {fingerprint[:16]!r}")
    return queries.group_detail(session, group)
