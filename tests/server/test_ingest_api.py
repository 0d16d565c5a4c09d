"""POST /api/tests/ingest: every content type, idempotency, and every error code."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from pytest_testviz.core import parse_junit_xml
from server.storage.db import db
from server.storage.models import FailureGroup, Run, TestDefinition, TestResultRow

from ..support import AppFactory
from .helpers import case, junit

FAIL = '<failure message="AssertionError: assert 1 == 2" type="AssertionError">trace</failure>'


def post_xml(client: Any, body: bytes, **kwargs: Any) -> Any:
    return client.post("/api/tests/ingest", data=body, content_type="application/xml", **kwargs)


def row_counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        return {
            model.__tablename__: db.session.execute(
                select(func.count()).select_from(model)
            ).scalar_one()
            for model in (Run, TestDefinition, TestResultRow, FailureGroup)
        }


def test_valid_xml_is_created_with_counts(client: Any) -> None:
    body = junit(
        case("test_a"),
        case("test_b", body=FAIL),
        case("test_c", body="<skipped/>"),
        case("test_d", body="<error message='boom'/>"),
    )
    response = post_xml(client, body)
    assert response.status_code == 200
    assert response.json["status"] == "created"
    assert response.json["counts"] == {
        "tests": 4,
        "passed": 1,
        "failed": 1,
        "errors": 1,
        "skipped": 1,
        "xfailed": 0,
        "xpassed": 0,
        "subtests_failed": 0,
        "subtests_passed": 0,
        "new_definitions": 4,
        "failure_groups": 2,
    }


def test_same_run_twice_is_skipped_and_changes_nothing(app: Flask, client: Any) -> None:
    body = junit(case("test_a"), case("test_b", body=FAIL))
    first = post_xml(client, body)
    before = row_counts(app)
    second = post_xml(client, body)
    assert first.json["status"] == "created"
    assert second.status_code == 200
    assert second.json["status"] == "skipped"
    assert second.json["run_id"] == first.json["run_id"]
    assert row_counts(app) == before


def test_json_request_with_run_id(client: Any) -> None:
    payload = {
        "run_id": "ci-1234",
        "project": "shop",
        "branch": "main",
        "git_sha": "ABCDEF1234",
        "session_id": "s-1",
        "env": {"python": "3.12"},
        "results": [
            {
                "name": "test_add[1-2]",
                "classname": "tests.test_math",
                "status": "passed",
                "duration": 0.5,
            },
            {
                "name": "test_div",
                "classname": "tests.test_math",
                "status": "failed",
                "message": "ZeroDivisionError: division by zero",
                "text": "Traceback...",
            },
        ],
    }
    response = client.post("/api/tests/ingest", json=payload)
    assert response.status_code == 200, response.json
    assert response.json["run_id"] == "ci-1234"
    again = client.post("/api/tests/ingest", json=payload)
    assert again.json["status"] == "skipped"
    run = client.get("/api/tests/runs/ci-1234").json
    assert run["project"] == "shop"
    assert run["git_sha"] == "abcdef1234"
    by_name = {r["name"]: r for r in run["results"]}
    assert by_name["test_add[1-2]"]["base_name"] == "test_add"
    assert by_name["test_add[1-2]"]["params"] == "1-2"
    assert by_name["test_add[1-2]"]["file"] == "tests/test_math.py"
    assert by_name["test_div"]["error_type"] == "ZeroDivisionError"
    assert len(by_name["test_div"]["fingerprint"]) == 16


def test_json_without_run_id_derives_one_from_content(client: Any) -> None:
    payload = {"project": "p", "results": [{"name": "t", "status": "passed"}]}
    first = client.post("/api/tests/ingest", json=payload).json
    second = client.post("/api/tests/ingest", json=payload).json
    assert first["status"] == "created"
    assert (second["status"], second["run_id"]) == ("skipped", first["run_id"])


def test_multipart_with_sidecar(client: Any) -> None:
    body = junit(case("test_a"), case("test_b", body=FAIL))
    meta = {
        "run_id": "mp-1",
        "project": "web",
        "branch": "feature/x",
        "git_sha": "0123abcd",
        "session_id": "sess-9",
        "tests": {"tests.test_mod::test_a": {"owner": "@team-a", "tags": ["fast"]}},
    }
    response = client.post(
        "/api/tests/ingest",
        data={
            "report": (io.BytesIO(body), "report.xml"),
            "meta": (io.BytesIO(json.dumps(meta).encode()), "report.meta.json"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.json
    assert response.json["run_id"] == "mp-1"
    run = client.get("/api/tests/runs/mp-1").json
    assert (run["project"], run["branch"], run["session_id"]) == ("web", "feature/x", "sess-9")


def test_multipart_without_sidecar_takes_project_field(client: Any) -> None:
    response = client.post(
        "/api/tests/ingest",
        data={"report": (io.BytesIO(junit(case("t"))), "r.xml"), "project": "api"},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    assert client.get(f"/api/tests/runs/{response.json['run_id']}").json["project"] == "api"


def test_gzip_body_and_gzip_file(client: Any) -> None:
    body = junit(case("test_gz"))
    response = client.post(
        "/api/tests/ingest",
        data=gzip.compress(body),
        content_type="application/xml",
        headers={"Content-Encoding": "gzip"},
    )
    assert response.status_code == 200
    upload = client.post(
        "/api/tests/ingest",
        data={"report": (io.BytesIO(gzip.compress(junit(case("other")))), "r.xml.gz")},
        content_type="multipart/form-data",
    )
    assert upload.status_code == 200
    assert upload.json["counts"]["tests"] == 1


@pytest.mark.parametrize(
    ("body", "line"),
    [
        (b"<testsuite><testcase name='a'", 1),
        (b"not xml at all", 1),
        (b"<testsuites>\n<testsuite>\n</testsuites>", 3),
    ],
)
def test_malformed_xml_is_400_with_position(
    app: Flask, client: Any, body: bytes, line: int
) -> None:
    response = post_xml(client, body)
    assert response.status_code == 400
    assert response.json["code"] == "malformed_report"
    assert response.json["details"]["line"] == line
    assert row_counts(app)["runs"] == 0


def test_empty_body_and_wrong_root_are_400(client: Any) -> None:
    assert post_xml(client, b"").json["message"].endswith("the report is empty")
    wrong = post_xml(client, b"<result><case/></result>")
    assert wrong.status_code == 400
    assert "<result>" in wrong.json["message"]


def test_doctype_is_refused(client: Any) -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        b'<testsuite><testcase name="&e;"/></testsuite>'
    )
    response = post_xml(client, body)
    assert response.status_code == 400
    assert "DOCTYPE" in response.json["message"]


def test_too_large_is_413(make_app: AppFactory) -> None:
    client = make_app(max_upload_mb=1).test_client()
    big = junit(
        *[
            case(f"test_{i}", body="<system-out>" + "x" * 1000 + "</system-out>")
            for i in range(1200)
        ]
    )
    response = post_xml(client, big)
    assert response.status_code == 413
    assert response.json["code"] == "too_large"


def test_gzip_bomb_is_413(make_app: AppFactory) -> None:
    client = make_app(max_upload_mb=1).test_client()
    bomb = gzip.compress(b"<testsuite>" + b" " * (3 * 1024 * 1024) + b"</testsuite>")
    response = client.post(
        "/api/tests/ingest",
        data=bomb,
        content_type="application/xml",
        headers={"Content-Encoding": "gzip"},
    )
    assert response.status_code == 413


def test_unsupported_type_is_415(client: Any) -> None:
    response = client.post("/api/tests/ingest", data=b"hello", content_type="text/plain")
    assert response.status_code == 415
    assert response.json["code"] == "unsupported_media_type"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"results": [{"name": "a", "status": "bogus"}]}, "results.0.status"),
        ({"results": [{"status": "passed"}]}, "results.0.name"),
        ({"project": "p"}, "results"),
        ({"results": [], "git_sha": "not-hex!"}, "git_sha"),
        ({"results": [], "surprise": 1}, "surprise"),
        ({"results": [{"name": "a", "status": "passed", "duration": -1}]}, "results.0.duration"),
    ],
)
def test_schema_errors_are_422_naming_the_field(
    client: Any, payload: dict[str, Any], field: str
) -> None:
    response = client.post("/api/tests/ingest", json=payload)
    assert response.status_code == 422
    assert response.json["code"] == "invalid_request"
    assert field in response.json["message"]
    assert response.json["details"]["errors"][0]["field"] == field


def test_invalid_json_is_400(client: Any) -> None:
    response = client.post("/api/tests/ingest", data=b"{nope", content_type="application/json")
    assert response.status_code == 400
    assert response.json["code"] == "malformed_json"


def test_missing_report_part_is_422(client: Any) -> None:
    response = client.post(
        "/api/tests/ingest",
        data={"meta": (io.BytesIO(b"{}"), "m.json")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "report" in response.json["message"]


@pytest.mark.parametrize(
    ("meta", "status", "code"),
    [
        (b"{broken", 400, "malformed_sidecar"),
        (b'{"git_sha": 42}', 422, "invalid_sidecar"),
        (b'{"schema_version": 9}', 422, "invalid_sidecar"),
    ],
)
def test_bad_sidecar(client: Any, meta: bytes, status: int, code: str) -> None:
    response = client.post(
        "/api/tests/ingest",
        data={
            "report": (io.BytesIO(junit(case("t"))), "r.xml"),
            "meta": (io.BytesIO(meta), "r.meta.json"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == status
    assert response.json["code"] == code


def test_tokens_required_when_configured(make_app: AppFactory) -> None:
    client = make_app(ingest_tokens=("s3cret", "other")).test_client()
    body = junit(case("t"))
    assert post_xml(client, body).status_code == 401
    wrong = post_xml(client, body, headers={"Authorization": "Bearer nope"})
    assert (wrong.status_code, wrong.json["code"]) == (401, "unauthorized")
    assert "nope" not in json.dumps(wrong.json)
    assert post_xml(client, body, headers={"Authorization": "Bearer other"}).status_code == 200
    assert (
        post_xml(client, junit(case("u")), headers={"X-Testviz-Token": "s3cret"}).status_code == 200
    )


def test_failure_groups_count_occurrences_across_runs(app: Flask, client: Any) -> None:
    for run in ("r1", "r2"):
        payload = {
            "run_id": run,
            "results": [
                {"name": "a", "classname": "m", "status": "failed", "message": "KeyError: 'x'"},
                {"name": "b", "classname": "m", "status": "failed", "message": "KeyError: 'x'"},
            ],
        }
        assert client.post("/api/tests/ingest", json=payload).status_code == 200
    with app.app_context():
        groups = db.session.execute(select(FailureGroup)).scalars().all()
    assert len(groups) == 1
    assert groups[0].occurrences == 4
    assert groups[0].error_type == "KeyError"


def test_large_report_is_stored_whole(app: Flask, client: Any) -> None:
    cases = [case(f"test_{i}", body=FAIL if i % 10 == 0 else "") for i in range(5000)]
    response = post_xml(client, junit(*cases))
    assert response.json["counts"]["tests"] == 5000
    assert response.json["counts"]["failed"] == 500
    assert row_counts(app)["test_results"] == 5000


def test_definitions_are_shared_between_runs(app: Flask, client: Any) -> None:
    post_xml(client, junit(case("test_a"), case("test_b")))
    second = post_xml(client, junit(case("test_a"), case("test_b"), case("test_c")))
    assert second.json["counts"]["new_definitions"] == 1
    assert row_counts(app)["test_definitions"] == 3


def _manifest(corpus: Path) -> list[dict[str, str]]:
    with open(corpus / "MANIFEST.tsv", encoding="utf-8") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_corpus_reports_ingest_with_their_totals(make_app: AppFactory, corpus: Path) -> None:
    """Every corpus file the parser accepts is stored with the parser's (folded) totals;
    every file it rejects is a 400, and nothing of it is stored."""
    app = make_app(mapping_enabled=False, integrity_enabled=False)  # this test is about ingest
    client = app.test_client()
    created = rejected = 0
    for row in _manifest(corpus):
        path = corpus / row["file"]
        response = post_xml(client, path.read_bytes(), query_string={"project": "corpus"})
        if row["expected_tests"] == "" and row["file"] != "xunit-viewer/test.xml":
            assert response.status_code == 400, row["file"]
            assert response.json["code"] == "malformed_report"
            rejected += 1
            continue
        assert response.status_code == 200, (row["file"], response.json)
        expected = parse_junit_xml(path, project="corpus", detect_sidecar=False).totals.to_json()
        counts = response.json["counts"]
        assert {key: counts[key] for key in expected} == expected, row["file"]
        created += response.json["status"] == "created"
    assert rejected == 26
    assert created > 300
    assert row_counts(app)["runs"] == created


@pytest.mark.parametrize(
    ("meta", "field"),
    [
        ({"branch": "b" * 300}, "branch"),
        ({"project": "p" * 201}, "project"),
        ({"tests": {"m::t": {"source_hash": "h" * 200}}}, "tests.m::t.source_hash"),
    ],
)
def test_sidecar_values_beyond_column_limits_are_422(
    client: Any, meta: dict[str, Any], field: str
) -> None:
    response = client.post(
        "/api/tests/ingest",
        data={
            "report": (io.BytesIO(junit(case("t"))), "r.xml"),
            "meta": (io.BytesIO(json.dumps(meta).encode()), "r.meta.json"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert field in response.json["message"]


@pytest.mark.parametrize("project", ["p" * 201, "   "])
def test_project_parameter_is_validated(client: Any, project: str) -> None:
    response = post_xml(client, junit(case("t")), query_string={"project": project})
    assert response.status_code == 422
    assert "project" in response.json["message"]


def test_nul_characters_are_422_not_a_database_error(client: Any) -> None:
    payload = {"results": [{"name": "bad\u0000name", "status": "passed"}]}
    response = client.post("/api/tests/ingest", json=payload)
    assert response.status_code == 422
    assert "results.0.name" in response.json["message"]


def test_infinite_duration_is_422(client: Any) -> None:
    body = b'{"results": [{"name": "t", "status": "passed", "duration": 1e999}]}'
    response = client.post("/api/tests/ingest", data=body, content_type="application/json")
    assert response.status_code == 422
