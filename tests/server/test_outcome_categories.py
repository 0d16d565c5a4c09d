"""pytest's own outcome categories, kept from ingest to the pages (SQLite and PostgreSQL).

An xfail is ``xfailed`` (not a skip), a non-strict xpass ``xpassed`` (not a plain pass), a
strict xpass ``failed``; a test's subtests are counted. Neither x-outcome is a failure: not
for the run's failed count, the pass rate, the run diff, flakiness or the integrity check.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from alembic import command
from flask import Flask
from sqlalchemy import Engine, create_engine, inspect, text

from server.storage.db import db
from server.storage.engine import alembic_config, configure_engine, upgrade_database
from server.storage.models import QueuedUpload

from ..support import AppFactory
from .helpers import case, junit

SHA = "0123456789abcdef0123456789abcdef01234567"
CLASS = "tests.test_mod"
XFAIL = '<skipped type="pytest.xfail" message="known bug #12"/>'
STRICT_XPASS = '<failure message="[XPASS(strict)] fixed upstream"/>'
SUBTEST_FAILURES = (
    '<failure message="[custom] (i=1) assert 1 == 2">trace 1</failure>'
    '<failure message="[custom] (i=3) assert 3 == 4">trace 3</failure>'
    '<failure message="contains 2 failed subtests"/>'
)
#: As pytest writes them with the plugin's sidecar: what JUnit XML cannot say is in ``tests``.
REPORT = junit(
    case("test_pass"),
    case("test_xfail", body=XFAIL),
    case("test_xpass"),
    case("test_strict", body=STRICT_XPASS),
    case("test_skip", body='<skipped type="pytest.skip" message="no network"/>'),
    case("test_sub", body=SUBTEST_FAILURES),
    name="pytest",
)
META = {
    "run_id": "cat-1",
    "project": "cats",
    "branch": "main",
    "git_sha": SHA,
    "tests": {
        f"{CLASS}::test_xpass": {"outcome": "xpassed"},
        f"{CLASS}::test_sub": {"subtests_failed": 2, "subtests_passed": 3},
    },
}
TOTALS = {
    "tests": 6,
    "passed": 1,
    "failed": 2,  # the strict xpass, and the test whose subtests failed
    "errors": 0,
    "skipped": 1,
    "xfailed": 1,
    "xpassed": 1,
    "subtests_failed": 2,
    "subtests_passed": 3,
}


def post_report(client: Any, xml: bytes = REPORT, meta: dict[str, Any] = META) -> Any:
    response = client.post(
        "/api/tests/ingest",
        data={
            "report": (io.BytesIO(xml), "report.xml"),
            "meta": (io.BytesIO(json.dumps(meta).encode()), "report.meta.json"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def send(
    client: Any,
    run_id: str,
    statuses: dict[str, str],
    *,
    sha: str = SHA,
    **result_fields: dict[str, Any],
) -> None:
    """A JSON run of project ``cats``: one result per name, with extra fields by name."""
    results = []
    for name, status in statuses.items():
        result: dict[str, Any] = {"name": name, "classname": CLASS, "status": status}
        if status in ("failed", "error"):
            result["message"] = f"AssertionError: {name} broke"
        results.append({**result, **result_fields.get(name, {})})
    body = {
        "run_id": run_id,
        "project": "cats",
        "branch": "main",
        "git_sha": sha,
        "env_fingerprint": "linux",
        "results": results,
    }
    response = client.post("/api/tests/ingest", json=body)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "created"


def by_name(client: Any, run_id: str, **query: str) -> dict[str, dict[str, Any]]:
    body = client.get(f"/api/tests/runs/{run_id}", query_string=query).get_json()
    return {result["name"]: result for result in body["results"]}


@pytest.fixture
def client(make_app: AppFactory) -> Any:
    """A client of an app that analyses each run before the ingest request returns."""
    return make_app(analysis_in_background=False).test_client()


# -- ingest and the read API -----------------------------------------------------------------


def test_a_pytest_report_keeps_its_outcome_categories(client: Any) -> None:
    answer = post_report(client)
    assert answer["status"] == "created"
    counts = {key: answer["counts"][key] for key in TOTALS}
    assert counts == TOTALS

    run = client.get("/api/tests/runs/cat-1").get_json()
    assert run["totals"] == TOTALS
    results = by_name(client, "cat-1")
    statuses = {name: result["status"] for name, result in results.items()}
    assert statuses == {
        "test_pass": "passed",
        "test_xfail": "xfailed",
        "test_xpass": "xpassed",
        "test_strict": "failed",
        "test_skip": "skipped",
        "test_sub": "failed",
    }
    subtests = {n: (r["subtests_failed"], r["subtests_passed"]) for n, r in results.items()}
    assert subtests == {name: (2, 3) if name == "test_sub" else (0, 0) for name in results}
    assert results["test_xfail"]["message"] == "known bug #12"
    assert results["test_xfail"]["fingerprint"] is None  # an expected failure is no failure
    sub = results["test_sub"]
    assert "(i=1) assert 1 == 2" in sub["message"]
    assert "(i=3) assert 3 == 4" in sub["message"]
    # The failure groups are the strict xpass's and the subtests', never the xfail's.
    assert sorted(group["count"] for group in run["failure_groups"]) == [1, 1]


def test_results_filter_by_every_status(client: Any) -> None:
    post_report(client)
    for status, names in (
        ("xfailed", ["test_xfail"]),
        ("xpassed", ["test_xpass"]),
        ("failed", ["test_strict", "test_sub"]),
        ("skipped", ["test_skip"]),
        ("passed", ["test_pass"]),
    ):
        body = client.get("/api/tests/runs/cat-1", query_string={"status": status}).get_json()
        assert sorted(r["name"] for r in body["results"]) == names, status
        assert body["results_total"] == len(names)
    bad = client.get("/api/tests/runs/cat-1", query_string={"status": "xfail"})
    assert bad.status_code == 422
    assert "xfailed" in bad.get_json()["message"]


def test_subtest_counts_of_0_are_null_in_the_rows(app: Flask) -> None:
    client = app.test_client()
    post_report(client)
    with app.app_context():
        rows = db.session.execute(
            text(
                "SELECT d.name, r.subtests_failed, r.subtests_passed FROM test_results r"
                " JOIN test_definitions d ON d.id = r.definition_pk ORDER BY d.name"
            )
        ).all()
        run = db.session.execute(
            text("SELECT xfailed, xpassed, subtests_failed, subtests_passed FROM runs")
        ).one()
    assert {name: (failed, passed) for name, failed, passed in rows} == {
        "test_pass": (None, None),
        "test_xfail": (None, None),
        "test_xpass": (None, None),
        "test_strict": (None, None),
        "test_skip": (None, None),
        "test_sub": (2, 3),
    }
    assert tuple(run) == (1, 1, 2, 3)


def test_json_ingest_takes_the_new_statuses_and_subtest_counts(client: Any) -> None:
    send(
        client,
        "json-1",
        {"a": "xfailed", "b": "xpassed", "c": "failed", "d": "passed"},
        c={"subtests_failed": 1, "subtests_passed": 4},
        d={"subtests_passed": 2},
    )
    totals = client.get("/api/tests/runs/json-1").get_json()["totals"]
    assert totals == {
        "tests": 4,
        "passed": 1,
        "failed": 1,
        "errors": 0,
        "skipped": 0,
        "xfailed": 1,
        "xpassed": 1,
        "subtests_failed": 1,
        "subtests_passed": 6,
    }
    results = by_name(client, "json-1")
    assert (results["c"]["subtests_failed"], results["c"]["subtests_passed"]) == (1, 4)
    assert (results["d"]["subtests_failed"], results["d"]["subtests_passed"]) == (0, 2)
    for bad in (
        {"name": "t", "status": "xfail"},
        {"name": "t", "status": "passed", "subtests_failed": -1},
        {"name": "t", "status": "passed", "subtests_passed": 2**31},
    ):
        response = client.post("/api/tests/ingest", json={"project": "cats", "results": [bad]})
        assert response.status_code == 422, bad


def test_subtest_totals_beyond_a_column_are_capped_not_an_error(client: Any) -> None:
    most = {"subtests_passed": 2**31 - 1}
    send(client, "huge", {"a": "passed", "b": "passed"}, a=most, b=most)
    totals = client.get("/api/tests/runs/huge").get_json()["totals"]
    assert totals["subtests_passed"] == 2**31 - 1


def test_openapi_names_the_new_statuses(client: Any) -> None:
    document = client.get("/api/openapi.json").get_json()
    (status,) = [
        p
        for p in document["paths"]["/api/tests/runs/{run_id}"]["get"]["parameters"]
        if p["name"] == "status"
    ]
    assert {"xfailed", "xpassed"} <= set(status["schema"]["enum"])
    schemas = document["components"]["schemas"]
    assert {"xfailed", "xpassed", "subtests_failed", "subtests_passed"} <= set(
        schemas["Totals"]["required"]
    )
    assert {"subtests_failed", "subtests_passed"} <= set(schemas["ResultOut"]["properties"])
    assert {"subtests_failed", "subtests_passed"} <= set(schemas["IngestResult"]["properties"])


# -- what counts as a failure ----------------------------------------------------------------


def test_a_run_with_only_xfails_and_xpasses_has_no_failures(client: Any) -> None:
    send(client, "calm", {"a": "passed", "b": "xfailed", "c": "xpassed"})
    send(client, "broken", {"a": "failed", "b": "xfailed", "c": "xpassed"})
    listed = client.get("/api/tests/runs", query_string={"status": "passed"}).get_json()
    assert [run["run_id"] for run in listed["runs"]] == ["calm"]
    listed = client.get("/api/tests/runs", query_string={"status": "failed"}).get_json()
    assert [run["run_id"] for run in listed["runs"]] == ["broken"]


def test_pass_rate_counts_xpasses_as_passes_and_leaves_xfails_out(client: Any) -> None:
    statuses = {"p1": "passed", "p2": "passed", "xp": "xpassed", "f": "failed"}
    statuses |= {"xf1": "xfailed", "xf2": "xfailed", "xf3": "xfailed", "s": "skipped"}
    send(client, "rate", statuses)
    (point,) = client.get("/api/tests/trends", query_string={"project": "cats"}).get_json()[
        "points"
    ]
    assert point["pass_rate"] == 0.75  # 3 of the 4 that passed or failed
    assert (point["xfailed"], point["xpassed"], point["skipped"]) == (3, 1, 1)


def test_diff_never_counts_an_x_outcome_as_a_failure(client: Any) -> None:
    send(client, "d1", {"a": "failed", "b": "xfailed", "c": "passed", "d": "failed"})
    send(client, "d2", {"a": "xfailed", "b": "failed", "c": "xpassed", "d": "xpassed"})
    diff = client.get("/api/tests/runs/d2/diff").get_json()
    names = {key: [t["name"] for t in diff[key]["tests"]] for key in ("new_failures", "fixed")}
    # b: an expected failure that now fails for real (a strict xpass, another exception);
    # d: a failure that passes now, though still marked xfail. a is neither: it is marked.
    assert names == {"new_failures": ["b"], "fixed": ["d"]}
    assert diff["fixed"]["tests"][0]["status"] == "xpassed"


def test_alternating_xfail_and_xpass_is_not_flaky(client: Any) -> None:
    """The x-outcomes leave a test's pass/fail outcome alone: no flip, no same-sha evidence.
    The same alternation between passed and failed is flaky, in the same runs."""
    for index in range(6):
        x = "xfailed" if index % 2 else "xpassed"
        real = "failed" if index % 2 else "passed"
        send(client, f"alt-{index}", {"marked": x, "real": real})
    flaky = client.get("/api/tests/flaky", query_string={"project": "cats"}).get_json()
    assert [test["name"] for test in flaky["tests"]] == ["real"]
    marked = by_name(client, "alt-5")["marked"]["test_id"]
    detail = client.get(f"/api/tests/tests/{marked}").get_json()
    assert detail["flakiness"]["flaky"] is False
    assert (detail["flakiness"]["flips"], detail["flakiness"]["same_sha"]) == (0, 0)
    assert detail["flakiness"]["environments"] == []  # no pass/fail outcome recorded
    assert [point["status"] for point in detail["history"]] == ["xfailed", "xpassed"] * 3


def test_integrity_an_xfail_is_not_a_skip(client: Any) -> None:
    before = {
        "a": "passed",
        "b": "failed",
        "c": "skipped",
        "d": "xpassed",
        "e": "passed",
        "f": "xpassed",
        "g": "xfailed",
    }
    send(client, "i1", before)
    after = {
        "a": "xfailed",  # passed, now declared to fail: newly xfailed
        "b": "xfailed",  # failed, now declared to fail: newly xfailed
        "c": "xfailed",  # skipped (as runs before 0006 stored xfails): nothing
        "d": "xfailed",  # a non-strict xfail that passed once: nothing
        "e": "skipped",  # newly skipped
        "f": "skipped",  # passed (unexpectedly), now skipped: newly skipped
        "g": "skipped",  # an expected failure now skipped: not a failure skipped
    }
    send(client, "i2", after)
    body = client.get("/api/tests/runs/i2/integrity").get_json()
    assert body["integrity_state"] == "done"
    found = {s["kind"]: sorted(t["name"] for t in s["tests"]) for s in body["signals"]}
    assert found == {"newly_xfailed": ["a", "b"], "newly_skipped": ["e", "f"]}
    (signal,) = [s for s in body["signals"] if s["kind"] == "newly_xfailed"]
    assert signal["severity"] == "warning"
    assert signal["test_count"] == 2


# -- the pages -------------------------------------------------------------------------------


def squeeze(html: str) -> str:
    return re.sub(r"\s+", " ", html)


def test_run_page_shows_the_categories_and_subtests(client: Any) -> None:
    post_report(client)
    page = squeeze(client.get("/runs/cat-1").get_data(as_text=True))
    assert (
        "6 tests: 1 passed, 2 failed, 0 errors, 1 skipped, 1 xfailed, 1 xpassed,"
        " 2 subtests failed, 3 subtests passed in" in page
    )
    assert '<span class="seg xfailed"' in page
    assert '<span class="seg xpassed"' in page
    assert 'aria-label="1 passed, 2 failed, 0 errors, 1 skipped, 1 xfailed, 1 xpassed"' in page
    assert '<span class="badge xfailed">xfailed</span>' in page
    assert '<span class="badge xpassed">xpassed</span>' in page
    assert "subtests: 2 failed, 3 passed" in page
    assert page.count('class="hint subtests"') == 1  # only the test that has subtests
    options = re.findall(r'<option value="(\w+)"', page)
    assert options == ["passed", "failed", "error", "skipped", "xfailed", "xpassed"]

    only = squeeze(client.get("/runs/cat-1?status=xfailed").get_data(as_text=True))
    assert '<option value="xfailed" selected>' in only
    assert "(1 results)" in only
    assert only.count('<tr class="xfailed">') == 1
    assert '<tr class="passed">' not in only


def test_a_run_without_x_outcomes_or_subtests_says_nothing_of_them(client: Any) -> None:
    send(client, "plain", {"a": "passed", "b": "failed", "c": "skipped"})
    page = squeeze(client.get("/runs/plain").get_data(as_text=True))
    assert "3 tests: 1 passed, 1 failed, 0 errors, 1 skipped in" in page
    assert "xfailed," not in page
    assert "subtests" not in page.replace('class="hint subtests"', "")
    assert 'aria-label="1 passed, 1 failed, 0 errors, 1 skipped"' in page


def test_test_page_shows_x_outcomes_and_subtests(client: Any) -> None:
    post_report(client)
    meta = {**META, "run_id": "cat-2"}
    post_report(client, REPORT, meta)
    results = by_name(client, "cat-2")
    page = squeeze(client.get(f"/tests/{results['test_sub']['test_id']}").get_data(as_text=True))
    assert page.count("subtests: 2 failed, 3 passed") == 2  # one per run in its history
    page = squeeze(client.get(f"/tests/{results['test_xpass']['test_id']}").get_data(as_text=True))
    assert page.count('class="cell xpassed"') == 2  # the outcome strip
    assert page.count('<span class="badge xpassed">xpassed</span>') == 2
    overview = squeeze(client.get("/?project=cats").get_data(as_text=True))
    assert '<span class="seg xfailed"' in overview


# -- the migration ---------------------------------------------------------------------------


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    configure_engine(engine)
    yield engine
    engine.dispose()


def _downgrade(engine: Engine, revision: str) -> None:
    with engine.connect() as connection:
        connection = connection.execution_options(testviz_write=True)
        with connection.begin():
            command.downgrade(alembic_config(connection), revision)


def _columns(engine: Engine, table: str) -> set[str]:
    return {column["name"] for column in inspect(engine).get_columns(table)}


def test_0006_adds_the_counts_to_stored_runs_and_folds_them_back(engine: Engine) -> None:
    upgrade_database(engine, "0005")
    now = "2026-12-01 10:00:00"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO runs (id, run_id, project, env, ingested_at, duration, tests,"
                " passed, failed, errors, skipped, flaky, testcases, notes, mapping_state,"
                " integrity_state) VALUES (1, 'r1', 'p', '{}', :at, 0, 2, 1, 0, 0, 1, 0, 2,"
                " '{}', 'done', 'done')"
            ),
            {"at": now},
        )
        for pk, name in ((1, "a"), (2, "b")):
            connection.execute(
                text(
                    "INSERT INTO test_definitions (id, project, test_id, name, base_name,"
                    " classname, declared_tags, markers, tags, first_seen_at, last_seen_at,"
                    " first_run_pk, last_run_pk) VALUES (:pk, 'p', :tid, :name, :base, 'c',"
                    " '[]', '[]', '[]', :at, :at, 1, 1)"
                ),
                {"pk": pk, "tid": name, "name": name, "base": name, "at": now},
            )
        for pk, status in ((1, "passed"), (2, "skipped")):
            connection.execute(
                text(
                    "INSERT INTO test_results (run_pk, definition_pk, status, flaky, duration,"
                    " attempts) VALUES (1, :pk, :status, :flaky, 0, 0)"
                ),
                {"pk": pk, "status": status, "flaky": False},
            )

    upgrade_database(engine, "0006")

    with engine.begin() as connection:
        run = connection.execute(
            text(
                "SELECT passed, skipped, xfailed, xpassed, subtests_failed, subtests_passed"
                " FROM runs"
            )
        ).one()
        assert tuple(run) == (1, 1, 0, 0, 0, 0)  # which skips were xfails is not known
        assert connection.execute(
            text("SELECT status, subtests_failed, subtests_passed FROM test_results ORDER BY id")
        ).all() == [("passed", None, None), ("skipped", None, None)]
        # What the new server then stores: an xpass, an xfail, a test with subtests.
        connection.execute(
            text(
                "UPDATE runs SET tests = 3, passed = 0, skipped = 0, xfailed = 1, xpassed = 1,"
                " failed = 1, subtests_failed = 2, subtests_passed = 1"
            )
        )
        connection.execute(text("UPDATE test_results SET status = 'xpassed' WHERE id = 1"))
        connection.execute(text("UPDATE test_results SET status = 'xfailed' WHERE id = 2"))
        connection.execute(
            text(
                "INSERT INTO test_definitions (id, project, test_id, name, base_name, classname,"
                " declared_tags, markers, tags, first_seen_at, last_seen_at, first_run_pk,"
                " last_run_pk) VALUES (3, 'p', 'c', 'c', 'c', 'c', '[]', '[]', '[]', :at, :at,"
                " 1, 1)"
            ),
            {"at": now},
        )
        connection.execute(
            text(
                "INSERT INTO test_results (run_pk, definition_pk, status, flaky, duration,"
                " attempts, subtests_failed, subtests_passed)"
                " VALUES (1, 3, 'failed', :flaky, 0, 0, 2, 1)"
            ),
            {"flaky": False},
        )

    _downgrade(engine, "0005")

    assert not {"xfailed", "xpassed", "subtests_failed", "subtests_passed"} & _columns(
        engine, "runs"
    )
    assert not {"subtests_failed", "subtests_passed"} & _columns(engine, "test_results")
    with engine.connect() as connection:
        # The older server reads every row: its statuses and totals are the ones it knows.
        assert connection.execute(
            text("SELECT tests, passed, failed, errors, skipped FROM runs")
        ).one() == (3, 1, 1, 0, 1)
        assert connection.execute(
            text("SELECT definition_pk, status FROM test_results ORDER BY definition_pk")
        ).all() == [(1, "passed"), (2, "skipped"), (3, "failed")]

    upgrade_database(engine)  # and up again, to the head
    assert {"xfailed", "subtests_passed"} <= _columns(engine, "runs")


def test_an_upload_stored_before_the_new_counts_still_reads(app: Flask) -> None:
    """A queued upload done before 0006 kept its ingest answer without the new counts."""
    old_answer = {
        "run_id": "old",
        "status": "created",
        "counts": {
            "tests": 1,
            "passed": 1,
            "failed": 0,
            "errors": 0,
            "skipped": 0,
            "new_definitions": 1,
            "failure_groups": 0,
        },
    }
    with app.app_context():
        upload = QueuedUpload(
            state="done",
            received_at=datetime.now(timezone.utc),
            finished_at=datetime.now(timezone.utc),
            run_id="old",
            attempts=1,
            result=old_answer,
        )
        db.session.add(upload)
        db.session.commit()
        upload_id = upload.id
    response = app.test_client().get(f"/api/tests/uploads/{upload_id}")
    assert response.status_code == 200, response.get_json()
    counts = response.get_json()["result"]["counts"]
    assert counts == {**old_answer["counts"], "xfailed": 0, "xpassed": 0} | {
        "subtests_failed": 0,
        "subtests_passed": 0,
    }
