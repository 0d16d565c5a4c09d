"""Small builders of JUnit XML for the core tests."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pytest_testviz.core import JUnitReader, Report, TestResult, parse_junit_xml

#: The checkout: tests/core/helpers.py -> the repository root.
REPO = Path(__file__).resolve().parents[2]


def subprocess_env() -> dict[str, str]:
    """The environment for a child Python that imports this checkout (it is not installed)."""
    path = [str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}


def case(name: str, classname: str = "tests.test_mod", body: str = "", attrs: str = "") -> str:
    """One ``<testcase>`` element."""
    return f'<testcase classname="{classname}" name="{name}" {attrs}>{body}</testcase>'


def junit(*cases: str, suite: str = "suite", attrs: str = "") -> bytes:
    """A ``<testsuites>`` report with one suite holding ``cases``."""
    body = "".join(cases)
    return f'<testsuites><testsuite name="{suite}" {attrs}>{body}</testsuite></testsuites>'.encode()


def read(xml: str | bytes, **kwargs: Any) -> list[TestResult]:
    """Every testcase element, unfolded, as the streaming reader yields them."""
    data = xml.encode() if isinstance(xml, str) else xml
    return list(JUnitReader(data, **kwargs))


def one(xml: str | bytes, **kwargs: Any) -> TestResult:
    """The single testcase of a report."""
    results = read(xml, **kwargs)
    assert len(results) == 1, results
    return results[0]


def parse(xml: str | bytes, **kwargs: Any) -> Report:
    """A whole report (folded, sidecar applied) from a string or bytes."""
    data = xml.encode() if isinstance(xml, str) else xml
    return parse_junit_xml(data, **kwargs)
