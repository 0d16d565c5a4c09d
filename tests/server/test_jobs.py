"""The job queue and its workers: one claim, leases, retries with backoff, crash takeover.

The process tests run ``flask --app tests.server.job_app worker`` processes (the server's
worker with two test kinds, see job_app.py) on SQLite and PostgreSQL.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, select, update
from sqlalchemy.engine import make_url

from server import create_app
from server.jobs import queue
from server.jobs.handlers import register
from server.jobs.queue import ClaimedJob, enqueue, utcnow
from server.jobs.worker import Worker
from server.storage.db import db
from server.storage.models import Job

from ..support import AppFactory
from . import job_app  # noqa: F401 - registers the test kinds
from .gunicorn_server import running_workers, start_worker

WAIT = 120.0


def eventually(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.1)


def jobs(database_url: str) -> list[Any]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(
                connection.execute(
                    select(Job.id, Job.kind, Job.key, Job.state, Job.attempts, Job.last_error)
                    .where(Job.kind.like("tests.%"))  # not the scheduled ones
                    .order_by(Job.id)
                ).all()
            )
    finally:
        engine.dispose()


def add_jobs(database_url: str, kind: str, keys: list[str], payload: dict[str, Any]) -> None:
    """Queue jobs as a web process would (the app migrates a new database first)."""
    app = create_app({"TESTING": True, "database_url": database_url, "watch": False})
    with app.app_context():
        for key in keys:
            enqueue(db.session, kind, key, payload)
        db.session.commit()
        db.engine.dispose()


# -- in process ---------------------------------------------------------------------------------


def test_a_failing_handler_is_retried_with_backoff_then_fails_with_its_error(
    make_app: AppFactory,
) -> None:
    calls: list[int] = []

    def broken(app: Flask, job: ClaimedJob) -> timedelta | None:
        calls.append(job.attempts)
        raise ValueError(f"no luck on attempt {job.attempts}")

    register("tests.broken", broken)
    app = make_app()
    with app.app_context():
        enqueue(db.session, "tests.broken", "x", max_attempts=3, commit=True)
    worker = Worker(app, schedule=False)
    waits = []
    for attempt in (1, 2, 3):
        before = utcnow()
        assert worker.run_once()
        assert not worker.run_once()  # backing off: not due yet
        with app.app_context():
            job = db.session.execute(select(Job)).scalar_one()
            if attempt < 3:
                assert (job.state, job.attempts) == ("queued", attempt)
                waits.append((job.run_after - before).total_seconds())
                db.session.execute(update(Job).values(run_after=utcnow()))  # skip the wait
                db.session.commit()
            else:
                assert (job.state, job.attempts) == ("failed", 3)
                assert "ValueError: no luck on attempt 3" in (job.last_error or "")
                assert job.finished_at is not None
    assert calls == [1, 2, 3]
    # The backoff doubles (a loaded machine adds the attempt's own time, under a second).
    assert [round(wait) for wait in waits] == pytest.approx([5, 10], abs=2), waits
    assert queue.backoff(1) == timedelta(seconds=5)
    assert queue.backoff(20) == queue.BACKOFF_CAP


def test_a_job_whose_worker_died_on_every_attempt_is_failed_not_run(
    make_app: AppFactory,
) -> None:
    ran: list[int] = []
    register("tests.poison", lambda app, job: ran.append(job.id))  # type: ignore[arg-type,func-returns-value]
    app = make_app()
    with app.app_context():
        enqueue(db.session, "tests.poison", "x", max_attempts=2, commit=True)
        db.session.execute(
            update(Job).values(state="running", attempts=2, claimed_by="gone", lease_until=utcnow())
        )
        db.session.commit()
    assert Worker(app, schedule=False).run_once()
    assert ran == []
    with app.app_context():
        job = db.session.execute(select(Job)).scalar_one()
        assert (job.state, job.attempts) == ("failed", 2)
        assert "none of them finished" in (job.last_error or "")


def test_a_finished_scheduled_job_queues_its_next_run(make_app: AppFactory) -> None:
    app = make_app()
    worker = Worker(app)
    worker.ensure_scheduled()
    assert worker.run_burst() == 1  # retention: prunes nothing unless configured
    with app.app_context():
        rows = db.session.execute(select(Job.kind, Job.state, Job.run_after)).all()
    assert [(kind, state) for kind, state, _ in rows] == [
        ("retention", "done"),
        ("retention", "queued"),
    ]
    assert rows[1].run_after > utcnow() + timedelta(minutes=50)


def test_scheduled_retention_prunes_old_runs(make_app: AppFactory) -> None:
    from datetime import datetime, timezone

    from server.storage.models import Run

    app = make_app(retention="1d", analysis_in_background=False)
    client = app.test_client()
    for run_id in ("old", "new"):
        document = {"run_id": run_id, "results": [{"name": "test_a", "status": "passed"}]}
        assert client.post("/api/tests/ingest", json=document).status_code == 200
    with app.app_context():
        db.session.execute(
            update(Run)
            .where(Run.run_id == "old")
            .values(ingested_at=datetime(2020, 1, 1, tzinfo=timezone.utc))
        )
        db.session.commit()
    worker = Worker(app)
    worker.ensure_scheduled()
    worker.run_burst()
    with app.app_context():
        assert list(db.session.execute(select(Run.run_id)).scalars()) == ["new"]


# -- worker processes ---------------------------------------------------------------------------


def _lines(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    return [line.split() for line in path.read_text().splitlines()]


@pytest.mark.slow
def test_a_worker_killed_mid_job_leaves_it_to_another_which_finishes_it(
    database_url: str, tmp_path: Path
) -> None:
    marker = tmp_path / "marker.txt"
    add_jobs(
        database_url, "tests.sleep", ["long"], {"marker": str(marker), "seconds": 600, "again": 0}
    )
    options: dict[str, Any] = {"app": "tests.server.job_app", "args": ("--lease", "3")}

    first = start_worker(database_url, tmp_path, name="first", **options)
    try:
        eventually(lambda: len(_lines(marker)) == 1, "the first worker starts the job")
        first.kill()
        (start,) = _lines(marker)
        assert start[:3] == ["start", "1", "1"]
        assert int(start[3]) == first.process.pid
        found = jobs(database_url)
        assert [(job.state, job.attempts) for job in found] == [("running", 1)], found

        with running_workers(database_url, 1, tmp_path, **options) as (second,):
            eventually(lambda: jobs(database_url)[0].state == "done", "the takeover", 60)
            taken_by = second.process.pid
    finally:
        first.kill()
    lines = _lines(marker)
    assert [line[0] for line in lines] == ["start", "start", "end"]
    assert lines[1] == ["start", "1", "2", str(taken_by)]
    assert lines[2] == ["end", "1", "2", str(taken_by)]
    (job,) = jobs(database_url)
    assert (job.state, job.attempts, job.last_error) == ("done", 2, None)


@pytest.mark.slow
def test_a_long_job_keeps_its_lease_while_its_worker_lives(sqlite_url: str, tmp_path: Path) -> None:
    """A job three times longer than the lease: the heartbeat keeps it from the other
    worker, which never starts it."""
    marker = tmp_path / "marker.txt"
    add_jobs(sqlite_url, "tests.sleep", ["long"], {"marker": str(marker), "seconds": 9})
    options: dict[str, Any] = {"app": "tests.server.job_app", "args": ("--lease", "3")}
    with running_workers(sqlite_url, 2, tmp_path, **options):
        eventually(lambda: jobs(sqlite_url)[0].state == "done", "the long job")
    assert [line[0] for line in _lines(marker)] == ["start", "end"]
    assert jobs(sqlite_url)[0].attempts == 1


@pytest.mark.slow
@pytest.mark.postgres
def test_four_workers_run_each_of_200_jobs_exactly_once(postgres_url: str, tmp_path: Path) -> None:
    add_jobs(postgres_url, "tests.count", [], {})  # the schema, before the workers start
    marker = tmp_path / "marker.txt"
    keys = [f"job-{index:03d}" for index in range(200)]
    options: dict[str, Any] = {
        "app": "tests.server.job_app",
        "args": ("--concurrency", "2", "--poll", "0.1", "--no-schedule"),
    }
    with running_workers(postgres_url, 4, tmp_path, **options) as workers:
        time.sleep(2)  # all four are up and polling: they race for every job
        add_jobs(postgres_url, "tests.count", keys, {"marker": str(marker)})
        eventually(lambda: all(row.state == "done" for row in jobs(postgres_url)), "200 jobs done")
        pids = {str(worker.process.pid) for worker in workers}
    lines = _lines(marker)
    runs = Counter(key for key, _ in lines)
    assert runs == Counter({key: 1 for key in keys})
    by_worker = Counter(pid for _, pid in lines)
    assert set(by_worker) <= pids
    assert len(by_worker) >= 2, by_worker  # the work was shared
    assert make_url(postgres_url).get_backend_name() == "postgresql"


# -- the web app and the command --------------------------------------------------------------


def test_the_web_app_runs_no_background_work(sqlite_url: str) -> None:
    import threading

    before = {thread.name for thread in threading.enumerate()}
    app = create_app({"database_url": sqlite_url, "watch": True})  # a serving process
    try:
        assert app.extensions["testviz"].worker is None
        started = {thread.name for thread in threading.enumerate()} - before
        assert not [name for name in started if name.startswith("testviz")], started
    finally:
        with app.app_context():
            db.engine.dispose()


def test_flask_worker_burst_runs_what_is_due_and_exits(make_app: AppFactory) -> None:
    app = make_app()
    document = {"run_id": "cli-1", "results": [{"name": "test_a", "status": "passed"}]}
    assert app.test_client().post("/api/tests/ingest", json=document).status_code == 200

    result = app.test_cli_runner().invoke(args=["worker", "--burst", "--no-schedule"])

    assert result.exit_code == 0, result.output
    assert "worker: 1 jobs run" in result.output  # the run's analysis
    run = app.test_client().get("/api/tests/runs/cli-1").json
    assert (run["mapping_state"], run["integrity_state"]) == ("done", "done")
