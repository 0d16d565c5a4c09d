"""visualizer aggregates: failure group membership, per-environment outcomes, flaky evidence

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 11:00:00

Kept up to date at ingest from now on. Backfilled here from stored results: failure group
membership and ``runs_affected``, rerun evidence, and each test's latest outcome per
environment. Flips and same-sha evidence of runs ingested before the upgrade are not
reconstructed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "failure_group_tests",
        sa.Column("id", BigId, nullable=False),
        sa.Column("project", sa.String(length=200), nullable=False),
        sa.Column("fingerprint", sa.String(length=16), nullable=False),
        sa.Column("definition_pk", BigId, nullable=False),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("first_run_pk", BigId, nullable=False),
        sa.Column("last_run_pk", BigId, nullable=False),
        sa.ForeignKeyConstraint(
            ["definition_pk"],
            ["test_definitions.id"],
            name=op.f("fk_failure_group_tests_definition_pk_test_definitions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_failure_group_tests")),
        sa.UniqueConstraint(
            "project",
            "fingerprint",
            "definition_pk",
            name=op.f("uq_failure_group_tests_project_fingerprint_definition_pk"),
        ),
    )
    op.create_index("ix_failure_group_tests_definition", "failure_group_tests", ["definition_pk"])

    op.create_table(
        "test_env_status",
        sa.Column("definition_pk", BigId, nullable=False),
        sa.Column("env_key", sa.String(length=1024), nullable=False),
        sa.Column("project", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("since_run_pk", BigId, nullable=False),
        sa.Column("last_run_pk", BigId, nullable=False),
        sa.ForeignKeyConstraint(
            ["definition_pk"],
            ["test_definitions.id"],
            name=op.f("fk_test_env_status_definition_pk_test_definitions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("definition_pk", "env_key", name=op.f("pk_test_env_status")),
    )
    op.create_index(
        "ix_test_env_status_project_outcome", "test_env_status", ["project", "outcome"]
    )

    op.create_table(
        "flaky_evidence",
        sa.Column("id", BigId, nullable=False),
        sa.Column("project", sa.String(length=200), nullable=False),
        sa.Column("definition_pk", BigId, nullable=False),
        sa.Column("run_pk", BigId, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["definition_pk"],
            ["test_definitions.id"],
            name=op.f("fk_flaky_evidence_definition_pk_test_definitions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_pk"], ["runs.id"], name=op.f("fk_flaky_evidence_run_pk_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flaky_evidence")),
        sa.UniqueConstraint(
            "definition_pk", "run_pk", "kind", name=op.f("uq_flaky_evidence_definition_pk_run_pk_kind")
        ),
    )
    op.create_index("ix_flaky_evidence_project_run", "flaky_evidence", ["project", "run_pk"])

    with op.batch_alter_table("failure_groups") as batch_op:
        batch_op.add_column(
            sa.Column("runs_affected", sa.Integer(), nullable=False, server_default="0")
        )
    op.create_index("ix_runs_project_git_sha", "runs", ["project", "git_sha"])
    op.drop_index("ix_test_results_fingerprint", table_name="test_results")
    op.create_index(
        "ix_test_results_fingerprint_run", "test_results", ["fingerprint", "run_pk"]
    )
    _backfill()


def _backfill() -> None:
    op.execute(
        """
        INSERT INTO failure_group_tests
            (project, fingerprint, definition_pk, occurrences, first_run_pk, last_run_pk)
        SELECT d.project, r.fingerprint, r.definition_pk, count(*), min(r.run_pk), max(r.run_pk)
        FROM test_results r JOIN test_definitions d ON d.id = r.definition_pk
        WHERE r.fingerprint IS NOT NULL
        GROUP BY d.project, r.fingerprint, r.definition_pk
        """
    )
    op.execute(
        """
        UPDATE failure_groups SET runs_affected = (
            SELECT count(DISTINCT r.run_pk)
            FROM test_results r JOIN test_definitions d ON d.id = r.definition_pk
            WHERE r.fingerprint = failure_groups.fingerprint
              AND d.project = failure_groups.project
        )
        """
    )
    op.execute(
        """
        INSERT INTO flaky_evidence (project, definition_pk, run_pk, kind, detail)
        SELECT d.project, r.definition_pk, r.run_pk, 'rerun', '{}'
        FROM test_results r JOIN test_definitions d ON d.id = r.definition_pk
        WHERE r.flaky
        """
    )
    # The latest pass/fail outcome of each test in each environment.
    op.execute(
        """
        INSERT INTO test_env_status
            (definition_pk, env_key, project, outcome, since_run_pk, last_run_pk)
        SELECT definition_pk, env_key, project,
               CASE WHEN status = 'passed' THEN 'pass' ELSE 'fail' END, run_pk, run_pk
        FROM (
            SELECT r.definition_pk, COALESCE(u.env_fingerprint, '') AS env_key, u.project,
                   r.status, r.run_pk,
                   row_number() OVER (
                       PARTITION BY r.definition_pk, COALESCE(u.env_fingerprint, '')
                       ORDER BY r.run_pk DESC
                   ) AS newest
            FROM test_results r JOIN runs u ON u.id = r.run_pk
            WHERE r.status IN ('passed', 'failed', 'error')
        ) latest
        WHERE newest = 1
        """
    )


def downgrade() -> None:
    op.drop_index("ix_test_results_fingerprint_run", table_name="test_results")
    op.create_index("ix_test_results_fingerprint", "test_results", ["fingerprint"])
    op.drop_index("ix_runs_project_git_sha", table_name="runs")
    with op.batch_alter_table("failure_groups") as batch_op:
        batch_op.drop_column("runs_affected")
    op.drop_table("flaky_evidence")
    op.drop_table("test_env_status")
    op.drop_table("failure_group_tests")
