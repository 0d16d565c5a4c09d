"""Each test's recent duration on a project's default branch: what shard plans split by.

A test's figure is the median of its last :data:`PER_TEST` results that ran (passed, failed,
xfailed, xpassed: a skip takes no time, an error may have stopped in set-up) among the
branch's last :data:`SCAN_RUNS` runs. Per test, not per run: with sharding each run holds a
part of the tests, so the last few runs alone would miss most of them. The median shrugs off
one slow outlier (a cold cache, a loaded machine), which a mean would not.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select

from pytest_testviz.core.sharding import median

from ..storage.engine import AnySession
from ..storage.models import Run, TestDefinition, TestResultRow

#: Results per test the median is taken over.
PER_TEST = 5
#: The branch's latest runs searched for them.
SCAN_RUNS = 200
#: Results whose duration counts: the test ran to its end, passing or not.
RAN = ("passed", "failed", "xfailed", "xpassed")
#: Branch names taken as the default, in this order, when the project sets none.
USUAL_DEFAULTS = ("main", "master")


@dataclass(frozen=True)
class Durations:
    branch: str | None
    #: The branch's runs the figures come from.
    runs: int
    durations: dict[str, float]


def default_branch(session: AnySession, project: str, configured: Mapping[str, str]) -> str | None:
    """The project's setting (``TESTVIZ_DEFAULT_BRANCHES``), else ``main`` or ``master`` if
    it has runs there, else its branch with the most runs (the first by name among equals);
    ``None`` for a project without runs on any branch."""
    if project in configured:
        return configured[project]
    for name in USUAL_DEFAULTS:
        found = session.execute(
            select(Run.id).where(Run.project == project, Run.branch == name).limit(1)
        ).first()
        if found is not None:
            return name
    busiest = session.execute(
        select(Run.branch)
        .where(Run.project == project, Run.branch.is_not(None))
        .group_by(Run.branch)
        .order_by(func.count().desc(), Run.branch)
        .limit(1)
    ).scalar_one_or_none()
    return busiest


def recent_durations(
    session: AnySession,
    project: str,
    branch: str | None,
    *,
    per_test: int = PER_TEST,
    scan_runs: int = SCAN_RUNS,
) -> Durations:
    """The median duration of each test of ``project`` on ``branch``, keyed by ``test_id``."""
    if branch is None:
        return Durations(None, 0, {})
    runs = (
        select(Run.id)
        .where(Run.project == project, Run.branch == branch)
        .order_by(Run.id.desc())
        .limit(scan_runs)
        .subquery()
    )
    run_count = session.execute(select(func.count()).select_from(runs)).scalar_one()
    newest_first = (
        func.row_number()
        .over(partition_by=TestResultRow.definition_pk, order_by=TestResultRow.run_pk.desc())
        .label("position")
    )
    ranked = (
        select(TestResultRow.definition_pk, TestResultRow.duration, newest_first)
        .where(TestResultRow.run_pk.in_(select(runs.c.id)), TestResultRow.status.in_(RAN))
        .subquery()
    )
    rows = session.execute(
        select(TestDefinition.test_id, ranked.c.duration)
        .join(ranked, ranked.c.definition_pk == TestDefinition.id)
        .where(ranked.c.position <= per_test)
    ).all()
    collected: dict[str, list[float]] = {}
    for test_id, duration in rows:
        collected.setdefault(test_id, []).append(max(float(duration or 0.0), 0.0))
    durations = {}
    for test_id, values in collected.items():
        figure = median(values)
        if figure is not None:
            durations[test_id] = round(figure, 6)
    return Durations(branch, run_count, durations)
