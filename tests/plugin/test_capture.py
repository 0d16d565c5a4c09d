"""The recorder on hand-made reports: a plain session keys its records by node id alone, xdist's
controller by (node id, worker); both must make the same records of the same reports."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator

import pytest

from pytest_testviz.capture import Recorder, TestRecord, mangle_nodeid


def _report(
    nodeid: str,
    when: str,
    outcome: str = "passed",
    longrepr: object = None,
    sections: tuple[tuple[str, str], ...] = (),
) -> pytest.TestReport:
    return pytest.TestReport(
        nodeid,
        (nodeid.split("::")[0], 3, nodeid.rpartition("::")[2]),
        {},
        outcome,  # type: ignore[arg-type]  # pytest-rerunfailures' "rerun" is no Literal
        longrepr,  # type: ignore[arg-type]
        when,  # type: ignore[arg-type]
        sections,
        duration=0.25,
    )


def _test(
    nodeid: str,
    setup: str,
    call: str | None = "passed",
    teardown: str = "passed",
    output: str = "",
) -> Iterator[pytest.TestReport]:
    """A test's reports (no call after a setup that failed or skipped); output on the last."""
    for when, outcome in (("setup", setup), ("call", call), ("teardown", teardown)):
        if outcome is None:
            continue
        longrepr: object = None if outcome == "passed" else f"E   {when} went wrong"
        if outcome == "skipped":
            longrepr = ("tests/test_a.py", 3, "Skipped: not today")
        sections = (("Captured stdout call", output),) if output and when == "teardown" else ()
        yield _report(nodeid, when, outcome, longrepr, sections)


def _session() -> list[pytest.TestReport]:
    """One session's reports: every outcome, output, a test passing on its rerun and one whose
    setup fails on every attempt."""
    return [
        *_test("tests/test_a.py::test_pass", "passed"),
        *_test("tests/test_a.py::test_fail", "passed", "failed", output="said\n"),
        *_test("tests/test_a.py::TestC::test_setup_error", "failed", None),
        *_test("tests/test_a.py::TestC::test_teardown_error", "passed", "passed", "failed"),
        *_test("tests/test_a.py::TestC::test_both", "passed", "failed", "failed"),
        *_test("tests/test_a.py::test_skip", "skipped", None),
        *_test("tests/test_b.py::test_flaky[1]", "passed", "rerun", output="1st\n"),
        *_test("tests/test_b.py::test_flaky[1]", "passed"),
        *_test("tests/test_b.py::test_broken_setup", "rerun", None, "rerun"),
        *_test("tests/test_b.py::test_broken_setup", "failed", None),
    ]


def _records(reports: list[pytest.TestReport]) -> list[TestRecord]:
    recorder = Recorder()
    for report in reports:
        recorder.add(report)
    assert not recorder.open
    return recorder.finished


class _Worker:
    """What of xdist's ``WorkerController`` a report's ``node`` shows the controller's plugins."""

    def __init__(self, workerid: str) -> None:
        self.workerid = workerid
        self.workerinfo = {
            "id": workerid,
            "sysplatform": "linux",
            "version_info": (3, 11, 7),
            "executable": "/usr/bin/python3",
        }

    @property
    def line(self) -> str:
        """What pytest writes above a worker's tracebacks."""
        return f"[{self.workerid}] linux -- Python 3.11.7 /usr/bin/python3\n"


def _from_worker(report: pytest.TestReport, worker: _Worker) -> pytest.TestReport:
    """The report as xdist's controller hands it on: with the worker's node set on it."""
    sent = copy.copy(report)
    sent.__dict__["node"] = worker
    return sent


def _as_plain(record: TestRecord, worker: _Worker) -> TestRecord:
    """The record with the worker's line taken out of its tracebacks."""

    def plain(text: str | None) -> str | None:
        return None if text is None else text.replace(worker.line, "")

    return dataclasses.replace(
        record,
        text=plain(record.text),
        attempts=tuple(dataclasses.replace(a, text=plain(a.text)) for a in record.attempts),
        stderr_extra=tuple(str(plain(text)) for text in record.stderr_extra),
    )


def test_xdist_and_plain_sessions_make_the_same_records() -> None:
    reports = _session()
    worker = _Worker("gw0")

    plain = _records(reports)
    spread = _records([_from_worker(report, worker) for report in reports])

    assert spread != plain  # a worker's tracebacks name the worker
    assert [_as_plain(record, worker) for record in spread] == plain
    assert [record.status for record in plain] == [
        "passed",
        "failed",
        "error",
        "error",
        "failed",
        "skipped",
        "passed",
        "error",
    ]
    assert plain[1].stdout == ("said\n",)
    assert plain[4].stderr_extra  # the teardown's error after the failure
    flaky, broken = plain[-2:]
    assert flaky.stdout == ()  # the passing attempt said nothing: the first one's is gone
    assert len(flaky.attempts) == len(broken.attempts) == 1
    assert "then failed on teardown" in str(broken.attempts[0].text)
    assert plain[0].duration == 0.75


def test_under_xdist_each_workers_reports_make_their_own_record() -> None:
    """The same test on two workers at once (``pytest-repeat``, ``--count``): two records,
    whatever the order their reports arrive in."""
    one, two = _Worker("gw0"), _Worker("gw1")
    gw0 = [_from_worker(report, one) for report in _test("t.py::t", "passed")]
    gw1 = [_from_worker(report, two) for report in _test("t.py::t", "passed", "failed")]

    records = _records([gw0[0], gw1[0], gw1[1], gw0[1], gw1[2], gw0[2]])

    assert [record.status for record in records] == ["failed", "passed"]
    assert [record.duration for record in records] == [0.75, 0.75]


def test_a_workers_metadata_is_kept() -> None:
    reports = list(_test("t.py::t", "passed"))
    reports[-1].__dict__["testviz_meta"] = {"source_hash": "0123456789abcdef"}

    (record,) = _records([_from_worker(report, _Worker("gw3")) for report in reports])

    assert record.meta == {"source_hash": "0123456789abcdef"}


@pytest.mark.parametrize(
    ("nodeid", "expected"),
    [
        ("tests/test_a.py::test_one", ("tests.test_a", "test_one")),
        ("tests/test_a.py::TestC::test_m", ("tests.test_a.TestC", "test_m")),
        ("tests/test_a.py::TestC::TestD::test_m[1-x]", ("tests.test_a.TestC.TestD", "test_m[1-x]")),
        ("test_a.py::test_p[a::b[c]]", ("test_a", "test_p[a::b[c]]")),
        ("tests/test_a.py", ("", "tests.test_a")),
        ("tests/test_a.py[x]", ("", "tests.test_a[x]")),
        ("a/b[1]/c.py::t", ("", "a.b[1]/c.py::t")),  # the first "[" ends the path
        ("a.py::", ("a", "")),
        ("a.py::::t", ("a.", "t")),
        ("a.py:::b::c", ("a.:b", "c")),
        ("a.py::C:::d[p]", ("a.C", ":d[p]")),
        ("t.py::t\x01[\x02]", ("t", "t#x01[#x02]")),
        ("", ("", "")),
    ],
)
def test_names_are_those_of_pytests_junit_writer(nodeid: str, expected: tuple[str, str]) -> None:
    assert mangle_nodeid(nodeid) == expected
