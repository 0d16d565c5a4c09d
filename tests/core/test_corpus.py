"""The shared corpus: 393 JUnit-style files from many producers, against a reference parser.

The expected numbers (MANIFEST.tsv, expected_cases/) come from a peer's parser that reads every
testcase element as it stands: it folds no retries. So the raw, unfolded ``JUnitReader`` output
is what is compared with them; folding is checked on its own below. Where we disagree with the
peer on purpose, the tables say where and why.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

import pytest
from lxml import etree

from pytest_testviz.core import JUnitParseError, JUnitReader, TestResult, parse_junit_xml

from ..support import CORPUS, corpus_present

# The tables below are read when the module is collected, to parametrize the tests: without
# the corpus they are empty, and every test that reads it asks for the `corpus` fixture, which
# skips it (or fails it under CI=true).


def _manifest() -> list[dict[str, str]]:
    if not corpus_present():
        return []
    with (CORPUS / "MANIFEST.tsv").open(encoding="utf-8", newline="") as rows:
        return list(csv.DictReader(rows, delimiter="\t", quoting=csv.QUOTE_NONE))


def _expected_cases() -> dict[str, list[dict[str, object]]]:
    cases: dict[str, list[dict[str, object]]] = {}
    if not corpus_present():
        return cases
    for jsonl in sorted((CORPUS / "expected_cases").glob("*.jsonl")):
        for line in jsonl.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            cases[entry["file"]] = entry["cases"]
    return cases


ROWS = _manifest()
COUNTED = [row for row in ROWS if row["expected_tests"]]
REJECTED = [row for row in ROWS if not row["expected_tests"]]
EXPECTED_CASES = _expected_cases()

# -- deliberate differences from the peer ---------------------------------------------------------

#: A testcase with ``status="notrun"`` and no result element did not run: GoogleTest writes its
#: DISABLED_ tests so (``result="suppressed"``), and this Jasmine reporter its skipped specs.
#: We count them skipped; the peer counts them passed, which would report a test that never ran
#: as a success. Each entry lists the (classname, name) of every such testcase in the file.
NOTRUN_COUNTED_SKIPPED: dict[str, set[tuple[str, str]]] = {
    "allure2/TEST-status-attribute.xml": {
        ("JUnitXmlReporter.constructor", "skipped by attribute"),
    },
    "generated/googletest1.12-xml.xml": {("Calculator", "DISABLED_NotRun")},
    "jenkins-xunit/XUnitPublisherTest__workspace__JENKINS-51645__input.xml": {
        ("TestSuite", "DISABLED_Testcase"),
    },
    "jenkins-xunit/types__googletest__testcase4__input.xml": {
        ("MixedResultTest", "DISABLED_test"),
        ("DisabledTest", "DISABLED_test_not_run"),
    },
}

#: In these files a suite holds testcases both before and beside nested suites. The peer lists a
#: suite's nested suites' cases before its own; we stream, so we yield in document order.
DOCUMENT_ORDER = {
    "dorny/phpunit__phpunit.xml",
    "generated/node20-test-junit.xml",
    "generated/phpunit9.6-log-junit.xml",
    "jenkins-xunit/types__junit__testcase3__input.xml",
    "jenkins-xunit/types__phpunit__testcase3__input.xml",
    "junit-report-merger/testsuite-merging__5__expected.xml",
    "junit-report-merger/testsuite-merging__5__file1.xml",
    "junitparser/jenkins.xml",
}

#: The peer rejects this one (``time="time"`` crashes it); we read a nonsense time as 0.0.
LENIENT = {"xunit-viewer/test.xml"}

#: Where ``parse_junit_xml`` folds repeats, (tests, passed, failed, errors, skipped, xfailed)
#: after folding.
#: The peer folds no retries, so these differ from MANIFEST.tsv by design.
FOLDED = {
    # pytest-rerunfailures writes each rerun as an extra, empty testcase: 5 elements, 2 tests.
    "generated/pytest9-rerunfailures.xml": (2, 1, 1, 0, 0, 0),
    # pytest writes a test that fails and then errors in teardown as two elements: one test.
    "generated/pytest9-xunit1.xml": (18, 7, 6, 2, 2, 1),
    "generated/pytest9-xunit2-default.xml": (18, 7, 6, 2, 2, 1),
    "generated/pytest9-xunit2-logging-all.xml": (18, 7, 6, 2, 2, 1),
    # Hand-made pytest-style retries (a .py file attribute): the final attempt decides.
    "mikepenz/flaky_retries__flaky_all_failures.xml": (1, 0, 0, 1, 0, 0),
    "mikepenz/flaky_retries__flaky_success_first.xml": (1, 0, 0, 1, 0, 0),
    "mikepenz/flaky_retries__flaky_with_classname_file.xml": (3, 3, 0, 0, 0, 0),
    # A Go test retried after a failure (go.version property): a flaky pass.
    "mikepenz/junit-server-test__report.xml": (3, 2, 0, 0, 1, 0),
}

_RESULT = {
    "success": "passed",
    "failure": "failed",
    "error": "error",
    "skipped": "skipped",
    "disabled": "skipped",
}


def _counts(results: list[TestResult]) -> tuple[int, int, int, int]:
    """(tests, failures, errors, skipped) as the peer counts them: it has no xfail category."""
    statuses = Counter(_peer_status(result.status) for result in results)
    return len(results), statuses["failed"], statuses["error"], statuses["skipped"]


def _peer_status(status: str) -> str:
    """Our status in the peer's words: an xfail is a skip there, an xpass a pass."""
    return {"xfailed": "skipped", "xpassed": "passed"}.get(status, status)


