"""test_id: one stable identity per test, whatever else changes between runs."""

from __future__ import annotations

import hashlib

import pytest

from pytest_testviz.core import (
    canonical_identity,
    content_run_id,
    parse_junit_xml,
    test_id,
)

from .helpers import case, junit, parse, read


def test_canonical_form_is_the_documented_one() -> None:
    canonical = "testviz:2\0my-project\0tests.test_math.TestAdd\0test_add[1-2]"

    assert canonical_identity("my-project", "tests.test_math.TestAdd", "test_add[1-2]") == canonical
    assert test_id("my-project", "tests.test_math.TestAdd", "test_add[1-2]") == (
        hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    )


def test_occurrence_suffix_only_from_the_second_occurrence() -> None:
    assert canonical_identity("p", "c", "n", 1) == "testviz:2\0p\0c\0n"
    assert canonical_identity("p", "c", "n", 2) == "testviz:2\0p\0c\0n\0#2"
    assert test_id("p", "c", "n", 2) == hashlib.sha256(b"testviz:2\0p\0c\0n\0#2").hexdigest()


def test_test_id_is_64_hex_chars() -> None:
    identity = test_id("p", "c", "n")

    assert len(identity) == 64
    assert int(identity, 16) >= 0


def test_white_space_in_names_is_part_of_the_id() -> None:
    # pytest's node ids tell these apart (sqlparse's test_parse_endifloop[END IF] and
    # [END   IF]): one id for both merged two tests and hid a failure.
    assert test_id("p", "c", "test_x[END IF]") != test_id("p", "c", "test_x[END   IF]")
    assert test_id("p", "c", "test_x[a]") != test_id("p", "c", "test_x[a] ")
    assert test_id("p", "c", "t[\n]") != test_id("p", "c", "t[ ]")
    assert test_id("p", "tests.test_a", "t") != test_id("p", " tests.test_a", "t")


def test_names_differing_only_in_white_space_are_two_tests_and_neither_is_flaky() -> None:
    report = parse(
        junit(
            case("test_parse_endifloop[END IF]", body='<failure message="assert 1 == 2"/>'),
            case("test_parse_endifloop[END   IF]"),
            suite="pytest",
        )
    )

    assert [(r.name, r.status, r.flaky) for r in report.results] == [
        ("test_parse_endifloop[END IF]", "failed", False),
        ("test_parse_endifloop[END   IF]", "passed", False),
    ]
    assert (report.totals.tests, report.totals.failed, report.testcases) == (2, 1, 2)
    assert report.repeated == []


def test_a_repeat_naming_another_file_is_another_test() -> None:
    report = parse(
        junit(
            case("test_a", attrs='file="tests/one/test_x.py"', body='<failure message="x"/>'),
            case("test_a", attrs='file="tests/two/test_x.py"'),
            suite="pytest",
        )
    )

    assert [(r.status, r.flaky, r.occurrence) for r in report.results] == [
        ("failed", False, 1),
        ("passed", False, 2),
    ]


def test_non_ascii_and_lone_surrogates_hash() -> None:
    assert test_id("p", "c", "test_ü[✓]") != test_id("p", "c", "test_u[v]")
    assert len(test_id("p", "c", "bad \udcff")) == 64


def _ids(xml: bytes, **kwargs: object) -> dict[str, str]:
    return {r.name: r.test_id for r in read(xml, **kwargs)}


def test_same_test_same_id_whatever_its_duration_outcome_order_or_file() -> None:
    first = junit(
        case("test_a", attrs='time="0.1"'),
        case("test_b", attrs='time="2"', body='<failure message="x"/>'),
        case("test_c[1]", attrs='time="0"'),
    )
    second = junit(
        case(
            "test_c[1]",
            attrs='time="9.5" file="tests/test_mod.py" line="30"',
            body='<skipped message="later"/>',
        ),
        case("test_b", attrs='time="0.001" file="tests/test_mod.py"'),
        case("test_a", attrs='time="77"', body='<error message="boom"/>'),
    )

    assert _ids(first) == _ids(second)


