"""Migrations: the schema they build is the models' schema, and upgrades keep what was stored."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, text

from pytest_testviz.core import test_id
from server.storage.db import Base
from server.storage.engine import alembic_config, configure_engine, upgrade_database


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    configure_engine(engine)
    yield engine
    engine.dispose()


def test_migrations_build_exactly_the_models_schema(engine: Engine) -> None:
    upgrade_database(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_upgrade_to_0002_backfills_what_the_pages_need(engine: Engine) -> None:
    upgrade_database(engine, "0001")
    now = "2026-11-01 10:00:00"
    with engine.begin() as connection:
        for pk, env in ((1, "linux"), (2, "macos")):
            connection.execute(
                text(
                    "INSERT INTO runs (id, run_id, project, env_fingerprint, env, ingested_at,"
                    " duration, tests, passed, failed, errors, skipped, flaky, testcases, notes,"
                    " mapping_state, integrity_state) VALUES (:pk, :run_id, 'p', :env, '{}',"
                    " :at, 0, 2, 1, 1, 0, 0, 0, 2, '{}', 'done', 'done')"
                ),
                {"pk": pk, "run_id": f"r{pk}", "env": env, "at": now},
            )
        for pk, name in ((1, "a"), (2, "b")):
            connection.execute(
                text(
                    "INSERT INTO test_definitions (id, project, test_id, name, base_name,"
                    " classname, declared_tags, markers, tags, first_seen_at, last_seen_at,"
                    " first_run_pk, last_run_pk) VALUES (:pk, 'p', :tid, :name, :base, 'c',"
                    " '[]', '[]', '[]', :first, :last, 1, 2)"
                ),
                {"pk": pk, "tid": name, "name": name, "base": name, "first": now, "last": now},
            )
        rows = [  # run, definition, status, flaky, fingerprint
            (1, 1, "failed", False, "f1"),
            (1, 2, "passed", True, None),
            (2, 1, "failed", False, "f1"),
            (2, 2, "passed", False, None),
        ]
        for run_pk, definition_pk, status, flaky, fingerprint in rows:
            connection.execute(
                text(
                    "INSERT INTO test_results (run_pk, definition_pk, status, flaky, duration,"
                    " fingerprint, attempts) VALUES (:run, :definition, :status, :flaky, 0,"
                    " :fingerprint, 0)"
                ),
                {
                    "run": run_pk,
                    "definition": definition_pk,
                    "status": status,
                    "flaky": flaky,
                    "fingerprint": fingerprint,
                },
            )
        connection.execute(
            text(
                "INSERT INTO failure_groups (project, fingerprint, occurrences, first_seen_at,"
                " last_seen_at, first_run_pk, last_run_pk)"
                " VALUES ('p', 'f1', 2, :first, :last, 1, 2)"
            ),
            {"first": now, "last": now},
        )

    upgrade_database(engine)

    with engine.connect() as connection:
        assert (
            connection.execute(text("SELECT runs_affected FROM failure_groups")).scalar_one() == 2
        )
        assert connection.execute(
            text(
                "SELECT definition_pk, occurrences, first_run_pk, last_run_pk"
                " FROM failure_group_tests"
            )
        ).all() == [(1, 2, 1, 2)]
        assert connection.execute(
            text("SELECT definition_pk, run_pk, kind FROM flaky_evidence")
        ).all() == [(2, 1, "rerun")]
        statuses = connection.execute(
            text(
                "SELECT definition_pk, env_key, outcome FROM test_env_status"
                " ORDER BY definition_pk, env_key"
            )
        ).all()
        assert statuses == [
            (1, "linux", "fail"),
            (1, "macos", "fail"),
            (2, "linux", "pass"),
            (2, "macos", "pass"),
        ]


@pytest.mark.postgres
def test_definitions_leave_room_for_last_seen_updates(postgres_url: str) -> None:
    """Migrated and freshly created schemas both get the fill factor (HOT updates)."""
    engine = create_engine(postgres_url)
    try:
        upgrade_database(engine)
        with engine.connect() as connection:
            options = connection.execute(
                text("SELECT reloptions FROM pg_class WHERE relname = 'test_definitions'")
            ).scalar()
        assert options == ["fillfactor=60"]
    finally:
        engine.dispose()


def _v1_test_id(project: str, classname: str, name: str, occurrence: int = 1) -> str:
    """Version 1 of the test identity, which trimmed names and folded their white space."""
    fold = " ".join
    identity = f"testviz:1\0{project}\0{fold(classname.split())}\0{fold(name.split())}"
    if occurrence > 1:
        identity += f"\0#{occurrence}"
    return hashlib.sha256(identity.encode()).hexdigest()


def test_0007_gives_stored_tests_their_exact_ids_and_back(engine: Engine) -> None:
    upgrade_database(engine, "0006")
    now = "2026-12-01 10:00:00"
    # pk, project, classname, name, occurrence in its report (a non-unique producer's repeat;
    # PostgreSQL's ingest stores a report's new definitions in test-id order, not its own)
    stored = [
        (1, "p", "tests.test_tokenize", "test_parse_endifloop[END   IF]", 1),
        (2, "p", "Suite", "renders", 2),
        (3, "p", "Suite", "renders", 1),
        (4, "q", "tests.test_tokenize", "test_parse_endifloop[END   IF]", 1),
    ]
    old = {pk: _v1_test_id(project, c, n, occ) for pk, project, c, n, occ in stored}
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO runs (id, run_id, project, env, ingested_at, duration, tests,"
                " passed, failed, errors, skipped, flaky, testcases, notes, mapping_state,"
                " integrity_state) VALUES (1, 'r1', 'p', '{}', :at, 0, 3, 3, 0, 0, 0, 0, 4,"
                " :notes, 'done', 'done')"
            ),
            {"at": now, "notes": json.dumps({"repeated_test_ids": [old[1]]})},
        )
        for pk, project, classname, name, _ in stored:
            connection.execute(
                text(
                    "INSERT INTO test_definitions (id, project, test_id, name, base_name,"
                    " classname, declared_tags, markers, tags, first_seen_at, last_seen_at,"
                    " first_run_pk, last_run_pk) VALUES (:pk, :project, :tid, :name, :name,"
                    " :classname, '[]', '[]', '[]', :at, :at, 1, 1)"
                ),
                {
                    "pk": pk,
                    "project": project,
                    "tid": old[pk],
                    "name": name,
                    "classname": classname,
                    "at": now,
                },
            )
        connection.execute(
            text(
                "INSERT INTO integrity_signals (run_pk, project, kind, severity, message,"
                " tests, test_count, created_at) VALUES (1, 'p', 'duplicate_test_ids',"
                " 'warning', 'm', :tests, 1, :at)"
            ),
            {"tests": json.dumps([{"test_id": old[2], "name": "renders"}, "odd"]), "at": now},
        )

    upgrade_database(engine)

    def read() -> tuple[dict[int, str], Any, Any]:
        with engine.connect() as connection:
            ids = dict(connection.execute(text("SELECT id, test_id FROM test_definitions")).all())
            notes = connection.execute(text("SELECT notes FROM runs")).scalar_one()
            tests = connection.execute(text("SELECT tests FROM integrity_signals")).scalar_one()
        decode = lambda value: json.loads(value) if isinstance(value, str) else value  # noqa: E731
        return ids, decode(notes), decode(tests)

    ids, notes, tests = read()
    assert ids == {pk: test_id(project, c, n, occ) for pk, project, c, n, occ in stored}
    assert notes == {"repeated_test_ids": [ids[1]]}
    assert tests == [{"test_id": ids[2], "name": "renders"}, "odd"]

    with engine.connect() as connection:
        connection = connection.execution_options(testviz_write=True)
        with connection.begin():
            command.downgrade(alembic_config(connection), "0006")

    assert read() == (
        old,
        {"repeated_test_ids": [old[1]]},
        [{"test_id": old[2], "name": "renders"}, "odd"],
    )


def test_0008_moves_pending_work_to_jobs_and_back(engine: Engine) -> None:
    upgrade_database(engine, "0007")
    now = "2026-12-04 10:00:00"
    with engine.begin() as connection:
        for pk, run_id, mapping, integrity in (
            (1, "analysed", "done", "done"),
            (2, "half-done", "done", "pending"),
            (3, "never", "pending", "pending"),
        ):
            connection.execute(
                text(
                    "INSERT INTO runs (id, run_id, project, env, ingested_at, duration, tests,"
                    " passed, failed, errors, skipped, flaky, testcases, notes, mapping_state,"
                    " integrity_state, analysis_claimed_at) VALUES (:pk, :run_id, 'p', '{}',"
                    " :at, 0, 0, 0, 0, 0, 0, 0, 0, '{}', :mapping, :integrity, :at)"
                ),
                {"pk": pk, "run_id": run_id, "at": now, "mapping": mapping, "integrity": integrity},
            )
        for pk, state, attempts in ((1, "done", 1), (2, "queued", 0), (3, "queued", 2)):
            connection.execute(
                text(
                    "INSERT INTO queued_uploads (id, state, received_at, attempts, claimed_at,"
                    " claimed_by) VALUES (:pk, :state, :at, :attempts, :at, 'host:1:2')"
                ),
                {"pk": pk, "state": state, "at": now, "attempts": attempts},
            )

    upgrade_database(engine)

    with engine.connect() as connection:
        jobs = connection.execute(
            text("SELECT kind, key, state, attempts, max_attempts FROM jobs ORDER BY id")
        ).all()
        claims = connection.execute(
            text(
                "SELECT count(*) FROM queued_uploads WHERE claimed_at IS NOT NULL"
                " OR claimed_by IS NOT NULL"
            )
        ).scalar_one()
        run_claims = connection.execute(
            text("SELECT count(*) FROM runs WHERE analysis_claimed_at IS NOT NULL")
        ).scalar_one()
    assert [tuple(job) for job in jobs] == [
        ("ingest", "2", "queued", 0, 5),
        ("ingest", "3", "queued", 2, 5),
        ("analysis", "half-done", "queued", 0, 3),
        ("analysis", "never", "queued", 0, 3),
    ]
    assert (claims, run_claims) == (0, 0)

    with engine.connect() as connection:
        connection = connection.execution_options(testviz_write=True)
        with connection.begin():
            command.downgrade(alembic_config(connection), "0007")
    with engine.connect() as connection:
        tables = set(
            connection.execute(
                text(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                    if engine.dialect.name == "sqlite"
                    else "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                )
            ).scalars()
        )
    assert "jobs" not in tables
    assert "queued_uploads" in tables