def _ids(rows: list[dict[str, str]]) -> list[str]:
    return [row["file"] for row in rows]


# -- counts ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("row", COUNTED, ids=_ids(COUNTED))
def test_counts_match_the_reference(row: dict[str, str], corpus: Path) -> None:
    path = corpus / row["file"]
    expected = [int(row[f"expected_{kind}"]) for kind in ("tests", "failures", "errors", "skipped")]
    expected[3] += len(NOTRUN_COUNTED_SKIPPED.get(row["file"], ()))

    raw = list(JUnitReader(path))

    assert _counts(raw) == tuple(expected)
    if row["file"] not in FOLDED:
        # Nothing else folds: a repeat in a producer without unique names is a distinct test.
        assert len(parse_junit_xml(path).results) == len(raw)


@pytest.mark.parametrize("file", sorted(FOLDED))
def test_folded_totals(file: str, corpus: Path) -> None:
    report = parse_junit_xml(corpus / file)

    totals = report.totals
    counts = (totals.tests, totals.passed, totals.failed, totals.errors, totals.skipped)
    assert (*counts, totals.xfailed) == FOLDED[file]
    assert report.testcases > totals.tests
    assert len({result.test_id for result in report.results}) == totals.tests


def test_deviation_tables_name_real_corpus_files(corpus: Path) -> None:
    files = {row["file"] for row in ROWS}

    assert files.issuperset(NOTRUN_COUNTED_SKIPPED)
    assert files.issuperset(DOCUMENT_ORDER)
    assert files.issuperset(FOLDED)
    assert {row["file"] for row in REJECTED}.issuperset(LENIENT)


# -- files the reference rejects ------------------------------------------------------------------

_LIBXML_NOTE = re.compile(r"^malformed XML: .*?, line (?P<line>\d+), column (?P<column>\d+) \(")
_ROOT_NOTE = re.compile(r"root <(?P<root>[\w-]+)> \(not testsuites/testsuite\)")
_REASONS = ("malformed XML: ", "the report is empty", "not a JUnit XML report", "DOCTYPE")


