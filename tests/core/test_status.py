"""How a testcase's child elements and attributes become a status, a message and a duration."""

from __future__ import annotations

import pytest

from pytest_testviz.core import DEFAULT_MAX_OUTPUT, parse_junit_xml
from pytest_testviz.core.fingerprint import error_fingerprint
from pytest_testviz.core.sidecar import Sidecar

from .helpers import case, junit, one, parse, read


def test_failure_and_error_are_kept_apart() -> None:
    failed, errored = read(
        junit(
            case("f", body='<failure message="assert 1 == 2" type="AssertionError"/>'),
            case("e", body='<error message="boom" type="RuntimeError"/>'),
        )
    )

    assert (failed.status, failed.error_type, failed.message) == (
        "failed",
        "AssertionError",
        "assert 1 == 2",
    )
    assert (errored.status, errored.error_type, errored.message) == (
        "error",
        "RuntimeError",
        "boom",
    )
    assert failed.fingerprint != errored.fingerprint


def test_several_failures_on_one_testcase_are_failed_subtests_each_kept() -> None:
    body = (
        '<failure message="first" type="AssertionError">trace one</failure>'
        '<failure message="second" type="AssertionError">trace two</failure>'
    )
    result = one(junit(case("t", body=body)))

    assert (result.status, result.subtests_failed) == ("failed", 2)
    assert result.message == "first\nsecond"
    assert result.text == "trace one\n\ntrace two"
    assert result.fingerprint == error_fingerprint("AssertionError", "first", "trace one")


def test_pytest_subtests_report_is_one_failed_test_with_its_failed_subtests() -> None:
    # What pytest 9 writes for a test with two failed subtests: one <failure> each, then its
    # own "contains 2 failed subtests".
    body = (
        '<failure message="AssertionError: odd 1">test_sub.py:7: AssertionError</failure>'
        '<failure message="AssertionError: odd 3">test_sub.py:7: AssertionError</failure>'
        '<failure message="contains 2 failed subtests">contains 2 failed subtests</failure>'
    )
    report = parse(junit(case("test_sub", body=body), case("test_other"), suite="pytest"))
    result = report.results[0]

    assert (result.status, result.subtests_failed) == ("failed", 2)
    assert result.error_type == "AssertionError"
    assert result.message == "AssertionError: odd 1\nAssertionError: odd 3"
    assert "contains" not in (result.text or "")
    assert (report.totals.failed, report.totals.passed, report.totals.subtests_failed) == (1, 1, 2)


def test_one_failure_is_no_subtest() -> None:
    result = one(junit(case("t", body='<failure message="boom">trace</failure>')))

    assert (result.status, result.subtests_failed, result.text) == ("failed", 0, "trace")


def test_pytest_xfail_is_xfailed_and_other_skips_stay_skipped() -> None:
    report = parse(
        junit(
            case("test_x", body='<skipped type="pytest.xfail" message="known bug #123"/>'),
            case("test_s", body='<skipped type="pytest.skip" message="not here"/>'),
            case("test_n", body='<skipped message="no type"/>'),
            suite="pytest",
        )
    )

    assert [(r.name, r.status, r.message) for r in report.results] == [
        ("test_x", "xfailed", "known bug #123"),
        ("test_s", "skipped", "not here"),
        ("test_n", "skipped", "no type"),
    ]
    assert (report.totals.skipped, report.totals.xfailed) == (2, 1)


def test_the_sidecar_says_which_passes_were_xpasses_and_counts_subtests() -> None:
    xml = junit(case("test_xp"), case("test_p"), case("test_s"), suite="pytest")
    sidecar = Sidecar.model_validate(
        {
            "tests": {
                "tests.test_mod::test_xp": {"outcome": "xpassed"},
                "tests.test_mod::test_s": {"subtests_passed": 3},
            }
        }
    )
    report = parse_junit_xml(xml, meta=sidecar)

    assert [(r.status, r.subtests_passed) for r in report.results] == [
        ("xpassed", 0),
        ("passed", 0),
        ("passed", 3),
    ]
    assert (report.totals.passed, report.totals.xpassed, report.totals.subtests_passed) == (2, 1, 3)


