"""TEST_RESULTS_DIR: every report dropped into a directory is ingested exactly once."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from server.ingest.sync import REJECTED, SyncOutcome, sync_test_results
from server.jobs.worker import Worker
from server.storage.db import db
from server.storage.models import Job, Run, TestDefinition, TestResultRow

from ..support import AppFactory
from .helpers import case, junit

FAIL = '<failure message="AssertionError: assert 1 == 2">trace</failure>'
MALFORMED = b"<testsuite><testcase name='a'"


def write_report(
    directory: Path, name: str, xml: bytes, meta: dict[str, Any] | None = None, age: float = 60
) -> Path:
    """Write a report (and its sidecar) modified ``age`` seconds ago: settled, unless 0."""
    path = directory / name
    path.write_bytes(xml)
    if meta is not None:
        sidecar = directory / name.replace(".xml", ".meta.json")
        sidecar.write_text(json.dumps(meta), encoding="utf-8")
        set_age(sidecar, age)
    set_age(path, age)
    return path


def set_age(path: Path, age: float) -> None:
    if age:
        moment = time.time() - age
        os.utime(path, (moment, moment))


def sync(app: Flask, directory: Path) -> SyncOutcome:
    with app.app_context():
        try:
            return sync_test_results(directory, db.session())
        finally:
            db.session.remove()


def stored(app: Flask) -> dict[str, int]:
    with app.app_context():
        return {
            model.__tablename__: db.session.execute(
                select(func.count()).select_from(model)
            ).scalar_one()
            for model in (Run, TestDefinition, TestResultRow)
        }


def read(app: Flask, url: str) -> Any:
    """The JSON body of ``GET url``."""
    response = app.test_client().get(url)
    assert response.status_code == 200, response.json
    return response.json


def eventually(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


@pytest.fixture
def results(tmp_path: Path) -> Path:
    directory = tmp_path / "results"
    directory.mkdir()
    return directory


@pytest.fixture
def inline(make_app: AppFactory) -> Flask:
    return make_app(analysis_in_background=False)


# -- sync_test_results -----------------------------------------------------------------------


def test_sync_ingests_each_report_once(inline: Flask, results: Path) -> None:
    meta = {"run_id": "sync-a", "project": "shop", "branch": "main", "git_sha": "abcdef12"}
    write_report(results, "a.xml", junit(case("test_a"), case("test_b", body=FAIL)), meta)
    write_report(results, "b.xml", junit(case("test_c")))

    first = sync(inline, results)
    assert asdict(first) == {
        "ingested": ["a.xml", "b.xml"],
        "skipped": [],
        "unchanged": 0,
        "deferred": [],
        "rejected": [],
        "failed": [],
    }
    client: Any = inline.test_client()
    run = client.get("/api/tests/runs/sync-a").json
    assert (run["project"], run["branch"], run["git_sha"]) == ("shop", "main", "abcdef12")
    assert run["totals"]["failed"] == 1
    assert client.get("/api/tests/runs").json["pagination"]["total"] == 2

    second = sync(inline, results)
    assert (second.ingested, second.skipped, second.unchanged) == ([], [], 2)
    assert stored(inline)["runs"] == 2


def test_a_touched_file_is_read_again_and_skipped(inline: Flask, results: Path) -> None:
    write_report(results, "a.xml", junit(case("test_a")), {"run_id": "touched"}, age=120)
    write_report(results, "b.xml", junit(case("test_b")), age=120)
    assert len(sync(inline, results).ingested) == 2
    before = stored(inline)

    set_age(results / "a.meta.json", 60)  # same content, new mtime: of the sidecar ...
    set_age(results / "b.xml", 60)  # ... and of a report
    outcome = sync(inline, results)
    assert (outcome.ingested, sorted(outcome.skipped), outcome.unchanged) == (
        [],
        ["a.xml", "b.xml"],
        0,
    )
    assert stored(inline) == before
    assert sync(inline, results).unchanged == 2


def test_a_changed_sidecar_makes_the_report_read_again(inline: Flask, results: Path) -> None:
    write_report(results, "a.xml", junit(case("test_a")), {"run_id": "meta-1"}, age=120)
    assert sync(inline, results).ingested == ["a.xml"]
    write_report(results, "a.xml", junit(case("test_a")), {"run_id": "meta-2"}, age=60)
    assert sync(inline, results).ingested == ["a.xml"]
    assert inline.test_client().get("/api/tests/runs/meta-2").status_code == 200


def test_malformed_report_is_rejected_and_the_rest_ingested(inline: Flask, results: Path) -> None:
    write_report(results, "bad.xml", MALFORMED)
    write_report(results, "good.xml", junit(case("test_a"), case("test_b")))
    outcome = sync(inline, results)
    assert (outcome.ingested, outcome.rejected) == (["good.xml"], ["bad.xml"])

    assert not (results / "bad.xml").exists()
    assert (results / REJECTED / "bad.xml").read_bytes() == MALFORMED
    reason = (results / REJECTED / "bad.xml.error.txt").read_text(encoding="utf-8")
    assert reason.startswith(str(results / "bad.xml") + ":1:")
    assert stored(inline) == {"runs": 1, "test_definitions": 2, "test_results": 2}

    again = sync(inline, results)
    assert (again.ingested, again.rejected, again.unchanged) == ([], [], 1)


def test_bad_sidecar_rejects_report_and_sidecar(inline: Flask, results: Path) -> None:
    path = write_report(results, "r.xml", junit(case("test_a")))
    (results / "r.meta.json").write_text('{"git_sha": 42}', encoding="utf-8")
    set_age(results / "r.meta.json", 60)
    set_age(path, 60)
    outcome = sync(inline, results)
    assert outcome.rejected == ["r.xml"]
    assert sorted(p.name for p in (results / REJECTED).iterdir()) == [
        "r.meta.json",
        "r.xml",
        "r.xml.error.txt",
    ]
    assert "git_sha" in (results / REJECTED / "r.xml.error.txt").read_text(encoding="utf-8")
    assert stored(inline)["runs"] == 0


def test_half_written_report_waits_until_complete(inline: Flask, results: Path) -> None:
    whole = junit(*(case(f"test_{i}", body=FAIL if i % 3 == 0 else "") for i in range(30)))
    path = write_report(results, "growing.xml", whole[: len(whole) // 2], age=0)

    outcome = sync(inline, results)
    assert (outcome.deferred, outcome.ingested, outcome.rejected) == (["growing.xml"], [], [])
    assert path.exists()
    assert not (results / REJECTED).exists()
    assert stored(inline)["runs"] == 0

    write_report(results, "growing.xml", whole, age=60)
    outcome = sync(inline, results)
    assert (outcome.deferred, outcome.ingested) == ([], ["growing.xml"])
    assert stored(inline)["test_results"] == 30
    run = read(inline, "/api/tests/runs")["runs"][0]
    assert (run["totals"]["tests"], run["totals"]["failed"]) == (30, 10)


def test_truncated_report_that_has_settled_is_rejected(inline: Flask, results: Path) -> None:
    whole = junit(*(case(f"test_{i}") for i in range(30)))
    write_report(results, "cut.xml", whole[: len(whole) // 2], age=60)
    outcome = sync(inline, results)
    assert (outcome.rejected, outcome.deferred) == (["cut.xml"], [])
    assert (results / REJECTED / "cut.xml.error.txt").is_file()
    assert stored(inline)["runs"] == 0


def test_missing_directory_is_an_error(inline: Flask, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        sync(inline, tmp_path / "nowhere")


def test_rejected_folder_and_other_files_are_ignored(inline: Flask, results: Path) -> None:
    (results / REJECTED).mkdir()
    write_report(results / REJECTED, "old.xml", junit(case("test_old")))
    write_report(results, "notes.txt", b"not a report")
    outcome = sync(inline, results)
    assert (outcome.ingested, outcome.rejected, outcome.unchanged) == ([], [], 0)
    assert stored(inline)["runs"] == 0


# -- the watcher -----------------------------------------------------------------------------


@pytest.fixture
def worker() -> Iterator[list[Worker]]:
    """Workers a test starts, stopped afterwards."""
    started: list[Worker] = []
    yield started
    for each in started:
        each.stop()


def test_watcher_ingests_dropped_reports(
    make_app: AppFactory, results: Path, worker: list[Worker]
) -> None:
    app = make_app(results_dir=str(results), watch=True)
    assert app.extensions["testviz"].worker is None  # the web app runs no background work
    running = Worker(app, poll=0.2)
    worker.append(running)
    running.start()
    watcher = running._watcher
    assert watcher is not None
    client: Any = app.test_client()

    def run_count() -> int:
        total: int = client.get("/api/tests/runs").json["pagination"]["total"]
        return total

    write_report(results, "first.xml", junit(case("test_a")), {"run_id": "watched-1"})
    eventually(
        lambda: client.get("/api/tests/runs/watched-1").status_code == 200, "watched-1 stored"
    )

    write_report(results, "bad.xml", MALFORMED)
    eventually(lambda: (results / REJECTED / "bad.xml.error.txt").is_file(), "bad.xml rejected")
    assert not (results / "bad.xml").exists()

    # Written now: the watcher waits for the file to settle, then takes it.
    write_report(results, "second.xml", junit(case("test_b")), {"run_id": "watched-2"}, age=0)
    eventually(
        lambda: client.get("/api/tests/runs/watched-2").status_code == 200, "watched-2 stored"
    )
    assert watcher._thread is not None
    assert watcher._thread.is_alive()
    assert watcher.requests >= 1
    assert run_count() == 2


def test_a_scheduled_sync_ingests_without_a_watcher(
    make_app: AppFactory, results: Path, worker: list[Worker]
) -> None:
    app = make_app(results_dir=str(results), watch=False)
    write_report(results, "first.xml", junit(case("test_a")), {"run_id": "scheduled-1"})
    running = Worker(app, poll=0.2)
    worker.append(running)
    running.start()  # queues the first sync at once, the next one a minute after it
    assert running._watcher is None
    client: Any = app.test_client()
    eventually(
        lambda: client.get("/api/tests/runs/scheduled-1").status_code == 200, "scheduled-1 stored"
    )
    with app.app_context():
        kinds = dict(
            db.session.execute(select(Job.kind, Job.run_after).where(Job.state == "queued")).all()
        )
    assert set(kinds) >= {"sync", "retention"}


# -- flask sync ------------------------------------------------------------------------------


def test_cli_sync_prints_the_summary(make_app: AppFactory, results: Path) -> None:
    app = make_app(results_dir="")
    write_report(results, "a.xml", junit(case("test_a")), {"run_id": "cli-a"}, age=0)
    write_report(results, "b.xml", junit(case("test_b")), age=0)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["sync", str(results)])
    assert result.exit_code == 0, result.output
    assert (
        "2 ingested, 0 already stored, 0 unchanged, 0 still being written, 0 rejected"
        in result.output
    )
    run = read(app, "/api/tests/runs/cli-a")
    assert (run["mapping_state"], run["integrity_state"]) == ("done", "done")

    again = runner.invoke(args=["sync", str(results)])
    assert again.exit_code == 0, again.output
    assert "0 ingested, 0 already stored, 2 unchanged" in again.output


def test_cli_sync_defaults_to_results_dir(make_app: AppFactory, results: Path) -> None:
    app = make_app(results_dir=str(results))
    write_report(results, "a.xml", junit(case("test_a")))
    result = app.test_cli_runner().invoke(args=["sync"])
    assert result.exit_code == 0, result.output
    assert "1 ingested" in result.output


def test_cli_sync_with_a_malformed_file_exits_1_naming_it(
    make_app: AppFactory, results: Path
) -> None:
    app = make_app(results_dir="")
    write_report(results, "good.xml", junit(case("test_a")))
    write_report(results, "broken.xml", MALFORMED)
    result = app.test_cli_runner().invoke(args=["sync", str(results)])
    assert result.exit_code == 1, result.output
    assert "1 ingested" in result.output
    assert "1 rejected" in result.output
    assert (
        f"rejected: broken.xml (see {results / REJECTED / 'broken.xml.error.txt'})" in result.output
    )
    assert stored(app)["runs"] == 1


def test_cli_sync_without_a_directory_is_a_usage_error(make_app: AppFactory) -> None:
    result = make_app(results_dir="").test_cli_runner().invoke(args=["sync"])
    assert result.exit_code == 2
    assert "give a DIRECTORY or set TEST_RESULTS_DIR" in result.output


def test_cli_sync_of_a_missing_directory_is_a_usage_error(
    make_app: AppFactory, tmp_path: Path
) -> None:
    missing = tmp_path / "missing"
    result = make_app(results_dir="").test_cli_runner().invoke(args=["sync", str(missing)])
    assert result.exit_code == 2
    assert f"{missing} is not a directory" in result.output


def test_a_report_the_database_refuses_does_not_block_the_others(
    inline: Flask, results: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database failure on one file is logged and that file left in place; the scan goes on."""
    import server.ingest.sync as sync_module

    real_ingest = sync_module.ingest_run

    def ingest_failing_on_one(report: Any, session: Any) -> Any:
        if report.run.run_id == "breaks":
            raise RuntimeError("the database refused this one")
        return real_ingest(report, session)

    monkeypatch.setattr(sync_module, "ingest_run", ingest_failing_on_one)
    write_report(results, "a_first.xml", junit(case("test_a")), {"run_id": "breaks"}, age=300)
    write_report(results, "b_second.xml", junit(case("test_b")), {"run_id": "fine"}, age=200)

    outcome = sync(inline, results)

    assert outcome.failed == ["a_first.xml"]
    assert outcome.ingested == ["b_second.xml"]
    assert (results / "a_first.xml").exists()  # not rejected: the report itself is fine
    assert sync(inline, results).unchanged == 2  # not retried until it changes
