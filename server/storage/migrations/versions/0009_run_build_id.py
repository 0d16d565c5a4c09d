"""run build id: the CI build (pipeline, workflow run) a run is one job of

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 20:00:00

A CI build runs many jobs (shards, matrix entries), each uploading a run. From now on a run
may carry the build's id (``runs.build_id``, from the sidecar's ``build_id`` or the ingest
request's), so the server can show and summarise a build's runs together. Runs stored before
have none. Indexed with the project: a build is looked up within its project. A queued
upload keeps the build id its request named (``queued_uploads.build_id``) until it is stored.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch_op:
        batch_op.add_column(sa.Column("build_id", sa.String(200), nullable=True))
    op.create_index("ix_runs_project_build_id", "runs", ["project", "build_id"])
    with op.batch_alter_table("queued_uploads") as batch_op:
        batch_op.add_column(sa.Column("build_id", sa.String(200), nullable=True))


def downgrade() -> None:
    op.drop_column("queued_uploads", "build_id")
    op.drop_index("ix_runs_project_build_id", table_name="runs")
    # DROP COLUMN, not a batch copy: see 0006 (a copy of ``runs`` would cascade on SQLite).
    op.drop_column("runs", "build_id")
