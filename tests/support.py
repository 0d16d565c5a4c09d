"""What the fixtures of every test directory share and the tests may import: whether this is
CI, how a missing service is reported, where the shared JUnit corpus lives, and the type of
the ``make_app`` fixture."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask

#: ``make_app``: builds an app on the test's database, settings as keyword arguments.
AppFactory = Callable[..., Flask]

IN_CI = os.environ.get("CI", "").lower() == "true"

#: The checkout: tests/support.py -> the repository root.
REPO = Path(__file__).resolve().parents[1]
#: The shared JUnit corpus sits beside the checkout: /work/main -> /work/shared/corpus/junit.
CORPUS = REPO.parent / "shared" / "corpus" / "junit"


def missing_service(reason: str) -> None:
    """Skip on a laptop without the service; under CI=true it is a failure."""
    if IN_CI:
        pytest.fail(f"required under CI=true: {reason}")
    pytest.skip(reason)


def corpus_present() -> bool:
    """Whether the shared JUnit corpus is beside the checkout (with its manifest)."""
    return (CORPUS / "MANIFEST.tsv").is_file()
