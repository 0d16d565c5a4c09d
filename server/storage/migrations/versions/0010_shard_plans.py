"""shard_plans: one test split per CI build, number of parts, grouping and collection

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 20:05:00

``POST /api/tests/shard-plans`` stores the plan the first job of a build asks for, so every
job of the build runs its part of the same plan (pytest --testviz-shard=K/N). The unique key
lets concurrent jobs insert with ON CONFLICT DO NOTHING and read back the one that won.
``grouping`` is "" without grouping (NULLs would never conflict).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "shard_plans",
        sa.Column("id", BigId, nullable=False),
        sa.Column("project", sa.String(length=200), nullable=False),
        sa.Column("build_id", sa.String(length=200), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("grouping", sa.String(length=16), nullable=False),
        sa.Column("collection_hash", sa.String(length=64), nullable=False),
        sa.Column("tests", sa.Integer(), nullable=False),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.Column("loads", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("known", sa.Integer(), nullable=False),
        sa.Column("branch", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shard_plans")),
        sa.UniqueConstraint(
            "project",
            "build_id",
            "total",
            "grouping",
            "collection_hash",
            name=op.f("uq_shard_plans_project_build_id_total_grouping_collection_hash"),
        ),
    )
    op.create_index("ix_shard_plans_created_at", "shard_plans", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_shard_plans_created_at", table_name="shard_plans")
    op.drop_table("shard_plans")
