"""Small builders of JUnit XML for server tests."""

from __future__ import annotations


def junit(*cases: str, name: str = "suite", attrs: str = "") -> bytes:
    """A small JUnit report with the given <testcase> elements."""
    body = "".join(cases)
    return f'<testsuites><testsuite name="{name}" {attrs}>{body}</testsuite></testsuites>'.encode()


def case(name: str, classname: str = "tests.test_mod", body: str = "", time: str = "0.01") -> str:
    return f'<testcase classname="{classname}" name="{name}" time="{time}">{body}</testcase>'
