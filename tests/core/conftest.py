"""Fixtures for the core tests: a writer of report files (the shared JUnit corpus is the root
conftest's ``corpus``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

WriteFile = Callable[..., Path]


@pytest.fixture
def write_file(tmp_path: Path) -> WriteFile:
    """Write text or bytes to ``tmp_path/name`` and return the path."""

    def write(content: str | bytes, name: str = "report.xml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
        return path

    return write