def test_the_suite_is_not_part_of_the_id() -> None:
    a = read(junit(case("t"), suite="one"))[0]
    b = read(junit(case("t"), suite="two"))[0]

    assert a.suite != b.suite
    assert a.test_id == b.test_id


def test_distinct_params_classnames_and_names_get_distinct_ids() -> None:
    ids = _ids(
        junit(
            case("test_add[1-2]"),
            case("test_add[2-1]"),
            case("test_add[1]"),
            case("test_add"),
        )
    )
    other_class = read(junit(case("test_add", "tests.test_other")))[0].test_id

    assert len(set(ids.values())) == 4
    assert other_class != ids["test_add"]


def test_project_is_part_of_the_id() -> None:
    xml = junit(case("test_a"))

    a = parse(xml, project="alpha").results[0]
    b = parse(xml, project="beta").results[0]
    default = parse(xml).results[0]

    assert a.test_id == test_id("alpha", "tests.test_mod", "test_a")
    assert b.test_id == test_id("beta", "tests.test_mod", "test_a")
    assert default.test_id == test_id("default", "tests.test_mod", "test_a")
    assert len({a.test_id, b.test_id, default.test_id}) == 3


def test_run_id_comes_from_the_bytes_of_report_and_sidecar() -> None:
    xml = junit(case("test_a"))

    assert parse(xml).run.run_id == parse(xml).run.run_id == content_run_id(xml)
    assert content_run_id(xml, b"{}") != content_run_id(xml)
    assert content_run_id(xml + b"\n") != content_run_id(xml)
    assert len(content_run_id(xml)) == 32


# -- real pytest output ------------------------------------------------------------------------

SAMPLE_TESTS = """
import pytest


@pytest.mark.parametrize(("a", "b"), [(1, 2), (2, 3), ("x", "y z")])
def test_add(a, b):
    assert a != b


class TestGroup:
    def test_method(self):
        pass

    @pytest.mark.parametrize("n", [1, 2])
    def test_in_class(self, n):
        assert n


def test_fails():
    assert 1 + 1 == 3


@pytest.mark.skip(reason="not today")
def test_skipped():
    pass
"""


def test_pytest_xunit1_and_xunit2_give_the_same_test_ids(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sample=SAMPLE_TESTS)
    outputs = {}
    for family in ("xunit1", "xunit2"):
        xml = pytester.path / f"{family}.xml"
        run = pytester.runpytest(
            "-p", "no:cacheprovider", "-o", f"junit_family={family}", f"--junitxml={xml}"
        )
        run.assert_outcomes(passed=6, failed=1, skipped=1)
        outputs[family] = xml

    # The two families really differ: xunit1 writes file and line, xunit2 does not.
    assert b' file="test_sample.py"' in outputs["xunit1"].read_bytes()
    assert b' file="' not in outputs["xunit2"].read_bytes()

    xunit1 = parse_junit_xml(outputs["xunit1"]).results
    xunit2 = parse_junit_xml(outputs["xunit2"]).results

    assert len(xunit1) == len(xunit2) == 8
    assert {r.test_id for r in xunit1} == {r.test_id for r in xunit2}
    assert len({r.test_id for r in xunit1}) == 8

    def summary(results):
        return sorted((r.test_id, r.classname, r.name, r.status, r.params) for r in results)

    assert summary(xunit1) == summary(xunit2)
    by_name = {r.name: r for r in xunit2}
    assert by_name["test_add[x-y z]"].params == "x-y z"
    assert by_name["test_in_class[2]"].classname == "test_sample.TestGroup"
    assert by_name["test_fails"].status == "failed"
    assert by_name["test_fails"].fingerprint is not None
    assert (
        by_name["test_fails"].fingerprint == {r.name: r for r in xunit1}["test_fails"].fingerprint
    )
    assert by_name["test_skipped"].message == "not today"
    assert by_name["test_method"].test_id == test_id(
        "default", "test_sample.TestGroup", "test_method"
    )
