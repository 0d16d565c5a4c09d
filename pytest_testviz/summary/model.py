"""What a summary says, whatever it is rendered as: totals, what changed, what to look at.

Built from the server's answer (:func:`from_json`: ``GET /api/tests/runs/<id>/summary`` or
``/api/tests/builds/<id>/summary``), or from this run's own records when the server cannot
give it (:func:`from_records`: no comparison with an earlier run, and a notice that says so).
Plain dataclasses: the plugin imports this only when a summary is asked for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..capture import TestRecord

#: The counts of :class:`Totals`, in the order they are shown.
COUNTS = ("tests", "passed", "failed", "errors", "skipped", "xfailed", "xpassed", "flaky")
FAILING = frozenset({"failed", "error"})


class SummaryError(ValueError):
    """An answer that is not a summary this version can read."""


@dataclass(frozen=True)
class Totals:
    tests: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    xfailed: int = 0
    xpassed: int = 0
    #: Tests that passed only on a rerun.
    flaky: int = 0
    #: Seconds, when known.
    duration: float | None = None

    @property
    def ok(self) -> bool:
        return not (self.failed or self.errors)


@dataclass(frozen=True)
class TestEntry:
    """One test in a list: enough to name it, link it and annotate its line."""

    __test__ = False

    name: str
    classname: str = ""
    test_id: str | None = None
    file: str | None = None
    line: int | None = None
    status: str | None = None
    message: str | None = None
    #: In a build's summary, the run (job) it is from.
    run_id: str | None = None

    @property
    def label(self) -> str:
        return f"{self.classname}::{self.name}" if self.classname else self.name


@dataclass(frozen=True)
class TestList:
    """A list the server may have cut short: ``count`` is how many there are in all."""

    __test__ = False

    count: int = 0
    tests: tuple[TestEntry, ...] = ()


@dataclass(frozen=True)
class Group:
    """Failures of the run that share one fingerprint (one cause)."""

    fingerprint: str
    count: int
    error_type: str | None = None
    message: str | None = None


@dataclass(frozen=True)
class RunRef:
    run_id: str
    branch: str | None = None
    totals: Totals | None = None
    #: The build it is one job of; as a base, ``runs`` of that build were compared with.
    build_id: str | None = None
    runs: int = 1


@dataclass(frozen=True)
class Summary:
    project: str | None
    totals: Totals
    #: A run's summary names its run; a build's, its build and runs.
    run_id: str | None = None
    build_id: str | None = None
    runs: tuple[RunRef, ...] = ()
    branch: str | None = None
    git_sha: str | None = None
    #: What the new failures and fixed tests are against; ``None``: nothing to compare with.
    base: RunRef | None = None
    #: ``None`` when not known (no comparison was made).
    new_failures: TestList | None = None
    fixed: TestList | None = None
    failures: TestList = field(default_factory=TestList)
    flaky: TestList = field(default_factory=TestList)
    #: Failures quarantine absorbed (they did not fail the run).
    quarantined: TestList = field(default_factory=TestList)
    groups: tuple[Group, ...] = ()
    #: Said first, e.g. that the server could not be reached.
    notice: str | None = None
    #: The server's URL, for links; ``None``: no links.
    server: str | None = None

    @property
    def is_build(self) -> bool:
        """A build's summary (a run's names its run, and may name its build too)."""
        return self.build_id is not None and self.run_id is None

    def with_notice(self, notice: str) -> Summary:
        return replace(self, notice=notice)


# -- from the server's JSON ----------------------------------------------------------------


def _int(data: Mapping[str, Any], key: str, default: int | None = 0) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SummaryError(f"{key!r} is not a count: {value!r}")
    return value


def _text(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SummaryError(f"{key!r} is not a string: {value!r}")
    return value


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SummaryError(f"{what} is not an object")
    return value


def _totals(data: Mapping[str, Any], flaky: int = 0, duration: Any = None) -> Totals:
    counts = {name: _int(data, name) for name in COUNTS if name != "flaky"}
    if duration is not None and (
        isinstance(duration, bool) or not isinstance(duration, (int, float))
    ):
        raise SummaryError(f"'duration' is not a number: {duration!r}")
    return Totals(**counts, flaky=flaky, duration=float(duration) if duration is not None else None)


def _entry(data: Any) -> TestEntry:
    data = _object(data, "a test")
    line = data.get("line")
    if line is not None and (isinstance(line, bool) or not isinstance(line, int)):
        raise SummaryError(f"'line' is not a number: {line!r}")
    return TestEntry(
        name=_text(data, "name") or "",
        classname=_text(data, "classname") or "",
        test_id=_text(data, "test_id"),
        file=_text(data, "file"),
        line=line,
        status=_text(data, "status"),
        message=_text(data, "message"),
        run_id=_text(data, "run_id"),
    )


def _list(data: Mapping[str, Any], key: str) -> TestList | None:
    value = data.get(key)
    if value is None:
        return None
    value = _object(value, repr(key))
    tests = value.get("tests", [])
    if not isinstance(tests, list):
        raise SummaryError(f"{key!r}.tests is not a list")
    entries = tuple(_entry(test) for test in tests)
    return TestList(count=max(_int(value, "count"), len(entries)), tests=entries)


def _run(data: Any) -> RunRef:
    data = _object(data, "a run")
    run_id = _text(data, "run_id")
    if not run_id:
        raise SummaryError("a run without a run_id")
    totals = data.get("totals")
    runs = data.get("runs", 1)
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise SummaryError(f"'runs' is not a number of runs: {runs!r}")
    return RunRef(
        run_id=run_id,
        branch=_text(data, "branch"),
        build_id=_text(data, "build_id"),
        runs=runs,
        totals=_totals(_object(totals, "totals"), _int(data, "flaky"), data.get("duration"))
        if totals is not None
        else None,
    )


def from_json(data: Any, server: str | None = None) -> Summary:
    """The summary in the server's answer; :class:`SummaryError` if it is not one."""
    data = _object(data, "the answer")
    if "totals" not in data:
        raise SummaryError("the answer has no totals: not a testviz summary")
    groups = data.get("failure_groups", [])
    if not isinstance(groups, list):
        raise SummaryError("'failure_groups' is not a list")
    runs = data.get("runs", [])
    if not isinstance(runs, list):
        raise SummaryError("'runs' is not a list")
    base = data.get("base")
    return Summary(
        project=_text(data, "project"),
        totals=_totals(
            _object(data["totals"], "totals"), _int(data, "flaky"), data.get("duration")
        ),
        run_id=_text(data, "run_id"),
        build_id=_text(data, "build_id"),
        runs=tuple(_run(run) for run in runs),
        branch=_text(data, "branch"),
        git_sha=_text(data, "git_sha"),
        base=_run(base) if base is not None else None,
        new_failures=_list(data, "new_failures"),
        fixed=_list(data, "fixed"),
        failures=_list(data, "failures") or TestList(),
        flaky=_list(data, "flaky_tests") or TestList(),
        quarantined=_list(data, "quarantined") or TestList(),
        groups=tuple(
            Group(
                fingerprint=_text(group, "fingerprint") or "",
                count=_int(group, "count"),
                error_type=_text(group, "error_type"),
                message=_text(group, "message"),
            )
            for group in (_object(item, "a failure group") for item in groups)
        ),
        server=server,
    )


