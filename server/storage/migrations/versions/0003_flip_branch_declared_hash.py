"""flips per branch, a digest of declared fields, an index for deleting runs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 11:35:00

``test_env_status.branch``: the branch of the run that set the outcome (a change seen on
another branch is not a flip); backfilled from that run. ``test_definitions.declared_hash``:
ingest compares it instead of every declared field; empty until a test's next ingest, which
fills it. ``ix_flaky_evidence_run``: deleting a run cascades to its evidence.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("test_env_status") as batch_op:
        batch_op.add_column(sa.Column("branch", sa.String(length=255), nullable=True))
    op.execute(
        "UPDATE test_env_status SET branch ="
        " (SELECT branch FROM runs WHERE runs.id = test_env_status.since_run_pk)"
    )
    with op.batch_alter_table("test_definitions") as batch_op:
        batch_op.add_column(sa.Column("declared_hash", sa.String(length=32), nullable=True))
    op.create_index("ix_flaky_evidence_run", "flaky_evidence", ["run_pk"])


def downgrade() -> None:
    op.drop_index("ix_flaky_evidence_run", table_name="flaky_evidence")
    with op.batch_alter_table("test_definitions") as batch_op:
        batch_op.drop_column("declared_hash")
    with op.batch_alter_table("test_env_status") as batch_op:
        batch_op.drop_column("branch")
