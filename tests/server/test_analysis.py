"""After ingest: owner and tag mapping, integrity signals, the background analyzer, reanalyze."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from flask import Flask
from sqlalchemy import func, select, update

from server.jobs.queue import utcnow
from server.jobs.worker import Worker
from server.storage.db import db
from server.storage.models import IntegritySignal, Job, Run, TestDefinition

from ..support import AppFactory
from .helpers import case, drain, junit

SHA = "0123456789abcdef0123456789abcdef01234567"


def run_payload(
    run_id: str,
    statuses: dict[str, str],
    *,
    branch: str | None = "main",
    git_sha: str | None = SHA,
    **fields: Any,
) -> dict[str, Any]:
    """A JSON ingest request: tests of ``tests.test_mod`` with the given statuses."""
    payload: dict[str, Any] = {
        "run_id": run_id,
        "project": "shop",
        "session_id": f"session-{run_id}",
        "results": [
            {"name": name, "classname": "tests.test_mod", "status": status}
            for name, status in statuses.items()
        ],
        **fields,
    }
    if branch is not None:
        payload["branch"] = branch
    if git_sha is not None:
        payload["git_sha"] = git_sha
    return payload


def passing(count: int) -> dict[str, str]:
    return {f"test_{i:02d}": "passed" for i in range(count)}


def ingest(client: Any, payload: dict[str, Any]) -> str:
    response = client.post("/api/tests/ingest", json=payload)
    assert response.status_code == 200, response.json
    assert response.json["status"] == "created"
    run_id: str = response.json["run_id"]
    return run_id


def ingest_xml(client: Any, xml: bytes, meta: dict[str, Any] | None = None) -> str:
    data: dict[str, Any] = {"report": (io.BytesIO(xml), "report.xml")}
    if meta is not None:
        data["meta"] = (io.BytesIO(json.dumps(meta).encode()), "report.meta.json")
    response = client.post("/api/tests/ingest", data=data, content_type="multipart/form-data")
    assert response.status_code == 200, response.json
    run_id: str = response.json["run_id"]
    return run_id


def signals(client: Any, run_id: str) -> dict[str, dict[str, Any]]:
    """The run's integrity signals by kind (each kind appears at most once)."""
    body = client.get(f"/api/tests/runs/{run_id}/integrity").json
    assert body["integrity_state"] == "done", body
    by_kind = {signal["kind"]: signal for signal in body["signals"]}
    assert len(by_kind) == len(body["signals"]), body["signals"]
    return by_kind


def names(signal: dict[str, Any]) -> list[str]:
    return sorted(test["name"] for test in signal["tests"])


def results_by_name(client: Any, run_id: str) -> dict[str, dict[str, Any]]:
    return {
        result["name"]: result for result in client.get(f"/api/tests/runs/{run_id}").json["results"]
    }


def owner_sources(app: Flask) -> dict[str, tuple[str | None, str | None]]:
    with app.app_context():
        rows = db.session.execute(
            select(TestDefinition.name, TestDefinition.owner, TestDefinition.owner_source)
        )
        return {name: (owner, source) for name, owner, source in rows}


def read(app: Flask, url: str) -> Any:
    """The JSON body of ``GET url``."""
    response = app.test_client().get(url)
    assert response.status_code == 200, response.json
    return response.json


def signal_count(app: Flask) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(IntegritySignal)).scalar_one()


@pytest.fixture
def inline(make_app: AppFactory) -> Flask:
    """An app that analyses each run before the ingest request returns."""
    return make_app(analysis_in_background=False)


@pytest.fixture
def server_codeowners(tmp_path: Path) -> Path:
    path = tmp_path / "CODEOWNERS"
    path.write_text("# server-side rules\ntests/ @server-team\n", encoding="utf-8")
    return path


# -- mapping ---------------------------------------------------------------------------------


