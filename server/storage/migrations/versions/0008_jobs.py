"""jobs: one table of background work (queued ingest, analysis, sync, retention)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 17:30:00

Background work was claimed two ways: queued uploads by ``queued_uploads.claimed_by`` /
``claimed_at`` / ``attempts``, analysis by ``runs.analysis_claimed_at``; each web process
swept for it. From now on every piece of work is a row of ``jobs``, claimed by the worker
processes (``flask worker``). What was pending moves over: every upload still ``queued``
becomes an ``ingest`` job (its attempts carried over), every run whose mapping or integrity
is still ``pending`` an ``analysis`` job. The old claim columns stay, unused and cleared.

Downgrading drops the table; what was queued there is still marked in ``queued_uploads``
and ``runs``, where the older server looks for it.
"""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ACTIVE = "state IN ('queued', 'running')"


def upgrade() -> None:
    jobs = op.create_table(
        "jobs",
        sa.Column("id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=255), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index(
        "ix_jobs_active_kind_key",
        "jobs",
        ["kind", "key"],
        unique=True,
        postgresql_where=sa.text(ACTIVE),
        sqlite_where=sa.text(ACTIVE),
    )
    op.create_index("ix_jobs_state_run_after", "jobs", ["state", "run_after"])

    connection = op.get_bind()
    now = datetime.now(timezone.utc)
    uploads = connection.execute(
        sa.text("SELECT id, attempts FROM queued_uploads WHERE state = 'queued' ORDER BY id")
    ).all()
    runs = connection.execute(
        sa.text(
            "SELECT run_id FROM runs WHERE mapping_state = 'pending' "
            "OR integrity_state = 'pending' ORDER BY id"
        )
    ).all()
    rows = [
        # An upload whose five attempts all died is given up by the first claim, as before.
        _job("ingest", str(upload_id), attempts, 5, now)
        for upload_id, attempts in uploads
    ] + [_job("analysis", run_id, 0, 3, now) for (run_id,) in runs]
    if rows:
        op.bulk_insert(jobs, rows)
    op.execute(
        "UPDATE queued_uploads SET claimed_at = NULL, claimed_by = NULL "
        "WHERE claimed_at IS NOT NULL OR claimed_by IS NOT NULL"
    )
    op.execute("UPDATE runs SET analysis_claimed_at = NULL WHERE analysis_claimed_at IS NOT NULL")


def _job(kind: str, key: str, attempts: int, max_attempts: int, now: datetime) -> dict[str, object]:
    return {
        "kind": kind,
        "key": key,
        "payload": None,
        "state": "queued",
        "attempts": attempts,
        "max_attempts": max_attempts,
        "run_after": now,
        "created_at": now,
        "updated_at": now,
    }


def downgrade() -> None:
    op.drop_index("ix_jobs_state_run_after", table_name="jobs")
    op.drop_index("ix_jobs_active_kind_key", table_name="jobs")
    op.drop_table("jobs")
