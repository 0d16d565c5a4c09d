"""Engine set-up per database, and the schema upgrade that runs at start-up.

SQLite: WAL (readers never wait for a writer), a busy timeout, foreign keys on, and write
transactions that start with ``BEGIN IMMEDIATE`` so a writer never holds a stale snapshot
(the cause of "database is locked" under concurrent writers). PostgreSQL needs nothing.
Schema changes are Alembic migrations; start-up upgrades under a lock so that several
workers starting at once do not race.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, scoped_session

from .db import Base

log = logging.getLogger(__name__)
#: A session, or Flask-SQLAlchemy's scoped ``db.session`` that stands for one.
AnySession = Session | scoped_session[Any]
MIGRATIONS = Path(__file__).parent / "migrations"
_PG_LOCK_KEY = 0x7E57_715  # any constant: the advisory lock that serialises upgrades


def engine_options(database_url: str) -> dict[str, Any]:
    if database_url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {"pool_pre_ping": True}


def configure_engine(engine: Engine) -> None:
    """Per-dialect connection settings; call once per engine."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA busy_timeout=30000",
            "PRAGMA foreign_keys=ON",
            "PRAGMA synchronous=NORMAL",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        write = connection.get_execution_options().get("testviz_write")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    config.attributes["metadata"] = Base.metadata
    return config


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to ``revision``, one process at a time."""
    with _upgrade_lock(engine), engine.connect() as connection:
        connection = connection.execution_options(testviz_write=True)
        with connection.begin():
            if engine.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY}
                )
            command.upgrade(alembic_config(connection), revision)


@contextlib.contextmanager
def _upgrade_lock(engine: Engine) -> Iterator[None]:
    """A file lock beside a SQLite database (PostgreSQL locks inside the transaction)."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    lock_path = Path(database).with_name(Path(database).name + ".migrate-lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def begin_write(session: AnySession) -> None:
    """Start the session's next transaction as a write transaction.

    On SQLite that is ``BEGIN IMMEDIATE``: a transaction that reads and then writes would
    otherwise fail with "database is locked" whenever another writer committed in between.
    Ends a read-only transaction the session may still hold.
    """
    real: Session = session() if isinstance(session, scoped_session) else session
    if real.in_transaction():
        real.commit()
    real.connection(execution_options={"testviz_write": True})
