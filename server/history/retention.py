"""Retention: delete old runs and keep everything derived from them consistent.

A run older than the cut-off (by when it was ingested) goes with its results, flaky evidence
and integrity signals (foreign keys cascade). What was counted from it is then taken back:
failure groups and their per-test membership lose its occurrences (a group or membership left
with none is deleted), first/last-seen dates move to the oldest/newest run still stored, and a
test definition with no result left is deleted. The records of queued uploads that finished
before the cut-off go too (a failed one's kept bytes with it). Everything happens in one
transaction.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import CursorResult, Delete, and_, delete, exists, func, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from ..storage.bulk import chunks
from ..storage.engine import AnySession, begin_write
from ..storage.models import (
    FailureGroup,
    FailureGroupTest,
    QueuedUpload,
    Run,
    TestDefinition,
    TestResultRow,
)


@dataclass(frozen=True)
class PruneOutcome:
    runs: int
    results: int
    definitions: int
    failure_groups: int
    #: Records of finished queued uploads.
    uploads: int = 0

    def summary(self) -> str:
        return (
            f"{self.runs} runs, {self.results} results, {self.definitions} test definitions, "
            f"{self.failure_groups} failure groups and {self.uploads} upload records deleted"
        )


def prune(
    session: AnySession, before: datetime, project: str | None = None, *, dry_run: bool = False
) -> PruneOutcome:
    """Delete the runs ingested before ``before`` (of one project, or all)."""
    begin_write(session)
    old_uploads = _finished_uploads(before, project)
    uploads = session.execute(select(func.count()).where(old_uploads)).scalar_one()
    if uploads and not dry_run:
        _deleted(session, delete(QueuedUpload).where(old_uploads))
    query = select(Run.id).where(Run.ingested_at < before)
    if project is not None:
        query = query.where(Run.project == project)
    victims = sorted(session.execute(query).scalars())
    if not victims:
        if uploads and not dry_run:
            session.commit()
        else:
            session.rollback()
        return PruneOutcome(0, 0, 0, 0, uploads)
    results = 0
    occurrences: Counter[tuple[str, str, int]] = Counter()
    group_runs: Counter[tuple[str, str]] = Counter()
    for chunk in chunks(victims):
        results += session.execute(
            select(func.count()).where(TestResultRow.run_pk.in_(chunk))
        ).scalar_one()
        rows = session.execute(
            select(
                TestDefinition.project,
                TestResultRow.fingerprint,
                TestResultRow.definition_pk,
                TestResultRow.run_pk,
            )
            .join(TestDefinition, TestDefinition.id == TestResultRow.definition_pk)
            .where(TestResultRow.run_pk.in_(chunk), TestResultRow.fingerprint.is_not(None))
        )
        seen_runs: set[tuple[str, str, int]] = set()
        for group_project, fingerprint, definition_pk, run_pk in rows:
            assert fingerprint is not None
            occurrences[(group_project, fingerprint, definition_pk)] += 1
            seen_runs.add((group_project, fingerprint, run_pk))
        group_runs.update((p, fp) for p, fp, _ in seen_runs)
    projects = [project] if project else _projects_of(session, victims)
    if dry_run:
        session.rollback()
        return PruneOutcome(len(victims), results, 0, 0, uploads)

    for chunk in chunks(victims):
        session.execute(delete(Run).where(Run.id.in_(chunk)))
    groups_deleted = _take_back_groups(session, occurrences, group_runs)
    definitions = _settle_definitions(session, projects)
    session.commit()
    return PruneOutcome(len(victims), results, definitions, groups_deleted, uploads)


def _finished_uploads(before: datetime, project: str | None) -> ColumnElement[bool]:
    """Queued uploads done or failed before the cut-off; of a project: named by the request,
    or stored as one of its runs (the sidecar named it)."""
    finished = and_(QueuedUpload.state != "queued", QueuedUpload.finished_at < before)
    if project is None:
        return finished
    of_project = select(Run.run_id).where(Run.project == project)
    return and_(finished, or_(QueuedUpload.project == project, QueuedUpload.run_id.in_(of_project)))


def _take_back_groups(
    session: AnySession,
    occurrences: Counter[tuple[str, str, int]],
    group_runs: Counter[tuple[str, str]],
) -> int:
    per_group: Counter[tuple[str, str]] = Counter()
    member = FailureGroupTest
    for (project, fingerprint, definition_pk), count in sorted(occurrences.items()):
        per_group[(project, fingerprint)] += count
        session.execute(
            update(member)
            .where(
                member.project == project,
                member.fingerprint == fingerprint,
                member.definition_pk == definition_pk,
            )
            .values(occurrences=member.occurrences - count)
        )
    session.execute(delete(member).where(member.occurrences <= 0))
    for (project, fingerprint), count in sorted(per_group.items()):
        session.execute(
            update(FailureGroup)
            .where(FailureGroup.project == project, FailureGroup.fingerprint == fingerprint)
            .values(
                occurrences=FailureGroup.occurrences - count,
                runs_affected=FailureGroup.runs_affected - group_runs[(project, fingerprint)],
            )
        )
    deleted = _deleted(session, delete(FailureGroup).where(FailureGroup.occurrences <= 0))
    _refresh_group_bounds(session, sorted(per_group))
    return deleted


def _refresh_group_bounds(session: AnySession, groups: list[tuple[str, str]]) -> None:
    """Move first/last run of memberships and groups off deleted runs."""
    member = FailureGroupTest
    for project, fingerprint in groups:
        in_group = (member.project == project, member.fingerprint == fingerprint)
        for bound, pick in (("first", func.min), ("last", func.max)):
            column = getattr(member, f"{bound}_run_pk")
            stale = session.execute(
                select(member).where(*in_group, ~exists().where(Run.id == column))
            ).scalars()
            for item in stale:
                setattr(
                    item,
                    f"{bound}_run_pk",
                    session.execute(
                        select(pick(TestResultRow.run_pk)).where(
                            TestResultRow.definition_pk == item.definition_pk,
                            TestResultRow.fingerprint == fingerprint,
                        )
                    ).scalar_one(),
                )
        session.flush()
        group = session.execute(
            select(FailureGroup).where(
                FailureGroup.project == project, FailureGroup.fingerprint == fingerprint
            )
        ).scalar_one_or_none()
        if group is None:
            continue
        first, last = session.execute(
            select(func.min(member.first_run_pk), func.max(member.last_run_pk)).where(*in_group)
        ).one()
        if first is not None and group.first_run_pk != first:
            group.first_run_pk = first
            group.first_seen_at = session.get_one(Run, first).ingested_at
        if last is not None and group.last_run_pk != last:
            group.last_run_pk = last
            group.last_seen_at = session.get_one(Run, last).ingested_at
    session.flush()


def _deleted(session: AnySession, statement: Delete) -> int:
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        statement.execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def _projects_of(session: AnySession, run_pks: list[int]) -> list[str]:
    found: set[str] = set()
    for chunk in chunks(run_pks):
        found.update(
            session.execute(select(Run.project).where(Run.id.in_(chunk)).distinct()).scalars()
        )
    return sorted(found)


def _settle_definitions(session: AnySession, projects: list[str]) -> int:
    """Delete definitions without results; move first/last seen to stored runs."""
    table = TestDefinition
    no_results = ~exists().where(TestResultRow.definition_pk == table.id)
    deleted = _deleted(session, delete(table).where(table.project.in_(projects), no_results))
    for bound, pick in (("first", func.min), ("last", func.max)):
        run_column = getattr(table, f"{bound}_run_pk")
        stale = list(
            session.execute(
                select(table.id).where(
                    table.project.in_(projects), ~exists().where(Run.id == run_column)
                )
            ).scalars()
        )
        for chunk in chunks(stale):
            rows = session.execute(
                select(TestResultRow.definition_pk, pick(TestResultRow.run_pk))
                .where(TestResultRow.definition_pk.in_(chunk))
                .group_by(TestResultRow.definition_pk)
            ).all()
            times = dict(
                session.execute(
                    select(Run.id, Run.ingested_at).where(Run.id.in_({pk for _, pk in rows}))
                ).all()
            )
            for definition_pk, run_pk in rows:
                session.execute(
                    update(table)
                    .where(table.id == definition_pk)
                    .values({f"{bound}_run_pk": run_pk, f"{bound}_seen_at": times[run_pk]})
                )
    return deleted
