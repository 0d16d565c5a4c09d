"""SIGKILL the server while it stores a 100,000-testcase report: nothing of it is visible
afterwards, and the same report posted again is stored whole (SQLite and PostgreSQL).

The server writes a run in one transaction. "While it stores" is observed, not timed: the
server is killed once the database shows the ingest transaction writing (PostgreSQL: another
backend holds a row lock on ``test_definitions``; SQLite: another connection holds the write
lock). The plugin's side (a session killed mid-upload) is in tests/plugin/test_killed_upload.py.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from .gunicorn_server import Gunicorn, running_gunicorn, running_workers

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
from _gen import write_report  # noqa: E402

TESTS = 100_000
HTTP_TIMEOUT = 600
WAIT = 300.0  # seconds before a wait that should end in a few gives up (not a measurement)


@pytest.fixture(scope="module")
def big_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("crash") / "report-100k.xml"
    write_report(path, TESTS)
    return path


def counts(database_url: str) -> dict[str, int]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return {
                table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("runs", "test_results", "test_definitions", "failure_groups")
            }
    finally:
        engine.dispose()


def wait_for(condition: Callable[[], bool], what: str, alive: Callable[[], bool]) -> None:
    """Poll until ``condition``; fail if ``alive`` turns false first (the thing we watch died)."""
    deadline = time.monotonic() + WAIT
    while not condition():
        if not alive():
            raise AssertionError(f"gave up waiting for {what}: the process it needs has ended")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def ingest_is_writing(database_url: str) -> Callable[[], bool]:
    """True while another connection has an ingest transaction open, writing."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = url.database

        def sqlite_writer() -> bool:
            probe = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                probe.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                return "locked" in str(exc)  # someone else holds the write lock
            else:
                probe.execute("ROLLBACK")
                return False
            finally:
                probe.close()

        return sqlite_writer

    # No pool: each look closes its connection, so none is left open for the collector.
    engine = create_engine(database_url, poolclass=NullPool)

    def postgres_writer() -> bool:
        query = text(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE c.relname = 'test_definitions' AND l.mode = 'RowExclusiveLock' "
            "AND l.granted AND l.pid <> pg_backend_pid()"
        )
        with engine.connect() as connection:
            return bool(connection.execute(query).scalar_one())

    return postgres_writer


def kill_all(server: Gunicorn) -> None:
    """SIGKILL every worker, then the master: no graceful anything."""
    for pid in server.worker_pids():
        os.kill(pid, signal.SIGKILL)
    server.process.kill()
    server.process.wait(timeout=30)


def post_file(url: str, path: Path) -> requests.Response:
    with open(path, "rb") as body:
        return requests.post(
            f"{url}/api/tests/ingest",
            data=body,
            headers={"Content-Type": "application/xml"},
            timeout=HTTP_TIMEOUT,
        )


@pytest.mark.slow
def test_a_server_killed_mid_ingest_leaves_nothing_and_the_report_posts_again_whole(
    database_url: str, big_report: Path, tmp_path: Path
) -> None:
    env = {"TESTVIZ_MAPPING_ENABLED": "false", "TESTVIZ_INTEGRITY_ENABLED": "false"}
    writing = ingest_is_writing(database_url)
    outcome: list[Any] = []
    with running_gunicorn(
        database_url, workers=1, env=env, log_dir=tmp_path, request_timeout=HTTP_TIMEOUT
    ) as server:

        def upload() -> None:
            try:
                outcome.append(post_file(server.url, big_report))
            except requests.RequestException as exc:
                outcome.append(exc)

        poster = threading.Thread(target=upload)
        poster.start()
        wait_for(writing, "the ingest transaction", alive=lambda: not outcome)
        kill_all(server)
        poster.join(timeout=60)
    (lost,) = outcome
    assert isinstance(lost, requests.ConnectionError), lost  # the client saw the server die

    assert counts(database_url) == {
        "runs": 0,
        "test_results": 0,
        "test_definitions": 0,
        "failure_groups": 0,
    }

    with running_gunicorn(
        database_url, workers=1, env=env, log_dir=tmp_path, request_timeout=HTTP_TIMEOUT
    ) as server:
        assert requests.get(f"{server.url}/api/tests/runs", timeout=60).json()["runs"] == []
        response = post_file(server.url, big_report)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["status"], body["counts"]["tests"]) == ("created", TESTS)
        run = requests.get(f"{server.url}{body['url']}", params={"per_page": 1}, timeout=60)
        assert run.json()["totals"]["tests"] == TESTS
    stored = counts(database_url)
    assert (stored["runs"], stored["test_results"], stored["test_definitions"]) == (
        1,
        TESTS,
        TESTS,
    )
    assert stored["failure_groups"] == body["counts"]["failure_groups"]


