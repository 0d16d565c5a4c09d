"""Fixtures for the core tests: a writer of report files, and the shared JUnit corpus."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .helpers import CORPUS

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


@pytest.fixture(scope="session")
def corpus() -> Path:
    """The shared JUnit corpus; the test is skipped when the checkout has none beside it."""
    if not CORPUS.is_dir():
        pytest.skip(f"JUnit corpus not found at {CORPUS}")
    return CORPUS