@pytest.mark.parametrize(
    "row",
    [row for row in REJECTED if row["file"] not in LENIENT],
    ids=_ids([row for row in REJECTED if row["file"] not in LENIENT]),
)
def test_rejected_files_raise_a_clear_parse_error(row: dict[str, str], corpus: Path) -> None:
    path = corpus / row["file"]

    with pytest.raises(JUnitParseError) as info:
        parse_junit_xml(path)

    error = info.value
    assert error.source == str(path)
    assert error.reason.startswith(_REASONS), error.reason
    assert str(error).startswith(f"{path}")
    if error.reason.startswith("malformed XML"):
        assert error.line is not None
        assert error.column is not None
    # Where the reference's libxml2 gave a position, ours is the same (its wording may differ
    # between libxml2 versions, so only the position is compared).
    note = _LIBXML_NOTE.match(row["notes"])
    if note and error.reason.startswith("malformed XML"):
        assert (error.line, error.column) == (int(note["line"]), int(note["column"]))
    # A well-formed file with a foreign root is refused by naming that root.
    root = _ROOT_NOTE.search(row["notes"])
    if root and not row["notes"].startswith("malformed"):
        assert error.reason.startswith("not a JUnit XML report")
        assert f"{root['root']}>" in error.reason


def test_nonsense_time_is_read_as_zero(corpus: Path) -> None:
    report = parse_junit_xml(corpus / "xunit-viewer/test.xml")

    by_name = {result.name: result for result in report.results}
    assert by_name["test with time"].duration == 0.0
    assert report.totals.tests == 18


# -- per-testcase expectations --------------------------------------------------------------------

WITH_CASES = [row for row in COUNTED if row["file"] in EXPECTED_CASES]


@pytest.mark.parametrize("row", WITH_CASES, ids=_ids(WITH_CASES))
def test_cases_match_the_reference(row: dict[str, str], corpus: Path) -> None:
    file = row["file"]
    notrun = NOTRUN_COUNTED_SKIPPED.get(file, set())
    expected = []
    for item in EXPECTED_CASES[file]:
        key = (str(item.get("classname", "")), str(item.get("name", "")))
        result = "skipped" if key in notrun else _RESULT[str(item["result"])]
        expected.append((*key, result))

    got = [(r.classname, r.name, _peer_status(r.status)) for r in JUnitReader(corpus / file)]

    if file in DOCUMENT_ORDER:
        assert sorted(got) == sorted(expected)
        assert [case[:2] for case in got] == _document_order(corpus / file)
    else:
        assert got == expected


def test_notrun_deviations_are_exactly_the_notrun_testcases(corpus: Path) -> None:
    for file, cases in NOTRUN_COUNTED_SKIPPED.items():
        tree = etree.parse(str(corpus / file))
        notrun = {
            (element.get("classname") or "", element.get("name") or "")
            for element in tree.iter("testcase")
            if element.get("status") == "notrun" and len(element) == 0
        }
        assert notrun == cases, file


def test_every_counted_file_has_case_expectations(corpus: Path) -> None:
    assert {row["file"] for row in COUNTED} == set(EXPECTED_CASES)


def _document_order(path: Path) -> list[tuple[str, str]]:
    tree = etree.parse(str(path))
    return [
        (element.get("classname") or "", element.get("name") or "")
        for element in tree.iter("testcase")
        if element.get("classname") is not None or element.get("name") is not None
    ]


# -- fingerprints ---------------------------------------------------------------------------------

#: Go's reporters write ``message="Failed"`` for every failure: only the text tells them apart.
GO_ROWS = [row for row in COUNTED if row["producer"].startswith(("gotestsum", "go-junit-report"))]


def test_go_failures_with_different_texts_never_share_a_fingerprint(corpus: Path) -> None:
    texts: dict[str, set[tuple[str, str]]] = {}
    for row in GO_ROWS:
        for result in parse_junit_xml(corpus / row["file"], detect_sidecar=False).results:
            if result.fingerprint is not None:
                failure = (result.message or "", result.text or "")
                texts.setdefault(result.fingerprint, set()).add(failure)

    assert len(GO_ROWS) > 30
    assert {fp: sorted(failures) for fp, failures in texts.items() if len(failures) > 1} == {}


def test_the_gotestsum_golden_report_has_a_fingerprint_per_failure(corpus: Path) -> None:
    report = parse_junit_xml(corpus / "gotestsum/junitxml-report.golden.xml", detect_sidecar=False)

    failures = [r for r in report.results if r.status in ("failed", "error")]
    assert len(failures) == 13
    assert len({r.fingerprint for r in failures}) == 13