def py_case(name: str, file: str) -> str:
    """A testcase as pytest writes it, with its file."""
    classname = file.removesuffix(".py").replace("/", ".")
    return f'<testcase classname="{classname}" name="{name}" file="{file}" time="0.01"/>'


MAPPED_REPORT = junit(
    py_case("test_declared", "tests/api/test_a.py"),
    py_case("test_marked", "tests/api/test_a.py"),
    py_case("test_by_rules", "tests/api/test_b.py"),
    py_case("test_unowned", "other/test_c.py"),
    name="pytest",
)
MAPPED_META = {
    "run_id": "mapped-1",
    "project": "shop",
    "branch": "main",
    "git_sha": SHA,
    "codeowners": "tests/ @everyone\ntests/api/ @run-team\n",
    "tests": {
        "tests.api.test_a::test_declared": {
            "owner": "@sidecar-owner",
            "tags": ["fast", "api"],
            "markers": ["owner:@marker-owner", "slow"],
        },
        "tests.api.test_a::test_marked": {
            "markers": ["owner:@marker-owner", "slow", "parametrize", "skipif", "network"],
        },
    },
}


def test_mapping_precedence_sidecar_marker_run_rules(
    make_app: AppFactory, server_codeowners: Path
) -> None:
    app = make_app(analysis_in_background=False, codeowners_file=str(server_codeowners))
    client: Any = app.test_client()
    run_id = ingest_xml(client, MAPPED_REPORT, MAPPED_META)
    assert run_id == "mapped-1"
    run = client.get(f"/api/tests/runs/{run_id}").json
    assert run["mapping_state"] == "done"
    results = {r["name"]: (r["owner"], r["tags"]) for r in run["results"]}
    assert results == {
        "test_declared": ("@sidecar-owner", ["fast", "api"]),
        "test_marked": ("@marker-owner", ["network", "slow"]),
        "test_by_rules": ("@run-team", []),
        # No rule owns other/.
        "test_unowned": (None, []),
    }
    assert owner_sources(app) == {
        "test_declared": ("@sidecar-owner", "sidecar"),
        "test_marked": ("@marker-owner", "marker"),
        "test_by_rules": ("@run-team", "codeowners"),
        "test_unowned": (None, None),
    }


def test_server_codeowners_apply_when_the_run_sends_none(
    make_app: AppFactory, server_codeowners: Path
) -> None:
    app = make_app(analysis_in_background=False, codeowners_file=str(server_codeowners))
    client: Any = app.test_client()
    meta = {key: value for key, value in MAPPED_META.items() if key != "codeowners"}
    run_id = ingest_xml(client, MAPPED_REPORT, meta)
    results = results_by_name(client, run_id)
    assert results["test_by_rules"]["owner"] == "@server-team"
    assert results["test_declared"]["owner"] == "@sidecar-owner"
    assert results["test_marked"]["owner"] == "@marker-owner"
    assert results["test_unowned"]["owner"] is None
    assert owner_sources(app)["test_by_rules"] == ("@server-team", "codeowners")


def test_without_any_rules_only_declared_owners_are_set(inline: Flask) -> None:
    client: Any = inline.test_client()
    meta = {key: value for key, value in MAPPED_META.items() if key != "codeowners"}
    run_id = ingest_xml(client, MAPPED_REPORT, meta)
    owners = {name: r["owner"] for name, r in results_by_name(client, run_id).items()}
    assert owners == {
        "test_declared": "@sidecar-owner",
        "test_marked": "@marker-owner",
        "test_by_rules": None,
        "test_unowned": None,
    }


