"""Flaky tests: ranked from the evidence ingest recorded (see ``aggregates.py``).

A test is flaky within a window of its project's latest runs when it passed only after
reruns, or passed and failed on the same git sha in the same environment, or its outcome
flipped at least ``FLIP_MIN`` times within one environment (a test that broke once and was
fixed flips twice, and is not called flaky for it; a flip is a change between two runs of
the same branch, see ``aggregates.py``). Skips, xfails and xpasses are no outcome here: a test
marked xfail that fails and passes by turns is declared unreliable already, and not flipping.
Its score is the share of its runs in the window that carry any evidence. A test whose outcome
differs by environment but is steady within each is *environment-specific*, listed apart.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import func, select

from ..storage.bulk import chunks
from ..storage.engine import AnySession
from ..storage.models import FlakyEvidence, Run, TestDefinition, TestEnvStatus, TestResultRow
from ..web.schemas_history import EnvOutcome, EnvSpecific, Evidence, TestFlakiness

FLIP_MIN = 3
EVIDENCE_SHOWN = 5


@dataclass
class Tally:
    """The evidence of one test within the window."""

    flips: int = 0
    flips_by_env: Counter[str] = field(default_factory=Counter)
    reruns: int = 0
    same_sha: int = 0
    #: Runs with any evidence.
    evidenced_runs: int = 0
    runs_in_window: int = 0

    @property
    def flaky(self) -> bool:
        most_flips = max(self.flips_by_env.values(), default=0)
        return self.reruns > 0 or self.same_sha > 0 or most_flips >= FLIP_MIN

    @property
    def score(self) -> float:
        return round(self.evidenced_runs / self.runs_in_window, 4) if self.runs_in_window else 0.0

    @property
    def flip_rate(self) -> float:
        return round(self.flips / self.runs_in_window, 4) if self.runs_in_window else 0.0


def window_start(session: AnySession, project: str, window: int) -> int:
    """The smallest run pk among the project's latest ``window`` runs (0 if fewer)."""
    pk = session.execute(
        select(Run.id)
        .where(Run.project == project)
        .order_by(Run.id.desc())
        .limit(1)
        .offset(window - 1)
    ).scalar()
    return int(pk) if pk is not None else 0


def tallies(
    session: AnySession, project: str, start: int, pks: Sequence[int] | None = None
) -> dict[int, Tally]:
    """Evidence per test since run ``start``: every test with some, or only ``pks``.

    Counted by the database, per test, kind and environment: the pages ask this on every
    view, and decoding each piece of evidence in Python costs more than the query.
    """
    evidence = FlakyEvidence
    where = [evidence.project == project, evidence.run_pk >= start]
    if pks is not None:
        where.append(evidence.definition_pk.in_(pks))
    env = evidence.detail["env"].as_string()
    found: dict[int, Tally] = defaultdict(Tally)
    rows = session.execute(
        select(evidence.definition_pk, evidence.kind, env, func.count())
        .where(*where)
        .group_by(evidence.definition_pk, evidence.kind, env)
    )
    for pk, kind, env_key, count in rows:
        tally = found[pk]
        if kind == "flip":
            tally.flips += count
            tally.flips_by_env[env_key or ""] += count
        elif kind == "rerun":
            tally.reruns += count
        else:
            tally.same_sha += count
    runs = session.execute(
        select(evidence.definition_pk, func.count(evidence.run_pk.distinct()))
        .where(*where)
        .group_by(evidence.definition_pk)
    )
    for pk, count in runs:
        found[pk].evidenced_runs = count
    return dict(found)


def _count_runs(session: AnySession, start: int, found: dict[int, Tally]) -> None:
    """Each test's runs within the window (the denominator of its score)."""
    for chunk in chunks(sorted(found)):
        rows = session.execute(
            select(TestResultRow.definition_pk, func.count())
            .where(TestResultRow.definition_pk.in_(chunk), TestResultRow.run_pk >= start)
            .group_by(TestResultRow.definition_pk)
        )
        for pk, count in rows:
            found[pk].runs_in_window = count


def ranked(session: AnySession, project: str, window: int) -> list[tuple[int, Tally]]:
    """The project's flaky tests, highest score first."""
    start = window_start(session, project, window)
    flaky = {pk: t for pk, t in tallies(session, project, start).items() if t.flaky}
    _count_runs(session, start, flaky)  # only for these: a broken-then-fixed test needs none
    ranking = list(flaky.items())
    ranking.sort(key=lambda item: (-item[1].score, -item[1].evidenced_runs, item[0]))
    return ranking


