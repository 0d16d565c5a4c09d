"""Tokens: ingest tokens (any project, or one project each), read tokens, and no secret in logs."""

from __future__ import annotations

import base64
import io
import json
import logging
import threading
from typing import Any

import pytest
import requests
from flask import Blueprint, Flask
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

from pytest_testviz.core import Sidecar
from server import create_app
from server.config import ConfigError, settings_from_env
from server.web.auth import parse_ingest_tokens

from ..support import AppFactory
from .helpers import case, junit
from .test_ingest_api import row_counts

ANY = "tok-any-0d5e"
SHOP = "tok-shop-7a1f"
BOTH = "tok-both-44c2"
READ = "tok-read-b93a"
SECRETS = (ANY, SHOP, BOTH, READ)
INGEST_TOKENS = (ANY, f"shop:{SHOP}", f"shop:{BOTH}", f"org:billing:{BOTH}")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(token: str, user: str = "me") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


def xml(client: Any, project: str | None, headers: dict[str, str], name: str = "") -> Any:
    query = f"?project={project}" if project else ""
    return client.post(
        f"/api/tests/ingest{query}",
        data=junit(case(name or f"test_{project}")),
        content_type="application/xml",
        headers=headers,
    )


def multipart(client: Any, project: str, headers: dict[str, str]) -> Any:
    meta = Sidecar(project=project, run_id=f"mp-{project}").dump()
    return client.post(
        "/api/tests/ingest",
        data={
            "report": (io.BytesIO(junit(case(f"test_{project}"))), "r.xml"),
            "meta": (io.BytesIO(meta), "r.meta.json"),
        },
        content_type="multipart/form-data",
        headers=headers,
    )


