"""Fixtures of more than one test directory: the server's app on SQLite or PostgreSQL, served
on loopback, and the shared JUnit corpus. A directory's conftest overrides them by name where
it needs something else (the plugin tests: SQLite only, a live server its helpers can drain).

A service a test needs and cannot have (PostgreSQL, the corpus) skips the test on a laptop
and fails it under ``CI=true`` (:func:`tests.support.missing_service`).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from server import create_app
from server.storage.db import db

from .server.helpers import serving
from .support import CORPUS, AppFactory, corpus_present, missing_service


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """``TESTVIZ_TEST_POSTGRES_URL``, once it answers."""
    url = os.environ.get("TESTVIZ_TEST_POSTGRES_URL")
    if not url:
        missing_service("PostgreSQL: TESTVIZ_TEST_POSTGRES_URL is not set (see .ci/start-postgres)")
        raise AssertionError("unreachable")
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        missing_service(f"PostgreSQL at {make_url(url).render_as_string()} does not answer: {exc}")
    finally:
        engine.dispose()
    return url


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    name = f"testviz_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres_admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The test's database: once on SQLite, once on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'testviz.sqlite3'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def make_app(database_url: str) -> Iterator[AppFactory]:
    """Build apps on the test's database; settings as keyword arguments. Each app's job
    worker and database engine are shut down after the test."""
    apps: list[Flask] = []

    def factory(**overrides: Any) -> Flask:
        config: dict[str, Any] = {"TESTING": True, "database_url": database_url, "watch": False}
        config.update(overrides)
        app = create_app(config)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.extensions["testviz"].shutdown()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app served by a real HTTP server on 127.0.0.1, on a free port."""
    with serving(app) as url:
        yield url


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared JUnit corpus (``../shared/corpus/junit`` beside the checkout)."""
    if not corpus_present():
        missing_service(f"the shared JUnit corpus is not at {CORPUS}")
    return CORPUS
