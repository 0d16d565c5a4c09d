"""test identity version 2: names hashed exactly, no white space folded

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 17:00:00

Version 1 of the test identity trimmed names and folded runs of white space, so pytest's
``test_x[END IF]`` and ``test_x[END   IF]`` had one id and one stored history. Version 2 hashes
the XML's classname and name exactly. Every stored test keeps its history under the id its
stored name now has: ``test_definitions.test_id`` is recomputed, and the ids kept in integrity
signals and in runs' notes are mapped along. Definitions with the same classname and name in a
project are a non-unique producer's repeats: they are numbered in the order they were first
stored, as the parser numbers them in a report. Tests that version 1 had merged stay merged
in the past; from the next run on each gets its own history.

The formula is written out here, not imported, so this migration does what it did the day it
was written whatever later versions of the core do.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_BATCH = 5000
_SPACES = re.compile(r"\s+")


def _v2(project: str, classname: str, name: str, occurrence: int) -> str:
    identity = f"testviz:2\0{project}\0{classname}\0{name}"
    if occurrence > 1:
        identity += f"\0#{occurrence}"
    return hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()


def _fold(text: str) -> str:
    return _SPACES.sub(" ", text.strip())


def _v1(project: str, classname: str, name: str, occurrence: int) -> str:
    identity = f"testviz:1\0{project}\0{_fold(classname)}\0{_fold(name)}"
    if occurrence > 1:
        identity += f"\0#{occurrence}"
    return hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()


def upgrade() -> None:
    _recompute(_v2, key=lambda classname, name: (classname, name))


def downgrade() -> None:
    _recompute(_v1, key=lambda classname, name: (_fold(classname), _fold(name)))


def _recompute(
    formula: Callable[[str, str, str, int], str],
    key: Callable[[str, str], tuple[str, str]],
) -> None:
    """Give every definition the id ``formula`` gives it, and map the ids kept elsewhere."""
    connection = op.get_bind()
    definitions = sa.table(
        "test_definitions",
        sa.column("id", sa.BigInteger),
        sa.column("project", sa.String),
        sa.column("test_id", sa.String),
        sa.column("classname", sa.Text),
        sa.column("name", sa.Text),
    )
    seen: dict[tuple[str, str, str], int] = {}
    renamed: dict[str, dict[str, str]] = {}  # project -> old id -> new id
    for rows in _batches(connection, definitions):
        updates = []
        for pk, project, old_id, classname, name in rows:
            group = (project, *key(classname, name))
            occurrence = seen[group] = seen.get(group, 0) + 1
            new_id = formula(project, classname, name, occurrence)
            if new_id != old_id:
                updates.append({"pk": pk, "new_id": new_id})
                renamed.setdefault(project, {})[old_id] = new_id
        if updates:
            connection.execute(
                definitions.update()
                .where(definitions.c.id == sa.bindparam("pk"))
                .values(test_id=sa.bindparam("new_id")),
                updates,
            )
    if renamed:
        _map_signal_tests(connection, renamed)
        _map_run_notes(connection, renamed)


def _batches(connection: Any, definitions: Any) -> Iterator[list[Any]]:
    """All definitions in the order they were stored, a batch at a time (by primary key)."""
    last = 0
    columns = [
        definitions.c.id,
        definitions.c.project,
        definitions.c.test_id,
        definitions.c.classname,
        definitions.c.name,
    ]
    while True:
        rows = connection.execute(
            sa.select(*columns)
            .where(definitions.c.id > last)
            .order_by(definitions.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _map_signal_tests(connection: Any, renamed: dict[str, dict[str, str]]) -> None:
    signals = sa.table(
        "integrity_signals",
        sa.column("id", sa.BigInteger),
        sa.column("project", sa.String),
        sa.column("tests", sa.JSON),
    )
    for pk, project, tests in connection.execute(
        sa.select(signals.c.id, signals.c.project, signals.c.tests)
    ):
        mapping = renamed.get(project)
        if not mapping or not tests:
            continue
        changed = [
            {**test, "test_id": mapping.get(test["test_id"], test["test_id"])}
            if isinstance(test, dict) and isinstance(test.get("test_id"), str)
            else test
            for test in tests
        ]
        if changed != tests:
            connection.execute(signals.update().where(signals.c.id == pk).values(tests=changed))


def _map_run_notes(connection: Any, renamed: dict[str, dict[str, str]]) -> None:
    runs = sa.table(
        "runs",
        sa.column("id", sa.BigInteger),
        sa.column("project", sa.String),
        sa.column("notes", sa.JSON),
    )
    for pk, project, notes in connection.execute(
        sa.select(runs.c.id, runs.c.project, runs.c.notes)
    ):
        mapping = renamed.get(project)
        repeated = (notes or {}).get("repeated_test_ids") if isinstance(notes, dict) else None
        if not mapping or not repeated:
            continue
        mapped = [mapping.get(test_id, test_id) for test_id in repeated]
        if mapped != repeated:
            connection.execute(
                runs.update()
                .where(runs.c.id == pk)
                .values(notes={**notes, "repeated_test_ids": mapped})
            )