def test_json_results_map_owner_tags_and_markers(inline: Flask) -> None:
    client: Any = inline.test_client()
    payload = run_payload("json-map", {})
    payload["codeowners"] = "*.py @python-team\n"
    payload["results"] = [
        {
            "name": "test_tagged",
            "classname": "tests.test_mod",
            "status": "passed",
            "tags": ["smoke"],
            "markers": ["slow"],
            "owner": "@declared",
        },
        {
            "name": "test_marked",
            "classname": "tests.test_mod",
            "status": "passed",
            "markers": ["xfail", "usefixtures", "db", "owner:@from-marker"],
        },
        {"name": "test_plain", "classname": "tests.test_mod", "status": "passed"},
    ]
    run_id = ingest(client, payload)
    results = {name: (r["owner"], r["tags"]) for name, r in results_by_name(client, run_id).items()}
    assert results == {
        "test_tagged": ("@declared", ["smoke"]),
        "test_marked": ("@from-marker", ["db"]),
        "test_plain": ("@python-team", []),
    }


def test_a_later_run_remaps_a_changed_owner(inline: Flask) -> None:
    client: Any = inline.test_client()
    first = run_payload("owner-1", {})
    first["results"] = [{"name": "test_a", "classname": "m", "status": "passed", "owner": "@old"}]
    second = run_payload("owner-2", {})
    second["results"] = [{"name": "test_a", "classname": "m", "status": "passed", "owner": "@new"}]
    ingest(client, first)
    ingest(client, second)
    assert results_by_name(client, "owner-2")["test_a"]["owner"] == "@new"
    assert owner_sources(inline) == {"test_a": ("@new", "sidecar")}


# -- integrity -------------------------------------------------------------------------------


def test_first_run_has_no_comparison_signals(inline: Flask) -> None:
    client: Any = inline.test_client()
    run_id = ingest(client, run_payload("first", {"test_a": "passed", "test_b": "skipped"}))
    body = client.get(f"/api/tests/runs/{run_id}/integrity").json
    assert body == {
        "run_id": "first",
        "integrity_state": "done",
        "mapping_state": "done",
        "signals": [],
    }


def test_comparison_signals_name_the_tests(inline: Flask) -> None:
    client: Any = inline.test_client()
    before = passing(20) | {"test_01": "failed", "test_03": "error"}
    ingest(client, run_payload("cmp-1", before))
    after = dict(before)
    after.update({"test_01": "skipped", "test_02": "skipped", "test_03": "skipped"})
    del after["test_19"]
    ingest(client, run_payload("cmp-2", after))

    found = signals(client, "cmp-2")
    assert set(found) == {"tests_disappeared", "newly_skipped", "failed_to_skipped"}
    assert names(found["tests_disappeared"]) == ["test_19"]
    assert found["tests_disappeared"]["test_count"] == 1
    assert found["tests_disappeared"]["tests"][0]["classname"] == "tests.test_mod"
    assert names(found["newly_skipped"]) == ["test_02"]
    assert found["newly_skipped"]["severity"] == "warning"
    assert names(found["failed_to_skipped"]) == ["test_01", "test_03"]
    assert found["failed_to_skipped"]["severity"] == "error"
    assert found["failed_to_skipped"]["test_count"] == 2
    for signal in found.values():
        assert signal["session_id"] == "session-cmp-2"
        assert signal["previous_run_id"] == "cmp-1"


@pytest.mark.parametrize(("threshold", "expected"), [(0.10, True), (0.25, False)])
def test_test_count_drop_beyond_the_threshold(
    make_app: AppFactory, threshold: float, expected: bool
) -> None:
    client: Any = make_app(
        analysis_in_background=False, count_drop_threshold=threshold
    ).test_client()
    ingest(client, run_payload("drop-1", passing(10)))
    ingest(client, run_payload("drop-2", passing(8)))  # 20% fewer
    found = signals(client, "drop-2")
    assert ("test_count_drop" in found) is expected
    assert names(found["tests_disappeared"]) == ["test_08", "test_09"]
    if expected:
        drop = found["test_count_drop"]
        assert drop["severity"] == "error"
        assert "8 tests, down from 10" in drop["message"]
        assert (drop["session_id"], drop["previous_run_id"]) == ("session-drop-2", "drop-1")


