"""Several gunicorn workers at once: one run posted many times, many runs, a fresh schema.

Each test starts ``gunicorn 'server:create_app()'`` with four sync workers on 127.0.0.1 and
checks the database directly afterwards. Posts start together behind a barrier; nothing
here measures time.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from server.storage.engine import alembic_config

from .gunicorn_server import Gunicorn, running_gunicorn
from .helpers import case, junit

pytestmark = pytest.mark.slow

WORKERS = 4
HTTP_TIMEOUT = 120
FAIL = '<failure message="AssertionError: assert {n} == 0" type="AssertionError">{n}</failure>'


Start = Callable[[str], Gunicorn]


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[Start]:
    """Start gunicorn with four workers on a database URL; stopped when the test ends."""
    with contextlib.ExitStack() as stack:
        yield lambda url: stack.enter_context(
            running_gunicorn(url, workers=WORKERS, log_dir=tmp_path)
        )


def table_counts(database_url: str, *queries: str) -> list[Any]:
    """One scalar per SQL query, read straight from the database (not through the server)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return [connection.execute(text(query)).scalar_one() for query in queries]
    finally:
        engine.dispose()


def post_together(
    url: str, bodies: list[tuple[bytes, str]], threads: int
) -> list[requests.Response]:
    """POST every (body, content type) from ``threads`` threads that start behind a barrier."""
    barrier = threading.Barrier(threads)

    def post(index: int) -> requests.Response:
        body, content_type = bodies[index]
        if index < threads:  # the first post of each thread
            barrier.wait(timeout=HTTP_TIMEOUT)
        return requests.post(
            f"{url}/api/tests/ingest",
            data=body,
            headers={"Content-Type": content_type},
            timeout=HTTP_TIMEOUT,
        )

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(post, range(len(bodies))))


def describe(responses: list[requests.Response]) -> str:
    return "; ".join(f"{r.status_code} {r.text[:300]}" for r in responses)


def report(tests: int, failing_every: int = 10, name: str = "suite") -> bytes:
    return junit(
        *(
            case(f"test_{n}", body=FAIL.format(n=n) if n % failing_every == 0 else "")
            for n in range(tests)
        ),
        name=name,
    )


def json_report(tests: int, run_id: str) -> bytes:
    results = [
        {"name": f"test_{n}", "classname": "tests.test_mod", "status": "passed", "duration": 0.01}
        if n % 10
        else {
            "name": f"test_{n}",
            "classname": "tests.test_mod",
            "status": "failed",
            "message": f"AssertionError: assert {n} == 0",
            "text": f"trace {n}",
        }
        for n in range(tests)
    ]
    return json.dumps({"run_id": run_id, "project": "default", "results": results}).encode()


@pytest.mark.parametrize("kind", ["xml", "json"])
def test_same_run_posted_sixteen_times_at_once_is_stored_once(
    kind: str, database_url: str, gunicorn: Start
) -> None:
    tests, posts = 300, 16
    body = report(tests) if kind == "xml" else json_report(tests, run_id="concurrent-run-1")
    content_type = "application/xml" if kind == "xml" else "application/json"
    server = gunicorn(database_url)

    responses = post_together(server.url, [(body, content_type)] * posts, threads=posts)

    assert [r.status_code for r in responses] == [200] * posts, describe(responses)
    bodies = [r.json() for r in responses]
    assert Counter(b["status"] for b in bodies) == {"created": 1, "skipped": posts - 1}
    assert len({b["run_id"] for b in bodies}) == 1
    if kind == "json":
        assert bodies[0]["run_id"] == "concurrent-run-1"
    assert all(b["counts"]["tests"] == tests for b in bodies)
    created = next(b for b in bodies if b["status"] == "created")
    assert created["counts"]["new_definitions"] == tests
    assert table_counts(
        database_url,
        "SELECT count(*) FROM runs",
        "SELECT count(*) FROM test_results",
        "SELECT count(*) FROM test_definitions",
        "SELECT coalesce(sum(occurrences), 0) FROM failure_groups",
    ) == [1, tests, tests, tests // 10]


def test_many_runs_at_once_are_all_created(database_url: str, gunicorn: Start) -> None:
    """24 runs of 200 tests from 8 threads: 150 tests shared by every run, 50 of each its own."""
    runs, shared, own, threads = 24, 150, 50, 8

    def run_report(r: int) -> bytes:
        return junit(
            *(
                case(f"test_shared_{n}", body=FAIL.format(n=n) if (n + r) % 7 == 0 else "")
                for n in range(shared)
            ),
            *(case(f"test_run{r}_{n}", classname=f"tests.test_run{r}") for n in range(own)),
            name=f"run-{r}",
        )

    bodies = [(run_report(r), "application/xml") for r in range(runs)]
    failures = sum(1 for r in range(runs) for n in range(shared) if (n + r) % 7 == 0)
    server = gunicorn(database_url)

    responses = post_together(server.url, bodies, threads=threads)

    assert [r.status_code for r in responses] == [200] * runs, describe(responses)
    answers = [r.json() for r in responses]
    assert [a["status"] for a in answers] == ["created"] * runs
    assert len({a["run_id"] for a in answers}) == runs
    # Every definition is new for exactly one run, whichever won the race for it.
    assert sum(a["counts"]["new_definitions"] for a in answers) == shared + runs * own
    assert table_counts(
        database_url,
        "SELECT count(*) FROM runs",
        "SELECT count(*) FROM test_results",
        "SELECT count(*) FROM test_definitions",
        "SELECT coalesce(sum(occurrences), 0) FROM failure_groups",
    ) == [runs, runs * (shared + own), shared + runs * own, failures]
    # Also the background analysis of each run: its failures are logged, never answered.
    assert "database is locked" not in server.log()


@pytest.fixture
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database without a schema: a SQLite path not created yet, a zero-byte SQLite file,
    or a new PostgreSQL database."""
    if request.param == "postgres":
        yield request.getfixturevalue("postgres_url")
        return
    path = tmp_path / "fresh" / "testviz.sqlite3"
    path.parent.mkdir()
    if request.param == "sqlite-empty-file":
        path.touch()
    yield f"sqlite:///{path}"


@pytest.mark.parametrize(
    "empty_database_url",
    ["sqlite-no-file", "sqlite-empty-file", pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True,
)
def test_workers_starting_together_migrate_a_new_database_once(
    empty_database_url: str, gunicorn: Start
) -> None:
    server = gunicorn(empty_database_url)  # returns once all four workers loaded the app

    assert len(server.ready_pids()) == WORKERS
    assert sorted(server.worker_pids()) == sorted(server.ready_pids()), server.log()
    with requests.Session() as http:
        health = http.get(f"{server.url}/healthz", timeout=HTTP_TIMEOUT)
        ingest = http.post(
            f"{server.url}/api/tests/ingest",
            data=report(3),
            headers={"Content-Type": "application/xml"},
            timeout=HTTP_TIMEOUT,
        )
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert ingest.status_code == 200, ingest.text
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert table_counts(
        empty_database_url,
        "SELECT count(*) FROM alembic_version",
        "SELECT min(version_num) FROM alembic_version",
    ) == [1, head]
    assert "Worker failed to boot" not in server.log()