def queued_states(database_url: str) -> list[str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(
                connection.execute(text("SELECT state FROM queued_uploads ORDER BY id")).scalars()
            )
    finally:
        engine.dispose()


@pytest.mark.slow
def test_a_queued_upload_survives_a_server_killed_mid_ingest(
    database_url: str, big_report: Path, tmp_path: Path
) -> None:
    """202 means stored: kill every process (gunicorn and the job worker) while the worker's
    ingest is writing, start them again, and the run arrives whole without the client
    sending anything: the new worker takes the job over once the dead one's lease is out."""
    env = {"TESTVIZ_MAPPING_ENABLED": "false", "TESTVIZ_INTEGRITY_ENABLED": "false"}
    writing = ingest_is_writing(database_url)
    worker_options: dict[str, Any] = {"env": env, "args": ("--lease", "5", "--no-schedule")}
    with (
        running_gunicorn(
            database_url, workers=1, env=env, log_dir=tmp_path, request_timeout=HTTP_TIMEOUT
        ) as server,
        running_workers(database_url, 1, tmp_path, **worker_options) as (worker,),
    ):
        with open(big_report, "rb") as body:
            accepted = requests.post(
                f"{server.url}/api/tests/ingest",
                data=body,
                headers={"Content-Type": "application/xml", "Prefer": "respond-async"},
                timeout=HTTP_TIMEOUT,
            )
        assert accepted.status_code == 202, accepted.text
        alive = lambda: worker.process.poll() is None  # noqa: E731
        wait_for(lambda: job_states(database_url)[0][1] == "running", "the claim", alive=alive)
        wait_for(writing, "the worker's ingest", alive=alive)
        worker.kill()
        kill_all(server)

    assert counts(database_url)["runs"] == 0
    assert queued_states(database_url) == ["queued"]  # its job claimed by a process that is gone
    assert job_states(database_url) == [("ingest", "running", 1)]

    with (
        running_gunicorn(
            database_url, workers=1, env=env, log_dir=tmp_path, request_timeout=HTTP_TIMEOUT
        ) as server,
        running_workers(database_url, 1, tmp_path, **worker_options) as (worker,),
    ):
        status_url = server.url + accepted.json()["url"]

        def done() -> bool:
            state: str = requests.get(status_url, timeout=60).json()["state"]
            assert state != "failed"
            return state == "done"

        wait_for(done, "the resumed ingest", alive=lambda: worker.process.poll() is None)
        status = requests.get(status_url, timeout=60).json()
        assert (status["result"]["status"], status["result"]["counts"]["tests"]) == (
            "created",
            TESTS,
        )
        assert status["attempts"] == 2
    stored = counts(database_url)
    assert (stored["runs"], stored["test_results"], stored["test_definitions"]) == (
        1,
        TESTS,
        TESTS,
    )
    assert job_states(database_url) == [("ingest", "done", 2)]


def job_states(database_url: str) -> list[tuple[str, str, int]]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT kind, state, attempts FROM jobs WHERE kind = 'ingest' ORDER BY id")
            )
            return [(kind, state, attempts) for kind, state, attempts in rows]
    finally:
        engine.dispose()