def evidence_of(session: AnySession, pks: Iterable[int], start: int) -> dict[int, list[Evidence]]:
    """The latest pieces of evidence of each test, newest first."""
    wanted = sorted(set(pks))
    shown: dict[int, list[Evidence]] = defaultdict(list)
    for chunk in chunks(wanted):
        newest = func.row_number().over(
            partition_by=FlakyEvidence.definition_pk,
            order_by=(FlakyEvidence.run_pk.desc(), FlakyEvidence.id.desc()),
        )
        latest = (
            select(
                FlakyEvidence.definition_pk,
                FlakyEvidence.kind,
                FlakyEvidence.detail,
                FlakyEvidence.run_pk,
                FlakyEvidence.id,
                newest.label("newest"),
            )
            .where(FlakyEvidence.definition_pk.in_(chunk), FlakyEvidence.run_pk >= start)
            .subquery()
        )
        rows = session.execute(  # only the newest few of each test, chosen by the database
            select(
                latest.c.definition_pk, latest.c.kind, latest.c.detail, Run.run_id, Run.ingested_at
            )
            .join(Run, Run.id == latest.c.run_pk)
            .where(latest.c.newest <= EVIDENCE_SHOWN)
            .order_by(latest.c.run_pk.desc(), latest.c.id.desc())
        )
        for pk, kind, detail, run_id, ingested_at in rows:
            shown[pk].append(
                Evidence(kind=kind, run_id=run_id, ingested_at=ingested_at, detail=detail or {})
            )
    return dict(shown)


def recent_environments(session: AnySession, project: str, start: int) -> list[str]:
    """The environments the window's runs ran in ("" for runs that named none)."""
    rows = session.execute(
        select(Run.env_fingerprint)
        .where(Run.project == project, Run.id >= start)
        .group_by(Run.env_fingerprint)
    )
    return [env or "" for (env,) in rows]


def environment_specific(
    session: AnySession, project: str, start: int, flaky: Iterable[int] = ()
) -> list[EnvSpecific]:
    """Tests failing in some environments and passing in others, among recent environments,
    leaving out the ``flaky`` ones (their outcome differs for another reason)."""
    excluded = set(flaky)
    status = TestEnvStatus
    recent = recent_environments(session, project, start)
    failing = (  # few: through the (project, outcome) index, not a scan of every test
        select(status.definition_pk)
        .where(status.project == project, status.outcome == "fail", status.env_key.in_(recent))
        .distinct()
    )
    rows = session.execute(
        select(
            status.definition_pk,
            status.env_key,
            status.outcome,
            TestDefinition.test_id,
            TestDefinition.name,
            TestDefinition.classname,
        )
        .join(TestDefinition, TestDefinition.id == status.definition_pk)
        .where(status.definition_pk.in_(failing), status.env_key.in_(recent))
        .order_by(TestDefinition.classname, TestDefinition.name, status.env_key)
    )
    found: dict[int, EnvSpecific] = {}
    for pk, env_key, outcome, test_id, name, classname in rows:
        if pk in excluded:
            continue
        item = found.get(pk)
        if item is None:
            item = found[pk] = EnvSpecific(
                test_id=test_id,
                name=name,
                classname=classname,
                failing_envs=[],
                passing_envs=[],
            )
        (item.failing_envs if outcome == "fail" else item.passing_envs).append(env_key or "")
    return [item for item in found.values() if item.passing_envs and item.failing_envs]


def flakiness_of(
    session: AnySession, project: str, pks: Sequence[int], window: int
) -> TestFlakiness:
    """One test's flakiness (with the ids a rename linked to it), for its page."""
    start = window_start(session, project, window)
    merged = Tally()
    for tally in tallies(session, project, start, pks).values():
        merged.flips += tally.flips
        merged.flips_by_env.update(tally.flips_by_env)
        merged.reruns += tally.reruns
        merged.same_sha += tally.same_sha
        merged.evidenced_runs += tally.evidenced_runs  # a renamed test's ids never ran together
    counted: dict[int, Tally] = {pk: Tally() for pk in pks}
    _count_runs(session, start, counted)
    merged.runs_in_window = sum(t.runs_in_window for t in counted.values())
    evidence = sorted(
        (e for items in evidence_of(session, pks, start).values() for e in items),
        key=lambda e: e.ingested_at,
        reverse=True,
    )[:EVIDENCE_SHOWN]
    environments = _environments(session, pks, recent_environments(session, project, start))
    outcomes = {env.outcome for env in environments if env.outcome}
    return TestFlakiness(
        flaky=merged.flaky,
        score=merged.score,
        runs_in_window=merged.runs_in_window,
        flips=merged.flips,
        flip_rate=merged.flip_rate,
        reruns=merged.reruns,
        same_sha=merged.same_sha,
        environment_specific=len(outcomes) > 1 and not merged.flaky,
        environments=environments,
        evidence=evidence,
    )


def _environments(
    session: AnySession, pks: Sequence[int], recent: Sequence[str]
) -> list[EnvOutcome]:
    status = TestEnvStatus
    rows = list(
        session.execute(
            select(status.env_key, status.outcome, status.since_run_pk)
            .where(status.definition_pk.in_(pks), status.env_key.in_(recent))
            .order_by(status.since_run_pk.desc())
        )
    )
    run_ids = dict(
        session.execute(
            select(Run.id, Run.run_id).where(Run.id.in_({r.since_run_pk for r in rows}))
        ).all()
    )
    latest: dict[str, EnvOutcome] = {}
    for env_key, outcome, since in rows:  # a renamed test's newest id wins per env
        if env_key not in latest:
            latest[env_key] = EnvOutcome(
                env=env_key or None, outcome=outcome, since_run_id=run_ids.get(since)
            )
    return sorted(latest.values(), key=lambda e: e.env or "")
