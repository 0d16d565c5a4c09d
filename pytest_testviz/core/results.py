"""The parsed shape of a test report, shared by the plugin, the CLI and the server.

Plain slotted dataclasses: a 100,000-testcase report makes 100,000 of these, so they must be
cheap to build. Validation of untrusted JSON happens in the pydantic models at the edges
(sidecar, HTTP API), not here.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

#: pytest's own outcome categories: an expected failure (``xfailed``) is not a failure, and a
#: non-strict unexpected pass (``xpassed``) is not a plain pass; a strict xpass is ``failed``.
Status = Literal["passed", "failed", "error", "skipped", "xfailed", "xpassed"]
STATUSES: tuple[Status, ...] = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
#: Outcomes that pass: an xpass (a non-strict xfail that passed) is a pass pytest did not expect.
PASSING: tuple[Status, ...] = ("passed", "xpassed")


#: pytest's own failure line for a test whose subtests failed: "contains 2 failed subtests".
SUBTESTS_SUMMARY = re.compile(r"contains (\d+) failed subtests?\Z")


def cap_text(text: str | None, limit: int) -> str | None:
    """``text`` cut to ``limit`` characters, saying how much was cut (one wording everywhere)."""
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]}\n[testviz: {len(text) - limit} more characters cut]"


#: How severe an outcome is, for choosing one status out of several result elements.
SEVERITY: dict[str, int] = {
    "passed": 0,
    "xpassed": 0,
    "skipped": 1,
    "xfailed": 1,
    "failed": 2,
    "error": 3,
}


@dataclass(slots=True)
class Attempt:
    """An earlier, failed try of a test that was run again (a rerun or a retry)."""

    status: Status
    error_type: str | None = None
    message: str | None = None
    text: str | None = None


@dataclass(slots=True)
class TestResult:
    """One test's outcome in one run.

    ``name`` and ``classname`` are exactly as the report wrote them; ``base_name`` and
    ``params`` split a parameterized name; ``suite`` is the path of enclosing suites,
    outermost first.
    """

    __test__ = False  # not a pytest test class, despite the name

    test_id: str
    name: str
    classname: str
    base_name: str
    params: str | None
    suite: tuple[str, ...]
    status: Status
    duration: float = 0.0
    file: str | None = None
    line: int | None = None
    flaky: bool = False
    error_type: str | None = None
    message: str | None = None
    text: str | None = None
    fingerprint: str | None = None
    system_out: str | None = None
    system_err: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    attempts: list[Attempt] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    owner: str | None = None
    #: Marker names the producer sent (the plugin does); the server maps them to features.
    markers: list[str] = field(default_factory=list)
    #: Hash of the test's source code, where the producer sent one (links renames).
    source_hash: str | None = None
    #: 1 for the first testcase element with this identity in the report, 2 for a repeat, ...
    occurrence: int = 1
    #: Subtests (pytest's ``subtests`` fixture, unittest's ``subTest``) that failed and passed
    #: within this test; each failed one's message is kept in ``message`` and ``text``.
    subtests_failed: int = 0
    subtests_passed: int = 0

    def to_json(self) -> dict[str, Any]:
        """The fields ``testviz parse`` prints and the read API serves, in that order."""
        return {
            "test_id": self.test_id,
            "name": self.name,
            "base_name": self.base_name,
            "params": self.params,
            "classname": self.classname,
            "file": self.file,
            "line": self.line,
            "suite": list(self.suite),
            "status": self.status,
            "flaky": self.flaky,
            "duration": self.duration,
            "error_type": self.error_type,
            "message": self.message,
            "fingerprint": self.fingerprint,
            "tags": list(self.tags),
            "owner": self.owner,
            "subtests_failed": self.subtests_failed,
            "subtests_passed": self.subtests_passed,
        }


@dataclass(slots=True)
class Totals:
    """Counts of tests by outcome, and of the subtests inside them (as pytest counts both)."""

    tests: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    xfailed: int = 0
    xpassed: int = 0
    subtests_failed: int = 0
    subtests_passed: int = 0

    @classmethod
    def count(cls, results: list[TestResult]) -> Totals:
        statuses = Counter([result.status for result in results])
        return cls(
            tests=len(results),
            passed=statuses["passed"],
            failed=statuses["failed"],
            errors=statuses["error"],
            skipped=statuses["skipped"],
            xfailed=statuses["xfailed"],
            xpassed=statuses["xpassed"],
            subtests_failed=sum(result.subtests_failed for result in results),
            subtests_passed=sum(result.subtests_passed for result in results),
        )

    def to_json(self) -> dict[str, int]:
        return {
            "tests": self.tests,
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "skipped": self.skipped,
            "xfailed": self.xfailed,
            "xpassed": self.xpassed,
            "subtests_failed": self.subtests_failed,
            "subtests_passed": self.subtests_passed,
        }


@dataclass(slots=True)
class DeclaredTotals:
    """The totals the XML's own header attributes claim; often wrong, kept for comparison.

    ``None`` where the report declares nothing.
    """

    tests: int | None = None
    failures: int | None = None
    errors: int | None = None
    skipped: int | None = None

    def to_json(self) -> dict[str, int | None]:
        return {
            "tests": self.tests,
            "failures": self.failures,
            "errors": self.errors,
            "skipped": self.skipped,
        }


@dataclass(slots=True)
class Suite:
    """A ``<testsuite>`` element: its path, header attributes and properties."""

    path: tuple[str, ...]
    timestamp: str | None = None
    hostname: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    declared: DeclaredTotals = field(default_factory=DeclaredTotals)


@dataclass(slots=True)
class RunInfo:
    """What is known about the run as a whole: from the XML, overlaid by the sidecar."""

    run_id: str
    project: str
    session_id: str | None = None
    git_sha: str | None = None
    branch: str | None = None
    env_fingerprint: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    started_at: str | None = None
    finished_at: str | None = None
    hostname: str | None = None
    source: str | None = None
    #: The CI build the run is one job of.
    build_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "project": self.project,
            "session_id": self.session_id,
            "build_id": self.build_id,
            "git_sha": self.git_sha,
            "branch": self.branch,
            "env_fingerprint": self.env_fingerprint,
            "env": dict(self.env),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "hostname": self.hostname,
            "source": self.source,
        }


@dataclass(slots=True)
class Report:
    """A whole parsed report: run metadata, every test folded to one result, and totals."""

    run: RunInfo
    results: list[TestResult]
    suites: list[Suite]
    totals: Totals
    declared: DeclaredTotals
    #: CODEOWNERS-style rules the producer sent with the run, for the server's owner mapping.
    codeowners: str | None = None
    #: Testcase elements without name or classname, left out of ``results``.
    nameless: int = 0
    #: Testcase elements read, before repeats were folded into one result per test.
    testcases: int = 0
    #: ``test_id`` of each test that had more than one testcase element (folded).
    repeated: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run.to_json(),
            "totals": self.totals.to_json(),
            "declared_totals": self.declared.to_json(),
            "results": [result.to_json() for result in self.results],
        }