def test_small_drop_is_not_a_count_drop(inline: Flask) -> None:
    client: Any = inline.test_client()
    ingest(client, run_payload("small-1", passing(20)))
    ingest(client, run_payload("small-2", passing(19)))
    assert set(signals(client, "small-2")) == {"tests_disappeared"}


def test_truncated_report_declares_more_tests_than_it_holds(inline: Flask) -> None:
    client: Any = inline.test_client()
    xml = junit(case("test_a"), case("test_b"), case("test_c"), attrs='tests="10"')
    meta = {"run_id": "truncated", "branch": "main", "git_sha": SHA, "session_id": "s-t"}
    run_id = ingest_xml(client, xml, meta)
    found = signals(client, run_id)
    assert set(found) == {"declared_totals_mismatch"}
    mismatch = found["declared_totals_mismatch"]
    assert mismatch["severity"] == "error"
    assert "declares 10 tests but holds 3 testcases" in mismatch["message"]
    assert mismatch["session_id"] == "s-t"
    assert mismatch["previous_run_id"] is None


def test_matching_declared_totals_raise_nothing(inline: Flask) -> None:
    client: Any = inline.test_client()
    xml = junit(case("test_a"), case("test_b", body="<skipped/>"), attrs='tests="2" skipped="1"')
    run_id = ingest_xml(client, xml, {"run_id": "whole", "branch": "main", "git_sha": SHA})
    assert signals(client, run_id) == {}


def test_repeated_pytest_testcases_are_duplicate_ids(inline: Flask) -> None:
    client: Any = inline.test_client()
    failure = '<failure message="AssertionError: flaky">trace</failure>'
    xml = junit(case("test_a", body=failure), case("test_a"), case("test_b"), name="pytest")
    meta = {"run_id": "dupes", "branch": "main", "git_sha": SHA, "session_id": "s-d"}
    run_id = ingest_xml(client, xml, meta)
    run = client.get(f"/api/tests/runs/{run_id}").json
    assert (run["totals"]["tests"], run["testcases"]) == (2, 3)
    found = signals(client, run_id)
    assert set(found) == {"duplicate_test_ids"}
    duplicate = found["duplicate_test_ids"]
    assert duplicate["severity"] == "info"
    assert names(duplicate) == ["test_a"]
    assert duplicate["test_count"] == 1
    assert duplicate["session_id"] == "s-d"


@pytest.mark.parametrize(
    ("branch", "git_sha", "missing"),
    [(None, None, "git_sha or branch"), ("main", None, "git_sha"), (None, SHA, "branch")],
)
def test_missing_git_metadata(
    inline: Flask, branch: str | None, git_sha: str | None, missing: str
) -> None:
    client: Any = inline.test_client()
    run_id = ingest(
        client, run_payload("no-git", {"test_a": "passed"}, branch=branch, git_sha=git_sha)
    )
    found = signals(client, run_id)
    assert set(found) == {"missing_git_metadata"}
    assert found["missing_git_metadata"]["message"] == f"the run has no {missing}"
    assert found["missing_git_metadata"]["session_id"] == "session-no-git"


def test_branches_are_not_compared_with_each_other(inline: Flask) -> None:
    client: Any = inline.test_client()
    ingest(client, run_payload("main-1", passing(10)))
    ingest(client, run_payload("feature-1", {"test_00": "skipped"}, branch="feature/x"))
    assert signals(client, "feature-1") == {}
    ingest(client, run_payload("main-2", passing(9)))
    found = signals(client, "main-2")
    assert set(found) == {"tests_disappeared"}
    assert found["tests_disappeared"]["previous_run_id"] == "main-1"


def test_projects_are_not_compared_with_each_other(inline: Flask) -> None:
    client: Any = inline.test_client()
    ingest(client, run_payload("shop-1", passing(10)))
    ingest(client, run_payload("other-1", passing(1), project="other"))
    assert signals(client, "other-1") == {}


