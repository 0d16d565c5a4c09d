"""The app factory, configuration, health and the OpenAPI document."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import inspect

from server import create_app
from server.config import ConfigError, settings_from_env
from server.storage.db import db

from ..support import AppFactory


def test_factory_creates_schema_and_serves_health(app: Flask, client: object) -> None:
    response = client.get("/healthz")  # type: ignore[attr-defined]
    assert response.status_code == 200
    assert response.json["status"] == "ok"
    with app.app_context():
        tables = set(inspect(db.engine).get_table_names())
    assert {
        "runs",
        "test_definitions",
        "test_results",
        "failure_groups",
        "integrity_signals",
    } <= tables
    assert "alembic_version" in tables


def test_default_database_is_sqlite_in_instance_folder(tmp_path: Path) -> None:
    settings = settings_from_env({}, str(tmp_path))
    assert settings.database_url == f"sqlite:///{tmp_path / 'testviz.sqlite3'}"
    assert (settings.enabled, settings.mapping_enabled, settings.integrity_enabled) == (
        True,
        True,
        True,
    )
    assert settings.results_dir == ""
    assert settings.async_ingest is True
    assert settings_from_env({"TESTVIZ_ASYNC_INGEST": "false"}, str(tmp_path)).async_ingest is False


def test_postgres_urls_use_psycopg3(tmp_path: Path) -> None:
    env = {"TESTVIZ_DATABASE_URL": "postgresql://u@127.0.0.1/db"}
    assert settings_from_env(env, str(tmp_path)).database_url.startswith("postgresql+psycopg://")


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"CCDASH_TEST_VISUALIZER_ENABLED": "maybe"}, "CCDASH_TEST_VISUALIZER_ENABLED"),
        ({"TESTVIZ_MAX_UPLOAD_MB": "lots"}, "TESTVIZ_MAX_UPLOAD_MB"),
        ({"TESTVIZ_COUNT_DROP_THRESHOLD": "2"}, "TESTVIZ_COUNT_DROP_THRESHOLD"),
        ({"TESTVIZ_ASYNC_INGEST": "sometimes"}, "TESTVIZ_ASYNC_INGEST"),
    ],
)
def test_bad_settings_name_their_variable(tmp_path: Path, env: dict[str, str], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        settings_from_env(env, str(tmp_path))


def test_starting_twice_on_one_database_keeps_data(make_app: AppFactory) -> None:
    first = make_app()
    response = first.test_client().post(
        "/api/tests/ingest", json={"run_id": "keep", "results": [{"name": "t", "status": "passed"}]}
    )
    assert response.status_code == 200
    second = make_app()
    assert second.test_client().get("/api/tests/runs/keep").status_code == 200


def test_disabled_feature_answers_503(make_app: AppFactory) -> None:
    client = make_app(enabled=False).test_client()
    for response in (
        client.post("/api/tests/ingest", json={"results": []}),
        client.get("/api/tests/runs"),
    ):
        assert response.status_code == 503
        assert response.json["code"] == "disabled"
        assert "CCDASH_TEST_VISUALIZER_ENABLED" in response.json["message"]
    assert client.get("/healthz").status_code == 200


def test_disabled_by_environment(monkeypatch: pytest.MonkeyPatch, sqlite_url: str) -> None:
    monkeypatch.setenv("CCDASH_TEST_VISUALIZER_ENABLED", "false")
    app = create_app({"database_url": sqlite_url, "watch": False})
    try:
        response = app.test_client().post(
            "/api/tests/ingest", data=b"<testsuite/>", content_type="application/xml"
        )
        assert response.status_code == 503
    finally:
        app.extensions["testviz"].shutdown()
        with app.app_context():
            db.engine.dispose()


def test_unknown_route_is_json_404(client: object) -> None:
    response = client.get("/api/tests/nothing-here")  # type: ignore[attr-defined]
    assert response.status_code == 404
    assert set(response.json) == {"code", "message", "details"}


def test_wrong_method_is_json_405(client: object) -> None:
    response = client.get("/api/tests/ingest")  # type: ignore[attr-defined]
    assert response.status_code == 405
    assert response.json["code"] == "method_not_allowed"
    assert "POST" in response.headers["Allow"]


def test_openapi_document_describes_the_api(client: object) -> None:
    document = client.get("/api/openapi.json").json  # type: ignore[attr-defined]
    assert document["openapi"].startswith("3.1")
    assert {
        "/api/tests/ingest",
        "/api/tests/runs",
        "/api/tests/runs/{run_id}",
        "/api/tests/runs/{run_id}/integrity",
        "/healthz",
    } <= set(document["paths"])
    schemas = document["components"]["schemas"]
    assert {"IngestRunRequest", "IngestRunResponse", "ErrorBody", "RunDetail"} <= set(schemas)
    assert "results" in schemas["IngestRunRequest"]["properties"]
