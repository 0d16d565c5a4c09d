"""Turning pytest's reports into one finished record per test.

Reports arrive per phase (setup, call, teardown), under xdist interleaved between workers,
and under pytest-rerunfailures once per attempt with the outcome ``"rerun"``. They are keyed
by ``(nodeid, worker)`` as pytest's own JUnit writer does, and a test is closed on its final
teardown report.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import pytest

from .core.results import SUBTESTS_SUMMARY, Attempt, Status

# Characters XML 1.0 cannot hold; pytest's JUnit writer shows them as "#xNN", and so do we,
# so that a test's name (and so its id) is the same in both files.
# The same class as pytest's ``bin_xml_escape`` (DEL included).
_ILLEGAL_XML = re.compile(
    "[^\u0009\u000a\u000d\u0020-\u007e\u0080-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def xml_safe(text: str) -> str:
    # Printable text (no control, surrogate, unassigned or separator characters other than
    # the space) cannot hold an illegal character: most names and messages need no regex.
    if text.isprintable():
        return text
    return _ILLEGAL_XML.sub(lambda match: f"#x{ord(match.group()):02X}", text)


def mangle_nodeid(nodeid: str) -> tuple[str, str]:
    """``(classname, name)`` for a node id, exactly as pytest's ``--junitxml`` writes them.

    That is: the part before the first ``[`` split at ``::``, the first part a dotted module
    path, the params put back on the last part. Worked out without building that list for a
    test function (most tests), and each module's dotted path once.
    """
    path, bracket, params = nodeid.partition("[")
    module, sep, rest = path.partition("::")
    module = _dotted_module(module)
    if not sep:
        return "", xml_safe(module + bracket + params)
    if "::" not in rest:
        return module, xml_safe(rest + bracket + params)
    *classes, name = rest.split("::")
    return ".".join([module, *classes]), xml_safe(name + bracket + params)


@functools.cache
def _dotted_module(path: str) -> str:
    """``tests/test_a.py`` as ``tests.test_a``: once per module, not once per test."""
    return path.replace("/", ".").removesuffix(".py")


@dataclass(slots=True)
class TestRecord:
    """Everything collected about one test, until its last report arrives.

    Slotted, with tuples that stay the shared empty one until something is said: 10,000
    passing tests make 10,000 small objects, not 60,000 (fewer for the cyclic GC to walk).
    """

    __test__ = False

    nodeid: str
    classname: str
    name: str
    file: str | None = None
    line: int | None = None
    status: Status = "passed"
    duration: float = 0.0
    error_type: str | None = None
    message: str | None = None
    text: str | None = None
    skip_type: str | None = None
    stdout: tuple[str, ...] = ()
    stderr: tuple[str, ...] = ()
    attempts: tuple[Attempt, ...] = ()
    #: Markers, tags, owner and source hash (see ``session.test_meta``); None until known.
    meta: dict[str, Any] | None = None
    #: Said about the test after its outcome was settled (a teardown error after a failure).
    stderr_extra: tuple[str, ...] = ()
    rerun_pending: bool = False
    #: Failed subtests, in order (written as one ``<failure>`` each, as pytest writes them).
    subtest_failures: tuple[Attempt, ...] = ()
    subtests_failed: int = 0
    subtests_passed: int = 0


def _longrepr_text(report: pytest.TestReport | pytest.CollectReport) -> str:
    return str(report.longreprtext or "")


def _crash_message(report: pytest.TestReport | pytest.CollectReport) -> tuple[str | None, str]:
    """``(exception type, "Type: message")`` of a failure, as pytest's JUnit writer words it."""
    crash = getattr(report.longrepr, "reprcrash", None)
    if crash is not None:
        message = str(crash.message)
        kind = message.split(":", 1)[0] if ":" in message.split("\n", 1)[0] else None
        return kind, message
    text = _longrepr_text(report)
    return None, text.strip().splitlines()[-1] if text.strip() else "failed"


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
        return reason.removeprefix("Skipped: ")
    return _longrepr_text(report)


class Recorder:
    """Collects records from reports; finished records are handed back for writing.

    ``add`` runs for every report of every test (three per test), so its common case -- a
    phase that passed, without output -- does as little as pytest's own JUnit writer does.
    """

    def __init__(self) -> None:
        #: Open records by node id; under xdist by ``(node id, worker)``, as pytest's own JUnit
        #: writer keys them, for the workers' reports interleave.
        self.open: dict[str | tuple[str, str], TestRecord] = {}
        self.finished: list[TestRecord] = []

    def add(self, report: pytest.TestReport) -> None:
        nodeid = report.nodeid
        attrs = report.__dict__  # where xdist's controller and our workers add their fields
        node = attrs.get("node")  # xdist's controller sets it; a plain session does not
        # One process, one record per node id: no key tuple to build and hash per report.
        key = nodeid if node is None else (nodeid, _worker(node))
        record = self.open.get(key)
        if record is None:
            classname, name = mangle_nodeid(nodeid)
            path, line, _ = report.location
            record = self.open[key] = TestRecord(
                nodeid, classname, name, path, line + 1 if line is not None else None
            )
        meta = attrs.get("testviz_meta")  # set on xdist workers (MetadataHooks)
        if meta:
            record.meta = meta
        record.duration += report.duration
        when = report.when
        outcome: str = report.outcome  # pytest-rerunfailures adds "rerun"
        if record.rerun_pending and _is_subtest(report):
            # pytest-rerunfailures logs an attempt's setup, call and teardown after it has run,
            # but its subtests as they run: a subtest after a rerun begins the next attempt.
            _restart(record)
        if outcome == "passed" and when != "teardown" and not record.rerun_pending:
            # The common case, two reports in three: nothing more to say, unless the pass was
            # not expected (a non-strict xpass) or was one subtest's.
            if when == "call" and ("wasxfail" in attrs or "context" in attrs):
                if _is_subtest(report):
                    record.subtests_passed += 1
                elif "wasxfail" in attrs and record.status == "passed":
                    record.status = "xpassed"
                    record.message = str(attrs["wasxfail"]) or None
            return
        if when == "setup" and record.rerun_pending:
            # The next attempt begins. pytest-rerunfailures logs the teardown of the attempt
            # before it in some versions and not in others: do not rely on it.
            _restart(record)
        if when == "teardown" and (report.sections or record.stdout or record.stderr):
            # A teardown report holds every phase's output (and replaces an earlier attempt's).
            _capture_output(record, report)
        if outcome == "rerun":
            if when == "call" and record.subtest_failures:
                # Failed by its subtests: the first one's failure says why, not pytest's
                # "contains 1 failed subtest".
                first = record.subtest_failures[0]
                kind, message, text = first.error_type, first.message or "failed", first.text or ""
            else:
                kind, message = _crash_message(report)
                text = _longrepr_text(report)
            if record.rerun_pending:
                # The same attempt failed once more (its teardown, after its call).
                last = record.attempts[-1]
                last.text = f"{last.text}\n\nthen failed on {when} with {message!r}\n{text}"
                return
            status: Status = "failed" if when == "call" else "error"
            record.attempts += (Attempt(status, kind, message, text),)
            record.rerun_pending = True
            return
        if record.rerun_pending:
            return  # the rest of an attempt that will be run again
        if outcome != "passed":
            self._outcome(record, report)
        if when == "teardown":
            self.finished.append(self.open.pop(key))

    def _outcome(self, record: TestRecord, report: pytest.TestReport) -> None:
        subtest = _is_subtest(report)
        if report.outcome == "skipped":
            if subtest:
                return  # a skipped or expected-to-fail subtest: the test goes on
            if hasattr(report, "wasxfail"):
                record.status, record.skip_type = "xfailed", "pytest.xfail"
                record.message = str(report.wasxfail) or "expected failure"
            elif record.status == "passed":
                record.status, record.skip_type = "skipped", "pytest.skip"
                record.message = _skip_reason(report)
            return
        if report.outcome == "passed":
            return  # a passed teardown
        kind, message = _crash_message(report)
        text = _longrepr_text(report)
        if report.when == "call" and (subtest or record.subtest_failures):
            if not subtest and SUBTESTS_SUMMARY.match(message):
                return  # pytest's own "contains 2 failed subtests": said by each of them
            # Each failed subtest (and the test's own failure after them) is kept.
            record.subtest_failures += (Attempt("failed", kind, message, text),)
            record.subtests_failed += subtest
            if len(record.subtest_failures) > 1:
                return  # the first failure stays the test's message
        # Worded as pytest's own JUnit writer words them, so that the same failure gets the
        # same fingerprint from either file.
        if report.when == "call":
            record.status, record.error_type, record.message, record.text = (
                "failed",
                kind,
                message,
                text,
            )
        elif record.status == "failed":
            # Failed, then errored in teardown: still a failure. The teardown's story goes to
            # system-err, where it is kept without changing the failure's fingerprint.
            record.stderr_extra += (f'failed on teardown with "{message}"\n{text}',)
        else:
            record.status, record.error_type = "error", kind
            record.message = f'failed on {report.when} with "{message}"'
            record.text = text

    def add_collect_report(self, report: pytest.CollectReport) -> None:
        """A module that fails to import is an error result, and one skipped whole
        (``pytest.skip(allow_module_level=True)``, ``importorskip``) a skipped one: never
        silently dropped, and named as pytest's own JUnit writer names them."""
        classname, name = mangle_nodeid(report.nodeid)
        record = TestRecord(
            report.nodeid, classname, name, file=report.nodeid.split("::")[0] or None
        )
        if report.failed:
            record.status, record.error_type = "error", _crash_message(report)[0]
            record.message, record.text = "collection failure", _longrepr_text(report)
        else:
            record.status, record.skip_type = "skipped", "pytest.skip"
            record.message = _skip_reason(report)
        self.finished.append(record)

    def close_dangling(self) -> None:
        """Records whose teardown never came (an interrupted session): finish them as they are."""
        self.finished.extend(self.open.values())
        self.open.clear()


def _is_subtest(report: pytest.TestReport) -> bool:
    """A subtest's report (pytest 9's ``SubtestReport``, pytest-subtests' ``SubTestReport``)."""
    return type(report).__name__ in ("SubtestReport", "SubTestReport")


def _restart(record: TestRecord) -> None:
    """Forget the outcome of an attempt that was rerun; its failure is in ``attempts``."""
    record.rerun_pending = False
    record.status = "passed"
    record.error_type = record.message = record.text = record.skip_type = None
    record.subtest_failures = ()
    record.subtests_failed = record.subtests_passed = 0


def _worker(node: Any) -> str:
    """The xdist worker a report came from (``gw0``), by the node xdist's controller put on it."""
    return getattr(node, "workerid", None) or str(node)


def _capture_output(record: TestRecord, report: pytest.TestReport) -> None:
    """The output in a test's teardown report, in place of what an earlier attempt said."""
    if not report.sections:
        record.stdout = record.stderr = ()
        return
    stdout: list[str] = []
    stderr: list[str] = []
    for title, content in report.sections:
        if not content:
            continue
        if title.startswith("Captured stdout"):
            stdout.append(content)
        elif title.startswith(("Captured stderr", "Captured log")):
            stderr.append(content)
    record.stdout, record.stderr = tuple(stdout), tuple(stderr)
