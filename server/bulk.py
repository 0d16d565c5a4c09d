"""Fast bulk writes: ``COPY`` on PostgreSQL, one prepared ``executemany`` on SQLite.

An ingest writes one row per test; going through SQLAlchemy's per-row parameter handling
costs more than the database itself. These helpers still use SQLAlchemy's own bind
processors per column, so what lands in the table is exactly what the ORM would write.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import JSON, Table
from sqlalchemy.dialects import postgresql, sqlite

from .database import AnySession

# The SQL below is assembled from our own table and column names (never from input), which
# is why the S608 warnings are silenced; every value travels as a bound parameter or COPY row.

Row = Sequence[Any]
T = TypeVar("T")
#: Rows per IN list or multi-row statement: well within SQLite's variable limit.
CHUNK = 1000


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


Upsert = postgresql.Insert | sqlite.Insert


def dialect_insert(session: AnySession, table: Table) -> Upsert:
    """The dialect's INSERT, which knows ``ON CONFLICT``."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise RuntimeError(f"unsupported database: {dialect}")


def _driver_errors() -> tuple[type[Exception], ...]:
    errors: list[type[Exception]] = [sqlite3.Error]
    try:
        import psycopg
    except ImportError:  # the postgres extra is not installed
        pass
    else:
        errors.append(psycopg.Error)
    return tuple(errors)


#: What the database drivers raise when they are used directly, as these helpers do.
DRIVER_ERRORS = _driver_errors()


def _processors(
    table: Table, columns: Sequence[str], dialect: Any
) -> list[Callable[[Any], Any] | None]:
    processors: list[Callable[[Any], Any] | None] = []
    for name in columns:
        column_type = table.c[name].type
        process: Callable[[Any], Any] | None = column_type.dialect_impl(dialect).bind_processor(
            dialect
        )
        if process is not None and isinstance(column_type, JSON):
            process = _empty_list_first(process)
        processors.append(process)
    return processors


def _empty_list_first(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Most JSON values here are empty lists: skip the serializer for those."""

    def processed(value: Any) -> Any:
        return "[]" if value == [] else process(value)

    return processed


def _processed(
    rows: Iterable[Row], processors: list[Callable[[Any], Any] | None]
) -> Iterable[tuple[Any, ...]]:
    active = [(index, proc) for index, proc in enumerate(processors) if proc is not None]
    if not active:
        yield from (tuple(row) for row in rows)
        return
    for row in rows:
        values = list(row)
        for index, proc in active:
            if values[index] is not None:
                values[index] = proc(values[index])
        yield tuple(values)


def insert_rows(
    session: AnySession, table: Table, columns: Sequence[str], rows: Sequence[Row]
) -> None:
    """Append ``rows`` (tuples in ``columns`` order) to ``table``, in the open transaction."""
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    raw: Any = connection.connection.dbapi_connection
    values = list(_processed(rows, _processors(table, columns, dialect)))
    names = ", ".join(columns)
    if dialect.name == "postgresql":
        with raw.cursor() as cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in values:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    cursor = raw.cursor()
    try:
        cursor.executemany(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", values)  # noqa: S608
    finally:
        cursor.close()


def insert_new_returning(
    session: AnySession,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Row],
    conflict: Sequence[str],
    key: str,
) -> list[tuple[int, Any]]:
    """Insert rows whose ``conflict`` columns are not taken yet; return ``(id, key)`` of those
    inserted. Rows another transaction inserted meanwhile are skipped, not an error."""
    if not rows:
        return []
    connection = session.connection()
    dialect = connection.dialect
    raw: Any = connection.connection.dbapi_connection
    names = ", ".join(columns)
    on_conflict = f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
    values = list(_processed(rows, _processors(table, columns, dialect)))
    if dialect.name == "postgresql":
        staging = f"testviz_stage_{table.name}"
        with raw.cursor() as cursor:
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {staging} "
                f"(LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            with cursor.copy(f"COPY {staging} ({names}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)
            cursor.execute(
                f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {staging} "  # noqa: S608
                f"ORDER BY {key} {on_conflict} RETURNING id, {key}"
            )
            inserted = [(int(pk), value) for pk, value in cursor.fetchall()]
            cursor.execute(f"TRUNCATE {staging}")
            return inserted
    # SQLite: the ingest holds the write lock (BEGIN IMMEDIATE), so nobody races us here,
    # and every row with an id above the largest before the insert is one of ours.
    marks = ", ".join("?" for _ in columns)
    cursor = raw.cursor()
    try:
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table.name}")  # noqa: S608
        (before,) = cursor.fetchone()
        cursor.executemany(
            f"INSERT INTO {table.name} ({names}) VALUES ({marks}) {on_conflict}",  # noqa: S608
            values,
        )
        cursor.execute(f"SELECT id, {key} FROM {table.name} WHERE id > ?", (before,))  # noqa: S608
        return [(int(pk), value) for pk, value in cursor.fetchall()]
    finally:
        cursor.close()