# -- from this run's records ---------------------------------------------------------------


def from_records(
    records: Iterable[TestRecord],
    *,
    project: str,
    run_id: str,
    duration: float | None,
    branch: str | None = None,
    build_id: str | None = None,
    notice: str | None = None,
    server: str | None = None,
) -> Summary:
    """What this run knows by itself: its totals and failures; no comparison, no groups."""
    from ..core.identity import test_id

    counts = dict.fromkeys(COUNTS, 0)
    failures: list[TestEntry] = []
    flaky: list[TestEntry] = []
    for record in records:
        counts["tests"] += 1
        status = record.status
        counts["errors" if status == "error" else status] += 1
        if status in FAILING or (record.attempts and status == "passed"):
            entry = TestEntry(
                name=record.name,
                classname=record.classname,
                test_id=test_id(project, record.classname, record.name),
                file=record.file,
                line=record.line,
                status=status,
                message=record.message,
            )
            (failures if status in FAILING else flaky).append(entry)
    counts["flaky"] = len(flaky)
    return Summary(
        project=project,
        totals=Totals(**counts, duration=duration),
        run_id=run_id,
        build_id=build_id,
        branch=branch,
        failures=TestList(len(failures), tuple(failures)),
        flaky=TestList(len(flaky), tuple(flaky)),
        notice=notice,
        server=server,
    )