def as_json(client: Any, project: str, headers: dict[str, str]) -> Any:
    body = {"project": project, "results": [{"name": f"test_{project}", "status": "passed"}]}
    return client.post("/api/tests/ingest", json=body, headers=headers)


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Tokens are checked before the database is touched: SQLite is enough here."""
    return sqlite_url


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app(ingest_tokens=INGEST_TOKENS, analysis_in_background=False)


def test_token_entries_are_parsed_with_or_without_a_project() -> None:
    tokens = parse_ingest_tokens(INGEST_TOKENS)
    assert [token.project for token in tokens] == [None, "shop", "shop", "org:billing"]
    assert all(secret not in repr(tokens) for secret in SECRETS)


@pytest.mark.parametrize("entry", ["shop:", ":tok", " : "])
def test_a_bad_token_entry_is_a_config_error_that_does_not_show_it(entry: str) -> None:
    with pytest.raises(ConfigError, match="TESTVIZ_INGEST_TOKENS entry #2") as info:
        parse_ingest_tokens([ANY, entry])
    assert ANY not in str(info.value)
    if entry.strip(": "):
        assert entry.strip(": ") not in str(info.value)


def test_tokens_come_from_the_environment_and_stay_out_of_reprs(tmp_path: Any) -> None:
    env = {"TESTVIZ_INGEST_TOKENS": f"{ANY}, shop:{SHOP}", "TESTVIZ_READ_TOKENS": f"{READ},"}
    settings = settings_from_env(env, str(tmp_path))
    assert settings.ingest_tokens == (ANY, f"shop:{SHOP}")
    assert settings.read_tokens == (READ,)
    assert all(secret not in repr(settings) for secret in SECRETS)


@pytest.mark.parametrize("send", [xml, multipart, as_json])
def test_a_project_token_stores_its_project_only(app: Flask, send: Any) -> None:
    client = app.test_client()
    refused = send(client, "web", bearer(SHOP))
    assert refused.status_code == 403, refused.json
    assert refused.json["code"] == "forbidden"
    assert "'web'" in refused.json["message"]
    assert SHOP not in refused.get_data(as_text=True)
    assert row_counts(app)["runs"] == 0

    assert send(client, "shop", bearer(SHOP)).status_code == 200
    assert send(client, "web", bearer(ANY)).status_code == 200  # unscoped: any project
    assert row_counts(app)["runs"] == 2


def test_a_token_listed_for_two_projects_stores_both(app: Flask) -> None:
    client = app.test_client()
    assert xml(client, "shop", bearer(BOTH)).status_code == 200
    assert xml(client, "org:billing", bearer(BOTH)).status_code == 200
    assert xml(client, "web", bearer(BOTH)).status_code == 403
    # The default project is a project too: a scoped token cannot store it.
    assert xml(client, None, bearer(SHOP), name="u").status_code == 403


@pytest.mark.parametrize(
    "headers",
    [{}, bearer(""), bearer("nope"), bearer(SHOP + "x"), basic("nope"), {"Authorization": SHOP}],
    ids=["none", "empty", "wrong", "longer", "basic-wrong", "no-scheme"],
)
def test_a_missing_or_wrong_ingest_token_is_401_before_the_body_is_read(
    app: Flask, headers: dict[str, str]
) -> None:
    response = app.test_client().post(
        "/api/tests/ingest", data=b"not even xml", content_type="application/xml", headers=headers
    )
    assert response.status_code == 401
    assert response.json["code"] == "unauthorized"
    assert "Bearer" in response.headers["WWW-Authenticate"]
    assert all(secret not in response.get_data(as_text=True) for secret in SECRETS)


def test_ingest_token_as_basic_password_or_header(app: Flask) -> None:
    client = app.test_client()
    assert xml(client, "shop", basic(SHOP), name="a").status_code == 200
    assert xml(client, "shop", {"X-Testviz-Token": SHOP}, name="b").status_code == 200


# -- read tokens ------------------------------------------------------------------------------


@pytest.fixture
def guarded(make_app: AppFactory) -> Flask:
    """Read tokens on, ingest open; plus a route added the way later pages and APIs will be."""
    app = make_app(read_tokens=(READ,), analysis_in_background=False)
    later = Blueprint("later", __name__)
    later.add_url_rule("/api/tests/later", "later_api", lambda: {"tests": []})
    app.register_blueprint(later)
    return app


READ_PATHS = [
    "/api/tests/runs",
    "/api/tests/runs/nope",
    "/api/tests/runs/nope/integrity",
    "/api/openapi.json",
    "/api/tests/flaky",
    "/api/tests/later",
    "/no/such/page",
    "/static/app.css",
    "/",
    "/flaky",
    "/runs/nope",
]
PAGES = {"/", "/flaky", "/runs/nope"}


@pytest.mark.parametrize("path", READ_PATHS)
def test_reading_needs_the_read_token(guarded: Flask, path: str) -> None:
    client = guarded.test_client()
    for headers in ({}, bearer("nope"), bearer(ANY), basic(READ + "x"), {"X-Testviz-Token": "x"}):
        response = client.get(path, headers=headers)
        assert response.status_code == 401, (path, headers)
        if path in PAGES:  # the HTML error page, with the same challenge
            assert "<h1>401</h1>" in response.get_data(as_text=True)
        else:
            assert response.json["code"] == "unauthorized"
        assert 'Basic realm="testviz"' in response.headers["WWW-Authenticate"]  # a browser asks
        assert READ not in response.get_data(as_text=True)
    for headers in (bearer(READ), basic(READ), {"X-Testviz-Token": READ}):
        with client.get(path, headers=headers) as response:  # a static file is streamed
            assert response.status_code != 401, (path, headers)


def test_health_and_ingest_stay_open_with_a_read_token(guarded: Flask) -> None:
    client = guarded.test_client()
    assert client.get("/healthz").status_code == 200
    created = xml(client, "shop", {})
    assert created.status_code == 200, created.json
    run = client.get(created.json["url"], headers=bearer(READ))
    assert (run.status_code, run.json["project"]) == (200, "shop")


def test_read_and_ingest_tokens_are_separate(make_app: AppFactory) -> None:
    client = make_app(ingest_tokens=(ANY,), read_tokens=(READ,)).test_client()
    assert xml(client, "shop", bearer(READ)).status_code == 401
    assert xml(client, "shop", bearer(ANY)).status_code == 200
    assert client.get("/api/tests/runs", headers=bearer(ANY)).status_code == 401
    assert client.get("/api/tests/runs", headers=bearer(READ)).status_code == 200


def test_without_read_tokens_reading_is_open(app: Flask) -> None:
    assert app.test_client().get("/api/tests/runs").status_code == 200


# -- secrets in logs --------------------------------------------------------------------------


def test_no_token_or_password_reaches_a_log(
    make_app: AppFactory,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every path a token travels, including a failing request, with every logger at DEBUG."""
    caplog.set_level(logging.DEBUG)
    app = make_app(ingest_tokens=INGEST_TOKENS, read_tokens=(READ,))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        with requests.Session() as http:
            ingest = f"{url}/api/tests/ingest?project=shop"
            body = junit(case("t"))
            xml_type = {"Content-Type": "application/xml"}
            for headers in (bearer(SHOP), bearer(SHOP + "x"), basic(BOTH), bearer(READ)):
                http.post(ingest, data=body, headers={**xml_type, **headers}, timeout=60)
            web = f"{url}/api/tests/ingest?project=web"
            http.post(web, data=body, headers={**xml_type, **bearer(SHOP)}, timeout=60)
            for headers in (bearer(READ), bearer(ANY), basic(READ + "x"), {}):
                http.get(f"{url}/api/tests/runs", headers=headers, timeout=60)
            # A request that fails inside the server: its traceback is logged.
            engine = create_engine(database_url)
            with engine.begin() as connection:
                connection.execute(text("DROP TABLE test_results"))
            engine.dispose()
            failed = http.post(
                ingest,
                data=junit(case("after-drop")),
                headers={**xml_type, **bearer(SHOP)},
                timeout=60,
            )
            assert failed.status_code == 500
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()

    logged = caplog.text + "".join(capsys.readouterr())
    assert "unexpected error while handling a request" in logged  # the failure was logged
    assert "POST /api/tests/ingest" in logged  # and the requests
    assert [secret for secret in SECRETS if secret in logged] == []


def test_a_database_password_stays_out_of_the_startup_error(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    url = "postgresql+psycopg://testviz:hunter2-5c1e@127.0.0.1:1/testviz"
    with pytest.raises(Exception) as info:  # noqa: PT011 - whatever the driver raises
        create_app({"database_url": url, "watch": False})
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in caplog.text
    assert "hunter2" not in json.dumps(repr(info.value))