def test_integrity_of_an_unknown_run_is_404(client: Any) -> None:
    response = client.get("/api/tests/runs/nope/integrity")
    assert response.status_code == 404
    assert response.json["code"] == "not_found"


# -- feature flags ---------------------------------------------------------------------------


def test_mapping_off_leaves_owners_untouched(make_app: AppFactory) -> None:
    on = make_app(analysis_in_background=False)
    first = run_payload("flag-1", {})
    first["results"] = [{"name": "test_a", "classname": "m", "status": "passed", "owner": "@old"}]
    ingest(on.test_client(), first)

    off = make_app(analysis_in_background=False, mapping_enabled=False)
    client: Any = off.test_client()
    second = run_payload("flag-2", {})
    second["results"] = [
        {
            "name": "test_a",
            "classname": "m",
            "status": "passed",
            "owner": "@new",
            "tags": ["new-tag"],
        }
    ]
    ingest(client, second)
    run = client.get("/api/tests/runs/flag-2").json
    assert (run["mapping_state"], run["integrity_state"]) == ("off", "done")
    assert (run["results"][0]["owner"], run["results"][0]["tags"]) == ("@old", [])


def test_integrity_off_records_no_signals(make_app: AppFactory) -> None:
    app = make_app(analysis_in_background=False, integrity_enabled=False)
    client: Any = app.test_client()
    ingest(client, run_payload("quiet-1", passing(10), branch=None, git_sha=None))
    ingest(client, run_payload("quiet-2", passing(1), branch=None, git_sha=None))
    body = client.get("/api/tests/runs/quiet-2/integrity").json
    assert (body["integrity_state"], body["mapping_state"], body["signals"]) == ("off", "done", [])
    assert signal_count(app) == 0


# -- running it ------------------------------------------------------------------------------


def test_analysis_runs_in_the_background_by_default(make_app: AppFactory) -> None:
    app = make_app()
    client: Any = app.test_client()
    for index, count in enumerate((10, 5)):
        ingest(client, run_payload(f"bg-{index}", passing(count)))
    for run_id in ("bg-0", "bg-1"):  # the web app analyses nothing itself
        run = client.get(f"/api/tests/runs/{run_id}").json
        assert (run["mapping_state"], run["integrity_state"]) == ("pending", "pending")
    drain(app)  # a worker does
    for run_id in ("bg-0", "bg-1"):
        run = client.get(f"/api/tests/runs/{run_id}").json
        assert (run["mapping_state"], run["integrity_state"]) == ("done", "done")
    assert set(signals(client, "bg-1")) == {"tests_disappeared", "test_count_drop"}


def test_reanalyze_recomputes_without_duplicating_signals(
    make_app: AppFactory, server_codeowners: Path
) -> None:
    app = make_app(analysis_in_background=False, codeowners_file=str(server_codeowners))
    client: Any = app.test_client()
    ingest(client, run_payload("re-1", passing(10)))
    ingest(client, run_payload("re-2", passing(5), git_sha=None))
    assert results_by_name(client, "re-2")["test_00"]["owner"] == "@server-team"
    before = signals(client, "re-2")
    total = signal_count(app)

    server_codeowners.write_text("tests/ @new-owners\n", encoding="utf-8")
    runner = app.test_cli_runner()
    for _ in range(2):
        result = runner.invoke(args=["reanalyze", "re-2"])
        assert result.exit_code == 0, result.output
        assert "run re-2: mapping done, integrity done" in result.output
    assert results_by_name(client, "re-2")["test_00"]["owner"] == "@new-owners"
    after = signals(client, "re-2")
    assert {kind: (s["message"], s["test_count"]) for kind, s in after.items()} == {
        kind: (s["message"], s["test_count"]) for kind, s in before.items()
    }
    assert set(after) == {"tests_disappeared", "test_count_drop", "missing_git_metadata"}
    assert signal_count(app) == total