def test_the_most_severe_result_element_wins() -> None:
    body = (
        '<skipped message="skip"/>'
        '<failure message="fail" type="AssertionError"/>'
        '<error message="err" type="OSError"/>'
        '<failure message="fail again"/>'
    )
    result = one(junit(case("t", body=body)))

    assert (result.status, result.error_type, result.message) == ("error", "OSError", "err")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('<skipped message="not on Windows"/>', "not on Windows"),
        ("<skipped>needs a GPU</skipped>", "needs a GPU"),
        ('<skipped message="attr wins">text</skipped>', "attr wins"),
        ("<skipped/>", None),
        ("<skipped>\n   \n</skipped>", None),
    ],
    ids=["message-attribute", "text", "both", "bare", "whitespace-text"],
)
def test_skipped_message_from_attribute_or_text(body: str, message: str | None) -> None:
    result = one(junit(case("t", body=body)))

    assert result.status == "skipped"
    assert result.message == message
    assert result.fingerprint is None


def test_error_type_comes_from_the_message_when_there_is_no_type_attribute() -> None:
    result = one(junit(case("t", body="<error message=\"KeyError: 'k'\">trace</error>")))

    assert result.error_type == "KeyError"


SUREFIRE_FLAKY = """
<testcase name="flaky" classname="demo.CalculatorTest" time="0.02">
  <flakyFailure message="expected: &lt;1&gt; but was: &lt;2&gt;"
                type="org.opentest4j.AssertionFailedError">
    <stackTrace>org.opentest4j.AssertionFailedError: expected: &lt;1&gt; but was: &lt;2&gt;
	at demo.CalculatorTest.flaky(CalculatorTest.java:20)</stackTrace>
    <system-out>attempt one</system-out>
  </flakyFailure>
  <flakyError message="socket closed" type="java.io.IOException">
    <stackTrace>java.io.IOException: socket closed</stackTrace>
  </flakyError>
</testcase>
"""

SUREFIRE_RERUN = """
<testcase name="fails" classname="demo.CalculatorTest" time="0.01">
  <failure message="math is broken" type="org.opentest4j.AssertionFailedError">final trace</failure>
  <rerunFailure message="math is broken" type="org.opentest4j.AssertionFailedError">
    <stackTrace>rerun trace 1</stackTrace>
  </rerunFailure>
  <rerunError message="setup died" type="java.lang.IllegalStateException">
    <stackTrace>rerun trace 2</stackTrace>
  </rerunError>
</testcase>
"""


def test_surefire_flaky_failure_is_a_flaky_pass_with_its_attempts() -> None:
    result = one(junit(SUREFIRE_FLAKY))

    assert result.status == "passed"
    assert result.flaky is True
    assert result.fingerprint is None
    assert [(a.status, a.error_type, a.message) for a in result.attempts] == [
        ("failed", "org.opentest4j.AssertionFailedError", "expected: <1> but was: <2>"),
        ("error", "java.io.IOException", "socket closed"),
    ]
    assert result.attempts[0].text is not None
    assert result.attempts[0].text.startswith("org.opentest4j.AssertionFailedError")
    assert "CalculatorTest.java:20" in result.attempts[0].text


def test_surefire_rerun_failure_stays_failed_with_its_attempts() -> None:
    result = one(junit(SUREFIRE_RERUN))

    assert result.status == "failed"
    assert result.flaky is False
    assert result.message == "math is broken"
    assert result.text == "final trace"
    assert [(a.status, a.message, a.text) for a in result.attempts] == [
        ("failed", "math is broken", "rerun trace 1"),
        ("error", "setup died", "rerun trace 2"),
    ]


@pytest.mark.parametrize(
    ("attrs", "status", "message"),
    [
        ('status="notrun" result="suppressed"', "skipped", "suppressed"),
        ('status="notrun"', "skipped", "notrun"),
        ('status="disabled"', "skipped", "disabled"),
        ('status="NotRun"', "skipped", "NotRun"),
        ('status="run" result="completed"', "passed", None),
        ('status="passed"', "passed", None),
        ('status="failed"', "failed", None),
        ('status="error"', "error", None),
    ],
)
def test_testcase_status_attribute(attrs: str, status: str, message: str | None) -> None:
    result = one(junit(case("DISABLED_t", "Fixture", attrs=attrs)))

    assert result.status == status
    assert result.message == message


