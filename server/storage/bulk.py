"""Fast bulk writes: ``COPY`` on PostgreSQL, one prepared ``executemany`` on SQLite.

An ingest writes one row per test; going through SQLAlchemy's per-row parameter handling
costs more than the database itself. So the ingest hands rows straight to the driver: tuples
ready for it, converted with the column types' own bind processors (:func:`bind_processor`),
so what lands in the table is exactly what the ORM would write.

The statements are built once, at import, from the tables of :mod:`.models`
(:class:`BulkInsert`, :class:`BulkSelect`, :class:`BulkUpdate`): callers name
:class:`~sqlalchemy.Column` objects, never table or column names of their own, and a
conflict target is the table's own unique key (:func:`unique_key`).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Column, Table, UniqueConstraint
from sqlalchemy.dialects import postgresql, sqlite

from .engine import AnySession

# The SQL below is assembled from the models' table and column names (never from input),
# which is why the S608 warnings are silenced; every value travels as a bound parameter or
# COPY row.

Row = Sequence[Any]
T = TypeVar("T")
#: Rows per IN list or multi-row statement: well within SQLite's variable limit.
CHUNK = 1000
#: Keys per statement on PostgreSQL, where they travel as one array parameter.
ARRAY_CHUNK = 20_000


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


# -- statements, built from the tables --------------------------------------------------------


def unique_key(table: Table) -> tuple[Column[Any], ...]:
    """The columns of the table's one unique constraint, else of its primary key: what an
    ``ON CONFLICT`` names."""
    constraints = [c for c in table.constraints if isinstance(c, UniqueConstraint)]
    if len(constraints) > 1:
        raise ValueError(f"{table.name} has {len(constraints)} unique constraints: name one")
    key = constraints[0] if constraints else table.primary_key
    return tuple(key.columns)


def _table(columns: Sequence[Column[Any]]) -> Table:
    tables = {column.table for column in columns}
    if len(tables) != 1:
        raise ValueError("the columns of one statement come from one table")
    (table,) = tables
    assert isinstance(table, Table)
    return table


def _names(columns: Sequence[Column[Any]]) -> str:
    return ", ".join(column.name for column in columns)


def _pg(sql: str) -> str:
    """SQL written with ``?`` marks, in psycopg's style."""
    return sql.replace("?", "%s")


