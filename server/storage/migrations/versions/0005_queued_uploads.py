"""queued uploads: JUnit reports accepted with Prefer: respond-async, ingested in the background

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 15:30:00

An upload is committed here before the server answers 202, so a crash before its ingest
loses nothing: any worker picks the row up again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "queued_uploads",
        sa.Column("id", BigId, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("project", sa.String(length=200), nullable=True),
        sa.Column("run_id", sa.String(length=128), nullable=True),
        sa.Column("report", sa.LargeBinary(), nullable=True),
        sa.Column("meta", sa.LargeBinary(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claimed_by", sa.String(length=255), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queued_uploads")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_queued_uploads_state_id", "queued_uploads", ["state", "id"])


def downgrade() -> None:
    op.drop_index("ix_queued_uploads_state_id", table_name="queued_uploads")
    op.drop_table("queued_uploads")