def test_a_result_element_beats_the_status_attribute() -> None:
    result = one(junit(case("t", attrs='status="run"', body='<failure message="boom"/>')))

    assert (result.status, result.message) == ("failed", "boom")


@pytest.mark.parametrize(
    ("time", "seconds"),
    [
        ("0.5", 0.5),
        ("1e-3", 0.001),
        ("0.123456789", 0.123456789),
        ("12", 12.0),
        ("1,234.5", 1234.5),
        ("2s", 2.0),
        ("time", 0.0),
        ("", 0.0),
        ("-1.5", 0.0),
        ("-345345", 0.0),
        ("nan", 0.0),
        ("inf", 0.0),
        (None, 0.0),
    ],
)
def test_odd_time_values_are_read_leniently(time: str | None, seconds: float) -> None:
    attrs = "" if time is None else f'time="{time}"'
    duration = one(junit(case("t", attrs=attrs))).duration

    assert isinstance(duration, float)
    assert duration == pytest.approx(seconds, abs=1e-12)


def test_odd_line_values_are_ignored() -> None:
    results = read(junit(case("a", attrs='line="7"'), case("b", attrs='line="x"'), case("c")))

    assert [r.line for r in results] == [7, None, None]


# -- output capping ------------------------------------------------------------------------


def test_system_out_over_the_cap_is_cut_and_the_cut_noted() -> None:
    out = "".join(str(i % 10) for i in range(1000))
    err = "e" * 150
    body = f"<system-out>{out}</system-out><system-err>{err}</system-err>"

    result = one(junit(case("t", body=body)), max_output=100)

    assert result.system_out is not None
    kept, note = result.system_out.split("\n", 1)
    assert kept == out[:100]
    assert note == "[testviz: 900 more characters cut]"
    assert result.system_err == "e" * 100 + "\n[testviz: 50 more characters cut]"


def test_system_out_at_the_cap_is_kept_whole() -> None:
    out = "x" * 100

    assert (
        one(junit(case("t", body=f"<system-out>{out}</system-out>")), max_output=100).system_out
        == out
    )


def test_default_output_cap() -> None:
    out = "y" * (DEFAULT_MAX_OUTPUT + 10)

    result = one(junit(case("t", body=f"<system-out>{out}</system-out>")))

    assert result.system_out == "y" * DEFAULT_MAX_OUTPUT + "\n[testviz: 10 more characters cut]"


def test_cdata_output_is_read() -> None:
    result = one(junit(case("t", body="<system-out><![CDATA[<b>&raw</b>]]></system-out>")))

    assert result.system_out == "<b>&raw</b>"


def test_an_xpass_after_a_failed_attempt_is_flaky() -> None:
    xml = junit(case("test_xp"), suite="pytest")
    sidecar = Sidecar.model_validate(
        {
            "tests": {
                "tests.test_mod::test_xp": {
                    "outcome": "xpassed",
                    "attempts": [{"status": "error", "message": "setup broke"}],
                }
            }
        }
    )
    (result,) = parse_junit_xml(xml, meta=sidecar).results

    assert (result.status, result.flaky) == ("xpassed", True)


def test_several_failures_of_a_googletest_test_are_not_subtests() -> None:
    body = (
        '<failure message="a.cc:3 Expected equality of these values: 1 2"/>'
        '<failure message="a.cc:4 Expected equality of these values: 3 4"/>'
    )
    result = one(junit(case("Equal", classname="MathTest", body=body)))

    assert (result.status, result.subtests_failed) == ("failed", 0)
    assert result.message == (
        "a.cc:3 Expected equality of these values: 1 2\n"
        "a.cc:4 Expected equality of these values: 3 4"
    )


def test_pytests_subtest_count_is_taken_from_its_summary_line() -> None:
    only_summary = (
        '<failure message="contains 3 failed subtests">contains 3 failed subtests</failure>'
    )
    result = one(junit(case("test_sub", body=only_summary)))

    assert (result.status, result.subtests_failed) == ("failed", 3)
    assert result.message == "contains 3 failed subtests"