def test_reanalyze_unknown_run_fails_clearly(runner: Any) -> None:
    result = runner.invoke(args=["reanalyze", "no-such-run"])
    assert result.exit_code != 0
    assert "no run with run_id 'no-such-run'" in result.output


def _pending_run(app: Flask) -> str:
    """Ingest a run whose analysis has not run yet: its job is queued with the run."""
    ingest(app.test_client(), run_payload("pending-1", passing(3), git_sha=None))
    with app.app_context():
        run = db.session.execute(select(Run).where(Run.run_id == "pending-1")).scalar_one()
        assert (run.mapping_state, run.integrity_state) == ("pending", "pending")
        job = db.session.execute(select(Job).where(Job.kind == "analysis")).scalar_one()
        assert (job.key, job.state, job.attempts) == ("pending-1", "queued", 0)
    return "pending-1"


def states(app: Flask, run_id: str) -> tuple[str, str]:
    run = read(app, f"/api/tests/runs/{run_id}")
    return run["mapping_state"], run["integrity_state"]


def test_any_worker_analyses_pending_runs(make_app: AppFactory) -> None:
    run_id = _pending_run(make_app())
    restarted = make_app()
    drain(restarted)
    body = read(restarted, f"/api/tests/runs/{run_id}/integrity")
    assert (body["mapping_state"], body["integrity_state"]) == ("done", "done")
    assert [signal["kind"] for signal in body["signals"]] == ["missing_git_metadata"]


def test_inline_analysis_leaves_no_job_behind(make_app: AppFactory) -> None:
    app = make_app(analysis_in_background=False)
    ingest(app.test_client(), run_payload("inline-1", passing(3)))
    assert states(app, "inline-1") == ("done", "done")
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Job)).scalar_one() == 0


@pytest.mark.parametrize(
    ("lease_left", "expected"),
    [
        (timedelta(seconds=30), ("pending", "pending")),  # another worker is at it
        (timedelta(seconds=-1), ("done", "done")),  # a worker died while at it
    ],
)
def test_a_worker_respects_a_live_lease_and_takes_over_a_stale_one(
    make_app: AppFactory, lease_left: timedelta, expected: tuple[str, str]
) -> None:
    app = make_app()
    run_id = _pending_run(app)
    with app.app_context():
        db.session.execute(
            update(Job)
            .where(Job.kind == "analysis")
            .values(
                state="running",
                attempts=1,
                claimed_by="elsewhere.invalid:1:x",
                lease_until=utcnow() + lease_left,
            )
        )
        db.session.commit()
    Worker(make_app(), schedule=False).run_burst()
    assert states(app, run_id) == expected


def test_the_same_run_is_never_queued_for_analysis_twice(make_app: AppFactory) -> None:
    from server.jobs.queue import enqueue

    app = make_app()
    run_id = _pending_run(app)
    with app.app_context():
        assert not enqueue(db.session, "analysis", run_id, commit=True)
        assert db.session.execute(select(func.count()).select_from(Job)).scalar_one() == 1


def test_a_flask_subcommand_runs_no_worker(make_app: AppFactory) -> None:
    run_id = _pending_run(make_app())
    with click.Context(click.Command("init-db"), info_name="init-db"):
        cli_app = make_app(embedded_worker=True)
    assert cli_app.extensions["testviz"].worker is None
    assert states(cli_app, run_id) == ("pending", "pending")


def test_an_embedded_worker_analyses_in_the_serving_process(make_app: AppFactory) -> None:
    run_id = _pending_run(make_app())
    serving = make_app(embedded_worker=True)  # outside a click command: a serving process
    assert serving.extensions["testviz"].worker is not None
    drain(serving)  # waits for the embedded worker's jobs too
    assert states(serving, run_id) == ("done", "done")
