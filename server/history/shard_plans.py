"""Shard plans kept per CI build: the first job of a build to ask makes the plan, every
later job (and every concurrent one) gets the same.

A plan is keyed by project, build id, number of parts, grouping and a hash of the collection
(its tests as units, in any order). It is inserted with ``ON CONFLICT DO NOTHING`` and read
back by that key, so of two jobs asking at once one stores its plan and both answer with it;
neither sees an error. Plans are only needed while their build runs: those older than
:data:`KEEP` are deleted when a new one is made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, select

from pytest_testviz.core.sharding import collection_hash, plan

from ..storage.bulk import dialect_insert
from ..storage.engine import AnySession, begin_write
from ..storage.models import ShardPlan
from .durations import Durations

#: How long a plan is kept: longer than any build's jobs wait in a queue.
KEEP = timedelta(days=7)


@dataclass(frozen=True)
class PlanRequest:
    project: str
    build_id: str
    total: int
    group: str | None
    units: Sequence[Sequence[str]]


def plan_for(
    session: AnySession, request: PlanRequest, durations: Callable[[], Durations]
) -> tuple[ShardPlan, bool]:
    """The build's plan, made from ``durations()`` if there is none yet (only then are they
    looked up); and whether it was made now. Commits when it stores one."""
    digest = collection_hash(request.units, request.group)
    key = (
        ShardPlan.project == request.project,
        ShardPlan.build_id == request.build_id,
        ShardPlan.total == request.total,
        ShardPlan.grouping == (request.group or ""),
        ShardPlan.collection_hash == digest,
    )
    existing = session.execute(select(ShardPlan).where(*key)).scalar_one_or_none()
    if existing is not None:  # the usual case for every job but the first: no write
        return existing, False
    found = durations()
    made = plan(request.units, found.durations, request.total)
    now = datetime.now(timezone.utc)
    begin_write(session)
    # RETURNING, not rowcount: psycopg reports no row count for an INSERT ... ON CONFLICT.
    inserted = session.execute(
        dialect_insert(session, ShardPlan.__table__)
        .values(
            project=request.project,
            build_id=request.build_id,
            total=request.total,
            grouping=request.group or "",
            collection_hash=digest,
            tests=sum(len(part) for part in made.parts),
            parts=[list(part) for part in made.parts],
            loads=[round(load, 6) for load in made.loads],
            source=made.source,
            known=made.known,
            branch=found.branch,
            created_at=now,
        )
        .on_conflict_do_nothing()
        .returning(ShardPlan.__table__.c.id)
    ).scalar_one_or_none()
    created = inserted is not None
    if created:
        session.execute(delete(ShardPlan).where(ShardPlan.created_at < now - KEEP))
    session.commit()
    stored = session.execute(select(ShardPlan).where(*key)).scalar_one()
    return stored, created
