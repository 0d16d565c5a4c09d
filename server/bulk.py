"""Fast bulk writes: ``COPY`` on PostgreSQL, one prepared ``executemany`` on SQLite.

An ingest writes one row per test; going through SQLAlchemy's per-row parameter handling
costs more than the database itself. Callers hand these helpers rows that are ready for the
driver, converted with the column types' own bind processors (:func:`bind_processor`), so
what lands in the table is exactly what the ORM would write.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Column, Table
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


def bind_processor(session: AnySession, column: Column[Any]) -> Callable[[Any], Any]:
    """The column type's conversion of a Python value into what the driver takes, so that
    callers of the writers below can hand them ready rows (and convert a constant once)."""
    dialect = session.get_bind().dialect
    process: Callable[[Any], Any] | None = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else _unchanged


def _unchanged(value: Any) -> Any:
    return value


@contextlib.contextmanager
def _cursor(session: AnySession) -> Iterator[tuple[Any, bool]]:
    """The driver's own cursor on the session's connection (in its open transaction), and
    whether the database is PostgreSQL."""
    connection = session.connection()
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor, connection.dialect.name == "postgresql"
    finally:
        cursor.close()


def _marks(sql: str, postgres: bool) -> str:
    """SQL written with ``?`` marks, in the driver's style."""
    return sql.replace("?", "%s") if postgres else sql


def insert_rows(
    session: AnySession,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Row],
    *,
    on_conflict: Sequence[str] = (),
    update: str = "",
) -> None:
    """Append ``rows`` (tuples in ``columns`` order, values as the driver takes them: see
    :func:`bind_processor`) to ``table``, in the open transaction.

    With ``on_conflict`` (the columns of a unique constraint), a row whose key is taken
    (by another transaction meanwhile, say) is skipped instead of failing the insert, or,
    given ``update`` (an SQL ``SET`` list, which may name ``excluded.column``), updates the
    row that holds the key. The rows are written in key order, the same lock order for
    every writer, and must not repeat a key.
    """
    if not rows:
        return
    names = ", ".join(columns)
    keys = ", ".join(on_conflict)
    conflict = ""
    if on_conflict:
        action = f"DO UPDATE SET {update}" if update else "DO NOTHING"
        conflict = f" ON CONFLICT ({keys}) {action}"
    with _cursor(session) as (cursor, postgres):
        if postgres and not on_conflict:
            _copy(cursor, table.name, names, rows)
        elif postgres:
            staging = _stage(cursor, table, names, rows)
            cursor.execute(
                f"INSERT INTO {table.name} ({names})"  # noqa: S608
                f" SELECT {names} FROM {staging} ORDER BY {keys}{conflict}"
            )
            cursor.execute(f"TRUNCATE {staging}")
        else:
            if on_conflict:
                order = [columns.index(name) for name in on_conflict]
                rows = sorted(rows, key=lambda row: [row[index] for index in order])
            marks = ", ".join("?" for _ in columns)
            cursor.executemany(
                f"INSERT INTO {table.name} ({names}) VALUES ({marks}){conflict}",  # noqa: S608
                rows,
            )


def _copy(cursor: Any, target: str, names: str, rows: Sequence[Row]) -> None:
    with cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _stage(cursor: Any, table: Table, names: str, rows: Sequence[Row]) -> str:
    """``COPY`` rows into the transaction's staging copy of ``table`` (PostgreSQL), from
    which one ``INSERT ... SELECT ... ON CONFLICT`` moves them; returns its name."""
    staging = f"testviz_stage_{table.name}"
    cursor.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {staging} "
        f"(LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    _copy(cursor, staging, names, rows)
    return staging


def execute_rows(session: AnySession, sql: str, rows: Sequence[Row]) -> None:
    """``sql`` (with ``?`` marks) once per row, through the driver: for bulk updates."""
    if not rows:
        return
    with _cursor(session) as (cursor, postgres):
        cursor.executemany(_marks(sql, postgres), rows)


def raw_select(session: AnySession, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (``?`` marks) through the driver, for plain columns in bulk: thousands
    of rows come back several times faster than through result processing."""
    with _cursor(session) as (cursor, postgres):
        cursor.execute(_marks(sql, postgres), tuple(params))
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows


#: Keys per statement on PostgreSQL, where they travel as one array parameter.
ARRAY_CHUNK = 20_000


def _in_statements(
    sql: str, fixed: Sequence[Any], keys: Sequence[Any], postgres: bool
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """``sql`` (with ``IN ({keys})`` and ``?`` marks) and its parameters, per chunk of keys.

    PostgreSQL gets ``= ANY(%s)`` with the chunk as one array: one short statement to parse
    and plan for thousands of keys. SQLite gets a mark per key, within its variable limit.
    """
    if postgres:
        statement = _marks(sql, postgres).replace("IN ({keys})", "= ANY(%s)")
        for chunk in chunks(keys, ARRAY_CHUNK):
            yield statement, (*fixed, list(chunk))
        return
    for chunk in chunks(keys):
        yield sql.format(keys=", ".join("?" for _ in chunk)), (*fixed, *chunk)


def select_in(
    session: AnySession, sql: str, fixed: Sequence[Any], keys: Sequence[Any]
) -> Iterator[tuple[Any, ...]]:
    """Rows of ``sql`` (ending in ``IN ({keys})``, written with ``?`` marks; ``fixed`` fills
    the marks before it) for every chunk of ``keys``, through the driver: no statement
    compiling per chunk. Values come back as the driver gives them, so select only plain
    columns, and keys of one type."""
    with _cursor(session) as (cursor, postgres):
        for statement, params in _in_statements(sql, fixed, keys, postgres):
            cursor.execute(statement, params)
            yield from cursor.fetchall()


def execute_in(session: AnySession, sql: str, fixed: Sequence[Any], keys: Sequence[Any]) -> None:
    """Run ``sql`` (as for :func:`select_in`) for every chunk of ``keys``: bulk updates."""
    with _cursor(session) as (cursor, postgres):
        for statement, params in _in_statements(sql, fixed, keys, postgres):
            cursor.execute(statement, params)


def insert_new_returning(
    session: AnySession,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[Row],
    conflict: Sequence[str],
    key: str,
) -> list[tuple[int, Any]]:
    """Insert rows (ready, as for :func:`insert_rows`) whose ``conflict`` columns are not taken
    yet; return ``(id, key)`` of those inserted. Rows another transaction inserted meanwhile
    are skipped, not an error."""
    if not rows:
        return []
    names = ", ".join(columns)
    on_conflict = f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
    with _cursor(session) as (cursor, postgres):
        if postgres:
            staging = _stage(cursor, table, names, rows)
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
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {table.name}")  # noqa: S608
        (before,) = cursor.fetchone()
        cursor.executemany(
            f"INSERT INTO {table.name} ({names}) VALUES ({marks}) {on_conflict}",  # noqa: S608
            rows,
        )
        cursor.execute(f"SELECT id, {key} FROM {table.name} WHERE id > ?", (before,))  # noqa: S608
        return [(int(pk), value) for pk, value in cursor.fetchall()]
