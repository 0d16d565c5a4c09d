"""Server fixtures beyond the shared ones of tests/conftest.py (the app on SQLite or
PostgreSQL, a live server): the app's clients, and a SQLite URL of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'testviz.sqlite3'}"


@pytest.fixture
def client(app: Flask) -> Any:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> Any:
    return app.test_cli_runner()