class BulkInsert:
    """``INSERT`` of ``columns`` (rows are tuples in their order), in each driver's SQL.

    With ``on_conflict`` (a unique key, see :func:`unique_key`), a row whose key is taken (by
    another transaction meanwhile, say) is skipped instead of failing the insert, or updates
    the row that holds the key: ``add`` columns add the new row's value to the stored one,
    ``replace`` columns take the new row's. With ``returning``, :func:`insert_new_returning`
    gives ``(id, value of that column)`` of each row inserted.
    """

    def __init__(
        self,
        columns: Sequence[Column[Any]],
        *,
        on_conflict: Sequence[Column[Any]] = (),
        add: Sequence[Column[Any]] = (),
        replace: Sequence[Column[Any]] = (),
        returning: Column[Any] | None = None,
    ) -> None:
        table = _table([*columns, *on_conflict, *add, *replace])
        self.table = table
        self.columns = tuple(columns)
        self.key_index = tuple(self.columns.index(column) for column in on_conflict)
        names = _names(self.columns)
        name = table.name
        updates = [f"{c.name} = {name}.{c.name} + excluded.{c.name}" for c in add]
        updates += [f"{c.name} = excluded.{c.name}" for c in replace]
        conflict = ""
        if on_conflict:
            action = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
            conflict = f" ON CONFLICT ({_names(on_conflict)}) {action}"
        self.has_conflict = bool(on_conflict)
        marks = ", ".join("?" for _ in self.columns)
        self.sqlite = f"INSERT INTO {name} ({names}) VALUES ({marks}){conflict}"  # noqa: S608
        self.copy = f"COPY {name} ({names}) FROM STDIN"
        self.staging = f"testviz_stage_{name}"
        self.create_staging = (
            f"CREATE TEMP TABLE IF NOT EXISTS {self.staging} "
            f"(LIKE {name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        self.copy_staging = f"COPY {self.staging} ({names}) FROM STDIN"
        # One lock order for every writer: the rows go in key order.
        order = f" ORDER BY {_names(on_conflict)}" if on_conflict else ""
        self.from_staging = (
            f"INSERT INTO {name} ({names}) SELECT {names} FROM {self.staging}{order}{conflict}"  # noqa: S608
        )
        self.returning = returning
        if returning is not None:
            self.from_staging += f" RETURNING id, {returning.name}"
            self.max_id = f"SELECT coalesce(max(id), 0) FROM {name}"  # noqa: S608
            self.since = f"SELECT id, {returning.name} FROM {name} WHERE id > ?"  # noqa: S608


class BulkSelect:
    """``SELECT columns FROM table WHERE where = ? AND ... [AND key IN (...)]``; parameters
    are the ``where`` values, then the keys (see :func:`select_in`)."""

    def __init__(
        self,
        columns: Sequence[Column[Any]],
        *,
        where: Sequence[Column[Any]] = (),
        key: Column[Any] | None = None,
    ) -> None:
        table = _table([*columns, *where, *([key] if key is not None else [])])
        conditions = [f"{column.name} = ?" for column in where]
        self.sql = _with_keys(
            f"SELECT {_names(columns)} FROM {table.name}",  # noqa: S608
            conditions,
            key,
        )
        self.pg = _pg_keys(self.sql)


class BulkUpdate:
    """``UPDATE table SET set = ?, ... WHERE where = ? AND ... [AND older < ?] [AND key IN
    (...)]``; parameters in that order. ``older`` guards a newer value against an older run
    arriving late."""

    def __init__(
        self,
        set_: Sequence[Column[Any]],
        *,
        where: Sequence[Column[Any]] = (),
        older: Column[Any] | None = None,
        key: Column[Any] | None = None,
    ) -> None:
        extra = [each for each in (older, key) if each is not None]
        table = _table([*set_, *where, *extra])
        conditions = [f"{column.name} = ?" for column in where]
        if older is not None:
            conditions.append(f"{older.name} < ?")
        assignments = ", ".join(f"{column.name} = ?" for column in set_)
        self.sql = _with_keys(f"UPDATE {table.name} SET {assignments}", conditions, key)  # noqa: S608
        self.pg = _pg_keys(self.sql)


def _with_keys(head: str, conditions: list[str], key: Column[Any] | None) -> str:
    if key is not None:
        conditions = [*conditions, f"{key.name} IN ({{keys}})"]
    return f"{head} WHERE {' AND '.join(conditions)}" if conditions else head


def _pg_keys(sql: str) -> str:
    """PostgreSQL gets ``= ANY(%s)`` with the keys as one array: one short statement to parse
    and plan for thousands of keys."""
    return _pg(sql).replace(" IN ({keys})", " = ANY(%s)")


# -- running them -----------------------------------------------------------------------------


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


def insert_rows(session: AnySession, insert: BulkInsert, rows: Sequence[Row]) -> None:
    """Append ``rows`` (tuples in ``insert.columns`` order, values as the driver takes them:
    see :func:`bind_processor`), in the open transaction. With a conflict target, the rows
    are written in key order and must not repeat a key."""
    if not rows:
        return
    with _cursor(session) as (cursor, postgres):
        if postgres and not insert.has_conflict:
            _copy(cursor, insert.copy, rows)
        elif postgres:
            _stage(cursor, insert, rows)
            cursor.execute(insert.from_staging)
            cursor.execute(f"TRUNCATE {insert.staging}")
        else:
            if insert.has_conflict:
                order = insert.key_index
                rows = sorted(rows, key=lambda row: [row[index] for index in order])
            cursor.executemany(insert.sqlite, rows)


def _copy(cursor: Any, sql: str, rows: Sequence[Row]) -> None:
    with cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def _stage(cursor: Any, insert: BulkInsert, rows: Sequence[Row]) -> None:
    """``COPY`` rows into the transaction's staging copy of the table (PostgreSQL), from
    which one ``INSERT ... SELECT ... ON CONFLICT`` moves them."""
    cursor.execute(insert.create_staging)
    _copy(cursor, insert.copy_staging, rows)


def insert_new_returning(
    session: AnySession, insert: BulkInsert, rows: Sequence[Row]
) -> list[tuple[int, Any]]:
    """Insert rows (ready, as for :func:`insert_rows`) whose key is not taken yet; return
    ``(id, returning column)`` of those inserted. Rows another transaction inserted meanwhile
    are skipped, not an error."""
    if insert.returning is None or not insert.has_conflict:
        raise ValueError("insert_new_returning needs an insert with on_conflict and returning")
    if not rows:
        return []
    with _cursor(session) as (cursor, postgres):
        if postgres:
            _stage(cursor, insert, rows)
            cursor.execute(insert.from_staging)
            inserted = [(int(pk), value) for pk, value in cursor.fetchall()]
            cursor.execute(f"TRUNCATE {insert.staging}")
            return inserted
        # SQLite: the ingest holds the write lock (BEGIN IMMEDIATE), so nobody races us here,
        # and every row with an id above the largest before the insert is one of ours.
        cursor.execute(insert.max_id)
        (before,) = cursor.fetchone()
        cursor.executemany(insert.sqlite, rows)
        cursor.execute(insert.since, (before,))
        return [(int(pk), value) for pk, value in cursor.fetchall()]


def execute_rows(session: AnySession, update: BulkUpdate, rows: Sequence[Row]) -> None:
    """``update`` (without keys) once per row of parameters, through the driver."""
    if not rows:
        return
    with _cursor(session) as (cursor, postgres):
        cursor.executemany(update.pg if postgres else update.sql, rows)


def raw_select(
    session: AnySession, query: BulkSelect, params: Sequence[Any]
) -> list[tuple[Any, ...]]:
    """Rows of ``query`` (without keys) through the driver, for plain columns in bulk:
    thousands of rows come back several times faster than through result processing."""
    with _cursor(session) as (cursor, postgres):
        cursor.execute(query.pg if postgres else query.sql, tuple(params))
        rows: list[tuple[Any, ...]] = cursor.fetchall()
        return rows


def _in_statements(
    statement: BulkSelect | BulkUpdate, fixed: Sequence[Any], keys: Sequence[Any], postgres: bool
) -> Iterator[tuple[str, tuple[Any, ...]]]:
    """The statement and its parameters, per chunk of keys: an array on PostgreSQL, a mark
    per key on SQLite (within its variable limit)."""
    if postgres:
        for chunk in chunks(keys, ARRAY_CHUNK):
            yield statement.pg, (*fixed, list(chunk))
        return
    for chunk in chunks(keys):
        yield statement.sql.format(keys=", ".join("?" * len(chunk))), (*fixed, *chunk)


def select_in(
    session: AnySession, query: BulkSelect, fixed: Sequence[Any], keys: Sequence[Any]
) -> Iterator[tuple[Any, ...]]:
    """Rows of ``query`` (``fixed`` fills its ``where`` marks) for every chunk of ``keys``,
    through the driver: no statement compiling per chunk. Values come back as the driver
    gives them, so select only plain columns, and keys of one type."""
    with _cursor(session) as (cursor, postgres):
        for sql, params in _in_statements(query, fixed, keys, postgres):
            cursor.execute(sql, params)
            yield from cursor.fetchall()


def execute_in(
    session: AnySession, update: BulkUpdate, fixed: Sequence[Any], keys: Sequence[Any]
) -> None:
    """Run ``update`` (as for :func:`select_in`) for every chunk of ``keys``: bulk updates."""
    with _cursor(session) as (cursor, postgres):
        for sql, params in _in_statements(update, fixed, keys, postgres):
            cursor.execute(sql, params)
