"""outcome categories: xfailed and xpassed counted apart, subtests counted

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 16:00:00

pytest's expected failures were stored as ``skipped`` and its unexpected passes as ``passed``,
and a test's failed subtests as one failure. From now on a result's status may also be
``xfailed`` or ``xpassed`` (``test_results.status``, a String(8), holds both), a run counts
them apart (``runs.xfailed``, ``runs.xpassed``) with the subtests of its tests
(``runs.subtests_failed``, ``runs.subtests_passed``), and a result keeps its own subtest
counts (``test_results.subtests_*``: NULL for 0, so the rows of the many tests without
subtests cost nothing). Runs stored before keep what they had: which of their skips were xfails is not
known, so their new counts are 0.

Downgrading folds the new statuses back into the old ones (xfailed into skipped, xpassed into
passed, in the results and in the runs' counts), so the older server reads every row. The
columns are dropped with ``ALTER TABLE ... DROP COLUMN`` on SQLite too (3.35 or newer): a
batch copy of ``runs`` would drop the table, and with foreign keys on, SQLite's implicit
``DELETE`` would cascade to every run's results.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_RUN_COUNTS = ("xfailed", "xpassed", "subtests_failed", "subtests_passed")
_RESULT_COUNTS = ("subtests_failed", "subtests_passed")


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch_op:
        for name in _RUN_COUNTS:
            batch_op.add_column(
                sa.Column(name, sa.Integer(), nullable=False, server_default="0")
            )
    with op.batch_alter_table("test_results") as batch_op:
        for name in _RESULT_COUNTS:
            batch_op.add_column(sa.Column(name, sa.Integer(), nullable=True))


def downgrade() -> None:
    op.execute("UPDATE test_results SET status = 'skipped' WHERE status = 'xfailed'")
    op.execute("UPDATE test_results SET status = 'passed' WHERE status = 'xpassed'")
    op.execute(
        "UPDATE runs SET skipped = skipped + xfailed, passed = passed + xpassed"
        " WHERE xfailed > 0 OR xpassed > 0"
    )
    for name in _RESULT_COUNTS:
        op.drop_column("test_results", name)
    for name in _RUN_COUNTS:
        op.drop_column("runs", name)
