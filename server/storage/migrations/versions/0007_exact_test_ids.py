"""test identity version 2: names hashed exactly, no white space folded

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 17:00:00

Version 1 of the test identity trimmed names and folded runs of white space, so pytest's
``test_x[END IF]`` and ``test_x[END   IF]`` had one id and one stored history. Version 2 hashes
the XML's classname and name exactly. Every stored test keeps its history under the id its
stored name now has: ``test_definitions.test_id`` is recomputed, and the ids kept in integrity
signals and in runs' notes are mapped along. Definitions with the same classname and name in a
project are a non-unique producer's repeats: each keeps its place in the report, recovered
from its version-1 id (the primary key does not hold it: PostgreSQL's ingest inserts a
report's new definitions in test-id order). Tests that version 1 had
merged stay merged in the past; from the next run on each gets its own history. The rows are
streamed in groups of one name; only the ids that signals and notes name are kept in memory.

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
    def numbered(group: list[_Row]) -> Iterator[tuple[_Row, str]]:
        # Definitions with the same classname and name are a non-unique producer's repeats;
        # each keeps the occurrence its version-1 id was made with (the order of the report,
        # which neither the primary key nor anything else stored holds on PostgreSQL).
        ordered = sorted(group, key=lambda row: (_occurrence(_v1, row, len(group)), row[0]))
        for occurrence, row in enumerate(ordered, start=1):
            yield row, _v2(*row[1:4], occurrence)

    _recompute(numbered)


def downgrade() -> None:
    seen: dict[bytes, int] = {}  # version 1 numbered repeats by folded names: a digest each

    def numbered(group: list[_Row]) -> Iterator[tuple[_Row, str]]:
        ordered = sorted(group, key=lambda row: (_occurrence(_v2, row, len(group)), row[0]))
        for row in ordered:
            _, project, classname, name, _ = row
            folded = f"{project}\0{_fold(classname)}\0{_fold(name)}"
            key = hashlib.blake2b(folded.encode("utf-8", "surrogatepass"), digest_size=16).digest()
            occurrence = seen[key] = seen.get(key, 0) + 1
            yield row, _v1(project, classname, name, occurrence)

    _recompute(numbered)


#: A definition as streamed: id, project, classname, name, test id.
_Row = tuple[int, str, str, str, str]


def _recompute(numbered: Callable[[list[_Row]], Iterator[tuple[_Row, str]]]) -> None:
    """Give each group of same-named definitions the ids ``numbered`` gives them, a batch of
    rows at a time, then map the ids that integrity signals and runs' notes name."""
    connection = op.get_bind()
    referenced = _referenced_ids(connection)
    renamed: dict[tuple[str, str], str] = {}  # (project, old id) -> new id, where referenced
    updates: list[dict[str, Any]] = []
    for group in _groups(connection):
        for (pk, project, _, _, old_id), new_id in numbered(group):
            updates.append({"pk": pk, "new_id": new_id})
            if (project, old_id) in referenced:
                renamed[(project, old_id)] = new_id
        if len(updates) >= _BATCH:
            _set_ids(connection, updates)
            updates = []
    _set_ids(connection, updates)
    _map_references(connection, renamed)


_DEFINITIONS = sa.table(
    "test_definitions",
    sa.column("id", sa.BigInteger),
    sa.column("project", sa.String),
    sa.column("test_id", sa.String),
    sa.column("classname", sa.Text),
    sa.column("name", sa.Text),
)
_SIGNALS = sa.table(
    "integrity_signals",
    sa.column("id", sa.BigInteger),
    sa.column("project", sa.String),
    sa.column("tests", sa.JSON),
)
_RUNS = sa.table(
    "runs",
    sa.column("id", sa.BigInteger),
    sa.column("project", sa.String),
    sa.column("notes", sa.JSON),
)


def _groups(connection: Any) -> Iterator[list[_Row]]:
    """The definitions, streamed, in groups of the same project, classname and name."""
    d = _DEFINITIONS.c
    rows = connection.execute(
        sa.select(d.id, d.project, d.classname, d.name, d.test_id)
        .order_by(d.project, d.classname, d.name, d.id)
        .execution_options(yield_per=_BATCH)  # a server-side cursor for this query alone
    )
    group: list[_Row] = []
    for pk, project, classname, name, test_id in rows:
        if group and group[0][1:4] != (project, classname, name):
            yield group
            group = []
        group.append((pk, project, classname, name, test_id))
    if group:
        yield group


def _occurrence(formula: Callable[[str, str, str, int], str], row: _Row, size: int) -> int:
    """The occurrence a definition's id was made with by ``formula`` (a large number if none)."""
    _, project, classname, name, old_id = row
    # Version 1 numbered by folded names, so another spelling may have taken a number.
    for occurrence in range(1, 2 * size + 8):
        if formula(project, classname, name, occurrence) == old_id:
            return occurrence
    return 1 << 30


def _set_ids(connection: Any, updates: list[dict[str, Any]]) -> None:
    if updates:
        d = _DEFINITIONS.c
        connection.execute(
            _DEFINITIONS.update()
            .where(d.id == sa.bindparam("pk"))
            .values(test_id=sa.bindparam("new_id")),
            updates,
        )


def _referenced_ids(connection: Any) -> set[tuple[str, str]]:
    """(project, test id) of the tests that integrity signals and runs' notes name."""
    referenced: set[tuple[str, str]] = set()
    for project, tests in connection.execute(sa.select(_SIGNALS.c.project, _SIGNALS.c.tests)):
        for test in tests or ():
            if isinstance(test, dict) and isinstance(test.get("test_id"), str):
                referenced.add((project, test["test_id"]))
    for project, notes in connection.execute(sa.select(_RUNS.c.project, _RUNS.c.notes)):
        repeated = notes.get("repeated_test_ids") if isinstance(notes, dict) else None
        for test_id in repeated or ():
            if isinstance(test_id, str):
                referenced.add((project, test_id))
    return referenced


def _map_references(connection: Any, renamed: dict[tuple[str, str], str]) -> None:
    """Give integrity signals and runs' notes the new ids of the tests they name."""
    if not renamed:
        return
    signals = connection.execute(
        sa.select(_SIGNALS.c.id, _SIGNALS.c.project, _SIGNALS.c.tests)
    ).all()
    for pk, project, tests in signals:
        changed = [
            {**test, "test_id": renamed.get((project, test["test_id"]), test["test_id"])}
            if isinstance(test, dict) and isinstance(test.get("test_id"), str)
            else test
            for test in tests or ()
        ]
        if changed != (tests or []):
            connection.execute(_SIGNALS.update().where(_SIGNALS.c.id == pk).values(tests=changed))
    runs = connection.execute(sa.select(_RUNS.c.id, _RUNS.c.project, _RUNS.c.notes)).all()
    for pk, project, notes in runs:
        repeated = notes.get("repeated_test_ids") if isinstance(notes, dict) else None
        if not repeated:
            continue
        mapped = [renamed.get((project, test_id), test_id) for test_id in repeated]
        if mapped != repeated:
            connection.execute(
                _RUNS.update()
                .where(_RUNS.c.id == pk)
                .values(notes={**notes, "repeated_test_ids": mapped})
            )
