"""Repeated testcase elements: retries folded where names are unique, kept apart where not."""

from __future__ import annotations

from pathlib import Path

from pytest_testviz.core import fold_repeats, parse_junit_xml, test_id

from .helpers import case, junit, parse, read


def _by_name(results):
    by_name = {r.name: r for r in results}
    assert len(by_name) == len(results), "a name came back twice"
    return by_name


# -- the corpus's real retry output ------------------------------------------------------------


def test_pytest_rerunfailures_reruns_fold_into_two_tests(corpus: Path) -> None:
    report = parse_junit_xml(corpus / "generated/pytest9-rerunfailures.xml")
    tests = _by_name(report.results)

    assert report.testcases == 5
    assert set(tests) == {"test_flaky_passes_second_time", "test_always_fails_with_reruns"}
    flaky = tests["test_flaky_passes_second_time"]
    assert (flaky.status, flaky.flaky, flaky.occurrence) == ("passed", True, 1)
    broken = tests["test_always_fails_with_reruns"]
    assert (broken.status, broken.flaky) == ("failed", False)
    assert broken.message is not None
    assert "still broken" in broken.message
    assert report.totals.to_json() == {
        "tests": 2,
        "passed": 1,
        "failed": 1,
        "errors": 0,
        "skipped": 0,
        "xfailed": 0,
        "xpassed": 0,
        "subtests_failed": 0,
        "subtests_passed": 0,
    }


def test_pytest_failure_then_teardown_error_is_one_failed_test(corpus: Path) -> None:
    report = parse_junit_xml(corpus / "generated/pytest9-xunit2-default.xml")
    tests = _by_name(report.results)

    both = tests["test_fail_then_teardown_error"]
    assert both.status == "failed"
    assert both.flaky is False
    assert both.attempts == []
    assert both.text is not None
    assert "failed on teardown" in both.text  # the teardown error is kept, not dropped
    assert tests["test_pass_then_teardown_error"].status == "error"
    assert report.totals.tests == 18


def test_go_retry_folds_to_a_flaky_pass(corpus: Path) -> None:
    report = parse_junit_xml(corpus / "mikepenz/junit-server-test__report.xml")
    tests = _by_name(report.results)

    race = tests["TestWebSocketReconnectRace"]
    assert (race.status, race.flaky) == ("passed", True)
    assert [(a.status, a.message) for a in race.attempts] == [("failed", "Failed")]
    assert race.duration == 7.78  # the final attempt's
    assert report.totals.to_json() == {
        "tests": 3,
        "passed": 2,
        "failed": 0,
        "errors": 0,
        "skipped": 1,
        "xfailed": 0,
        "xpassed": 0,
        "subtests_failed": 0,
        "subtests_passed": 0,
    }


# -- folding rules, on small reports -------------------------------------------------------------


def test_pytest_retry_folds_fail_then_pass() -> None:
    report = parse(
        junit(
            case("test_a", body='<failure message="AssertionError: first try"/>'),
            case("test_a"),
            case("test_b"),
            suite="pytest",
        )
    )
    tests = _by_name(report.results)

    assert (tests["test_a"].status, tests["test_a"].flaky) == ("passed", True)
    assert [a.message for a in tests["test_a"].attempts] == ["AssertionError: first try"]
    assert (tests["test_b"].status, tests["test_b"].flaky) == ("passed", False)
    assert report.repeated == [tests["test_a"].test_id]


def test_repeats_fold_when_the_producer_writes_a_python_file() -> None:
    report = parse(
        junit(
            case("test_a", "test_m.T", body='<error message="boom"/>', attrs='file="t/test_m.py"'),
            case("test_a", "test_m.T", attrs='file="t/test_m.py"'),
            suite="not-pytest",
        )
    )

    [test] = report.results
    assert (test.status, test.flaky) == ("passed", True)


def test_go_properties_make_repeats_fold() -> None:
    props = '<properties><property name="go.version" value="go1.22"/></properties>'
    report = parse(
        junit(
            props,
            case("TestX", "example.com/pkg", body='<failure message="Failed"/>'),
            case("TestX", "example.com/pkg", body='<failure message="Failed"/>'),
            suite="example.com/pkg",
        )
    )

    [test] = report.results
    assert (test.status, test.flaky, len(test.attempts)) == ("failed", False, 1)


JEST_DUPLICATES = junit(
    case("works", "Button renders"),
    case("works", "Button renders", body='<failure message="expected 1"/>'),
    case("works", "Button renders"),
    suite="jest tests",
)


def test_jest_duplicate_titles_stay_separate_tests() -> None:
    report = parse(JEST_DUPLICATES)

    assert [r.status for r in report.results] == ["passed", "failed", "passed"]
    assert [r.occurrence for r in report.results] == [1, 2, 3]
    assert [r.flaky for r in report.results] == [False, False, False]
    ids = [r.test_id for r in report.results]
    assert len(set(ids)) == 3
    assert ids == [
        test_id("default", "Button renders", "works"),
        test_id("default", "Button renders", "works", 2),
        test_id("default", "Button renders", "works", 3),
    ]
    assert report.totals.tests == 3


def test_jest_duplicate_ids_are_stable_across_parses() -> None:
    assert [r.test_id for r in read(JEST_DUPLICATES)] == [r.test_id for r in read(JEST_DUPLICATES)]


def test_pytest_classname_alone_is_enough_to_fold() -> None:
    # pytest 8 with a custom junit_suite_name and xunit2: no "pytest" name, no file attribute.
    report = parse(
        junit(
            case("test_a", "tests.test_flaky", body='<failure message="first try"/>'),
            case("test_a", "tests.test_flaky"),
            suite="my-project",
        )
    )

    [test] = report.results
    assert (test.status, test.flaky, len(test.attempts)) == ("passed", True, 1)


def test_java_package_named_tests_does_not_fold_testng_invocations() -> None:
    # TestNG data providers run one method several times under one name: distinct runs. The
    # "tests" package must not pass for a Python module (as the Pulsar report in the corpus has).
    report = parse(
        junit(
            case("provided", "org.example.tests.DataTest"),
            case("provided", "org.example.tests.DataTest", body="<skipped/>"),
            suite="org.example.tests.DataTest",
        )
    )

    assert [r.status for r in report.results] == ["passed", "skipped"]
    assert [r.file for r in report.results] == [None, None]
    assert report.results[0].flaky is False


def test_fold_repeats_leaves_unique_results_alone() -> None:
    results = read(junit(case("a"), case("b")))

    assert fold_repeats(results) is results
