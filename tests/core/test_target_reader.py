"""The parser-target reader: the structure it rebuilds from callbacks, and the fast paths.

The reader keeps no tree; these pin what the tree reader gave for the shapes that need care.
"""

from __future__ import annotations

import re

import pytest

from pytest_testviz.core import JUnitReader, Totals, parse_junit_xml
from pytest_testviz.core import fingerprint as fp_module
from pytest_testviz.core.identity import test_id
from pytest_testviz.core.names import split_params

from .helpers import case, junit, one, read


def test_ampersands_in_attribute_values_are_decoded() -> None:
    # libxml2 gives a target "&" as "&#38;" when it does not resolve entities.
    result = one(
        junit(case("a &amp; b &#38; c &amp;#38; d", classname="x&amp;y", attrs='time="1"'))
    )

    assert result.name == "a & b & c &#38; d"
    assert result.classname == "x&y"


def test_text_with_entities_cdata_and_comments_is_joined() -> None:
    body = (
        '<failure message="m &lt;1&gt;">a &amp; b<![CDATA[<x>]]><!-- gone -->c<?pi x?>d</failure>'
    )
    result = one(junit(case("t", body=body)))

    assert result.message == "m <1>"
    assert result.text == "a & b<x>cd"


def test_result_text_includes_nested_elements_text() -> None:
    result = one(junit(case("t", body="<failure>lead<b>bold<i>it</i>tail</b>end</failure>")))

    assert result.text == "leadboldittailend"


def test_property_and_stack_trace_read_their_own_leading_text() -> None:
    body = (
        "<properties><property name='a'>lead<x/>more</property>"
        "<property name='b' value='v'>ignored</property><property>no name</property>"
        "</properties>"
        "<flakyFailure message='f'><stackTrace>first</stackTrace>"
        "<stackTrace>second<x/>more</stackTrace></flakyFailure>"
        "<rerunFailure message='r'>own text</rerunFailure>"
        "<rerunError message='e'>own<x/>text</rerunError>"
    )
    result = one(junit(case("t", body=body)))

    assert result.properties == {"a": "lead", "b": "v"}
    assert [(a.status, a.message, a.text) for a in result.attempts] == [
        ("failed", "f", "second"),
        ("failed", "r", "own text"),
        ("error", "e", None),
    ]
    assert result.flaky


def test_a_testcase_inside_a_testcase_is_read_and_frees_the_children_before_it() -> None:
    body = '<failure message="m"/>' + case("inner") + "<skipped/>"
    results = read(junit(case("outer", body=body)))

    # As the tree reader did: the inner one first; the outer one lost the failure before it.
    assert [(r.name, r.status) for r in results] == [("inner", "passed"), ("outer", "skipped")]


def test_a_suite_inside_a_testcase_is_a_suite() -> None:
    body = '<error message="e"/><testsuite name="in">' + case("deep") + "</testsuite>"
    reader = JUnitReader(junit(case("outer", body=body)))
    results = list(reader)

    assert [(r.name, r.suite, r.status) for r in results] == [
        ("deep", ("suite", "in"), "passed"),
        ("outer", ("suite",), "passed"),
    ]
    assert [suite.path for suite in reader.suites] == [("suite", "in"), ("suite",)]


def test_suite_properties_after_the_testcases_still_count() -> None:
    xml = (
        '<testsuites><testsuite name="s">'
        + case("t")
        + '<properties><property name="go.version" value="go1.22"/></properties>'
        "</testsuite></testsuites>"
    )
    reader = JUnitReader(xml.encode())
    list(reader)

    assert reader.suites[0].properties == {"go.version": "go1.22"}


def test_batches_hold_the_same_results_as_iterating() -> None:
    data = junit(*(case(f"t{i}") for i in range(50)))

    batched = [r.test_id for batch in JUnitReader(data).batches() for r in batch]

    assert batched == [r.test_id for r in JUnitReader(data)]


def test_results_built_positionally_have_every_field_in_place() -> None:
    result = one(junit(case("test_x[1-2]", classname="tests.test_a.TestB", attrs='time="0.5"')))

    assert (result.name, result.base_name, result.params) == ("test_x[1-2]", "test_x", "1-2")
    assert (result.classname, result.file, result.suite) == (
        "tests.test_a.TestB",
        "tests/test_a.py",
        ("suite",),
    )
    assert (result.status, result.duration, result.line, result.flaky) == (
        "passed",
        0.5,
        None,
        False,
    )
    assert (result.error_type, result.message, result.text, result.fingerprint) == (None,) * 4
    assert (result.system_out, result.system_err, result.owner, result.source_hash) == (None,) * 4
    assert result.properties == {}
    assert result.attempts == []
    assert result.tags == []
    assert result.markers == []
    assert result.occurrence == 1
    # Fresh containers, never shared between results.
    other = one(junit(case("test_y")))
    assert result.tags is not other.tags
    assert result.properties is not other.properties


@pytest.mark.parametrize(
    "name",
    ["plain", " padded ", "two  spaces", "tab\there", "new\nline", "é accent", "  "],
)
def test_the_identity_hashes_the_name_exactly(name: str) -> None:
    result = one(junit(case(name.replace("\n", "&#10;").replace("\t", "&#9;"))))

    assert result.name == name
    assert result.test_id == test_id("default", "tests.test_mod", name)


@pytest.mark.parametrize(
    "name", ["t[a]", "t[a[0]-b]", "t[a]b]", "t]", "[1] x", "t[x][y]", "a(int)[3]", "t[[]]"]
)
def test_bracket_fast_path_agrees_with_the_scan(name: str) -> None:
    depth, start = 0, -1
    for index in range(len(name) - 1, -1, -1):
        if name[index] == "]":
            depth += 1
        elif name[index] == "[":
            depth -= 1
            if depth == 0:
                start = index
                break
    base, params = split_params(name)
    if start > 0 and re.fullmatch(r"[A-Za-z_][\w.]*", name[:start]):
        assert (base, params) == (name[:start], name[start + 1 : -1])


#: The masks as they were written before they were rewritten to start with a digit.
_ORIGINAL_MASKS = {
    "_DATE": r"\b\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b",
    "_TIME": r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b",
    "_ADDR": r"\b0x[0-9a-fA-F]{4,}\b",
    "_DURATION": r"\b\d+(?:\.\d+)?\s?(?:ns|us|µs|ms|s|sec|secs|seconds?|minutes?|mins?)\b",
}
_SAMPLES = [
    "at 2026-11-29T08:00:00.123+01:00 and x2026-11-29 and 12026-11-29 and 2026-11-299",
    "12:34:56 1:02:03,5 a12:34:56 123:45:67 _1:22:33 ٣:22:33 ١٢:٣٤:٥٦",
    "0x7fc48e6f5c7d x0x1234 0x12 _0x1234 00x1234 0x1234g 0x12345",
    "3s 3.5s x3s _3s 3 s 3sec 12ms 1.2.3s 3.s .5s 5µs 5 µs a1.5s 1.5x 10 minutes 3secs",
    "\u0663s x\u0661\u0662ms \u0661\u0662 ms",
    "",
]


@pytest.mark.parametrize("mask", sorted(_ORIGINAL_MASKS))
@pytest.mark.parametrize("sample", _SAMPLES)
def test_rewritten_masks_match_what_the_original_matched(mask: str, sample: str) -> None:
    rewritten = getattr(fp_module, mask)
    original = re.compile(_ORIGINAL_MASKS[mask])

    assert rewritten.sub("<x>", sample) == original.sub("<x>", sample)


_TRACEBACKS = [
    'Traceback:\n  File "a.py", line 3, in f\n    x\n  File "b.py", line 9, in g\nE',
    "def test_x(self):\n>   go()\na.py:3: in go\n    step()\nb.py:4: in step x\nc.py:5: in s\n",
    "Error\n    at pkg.Class.method(File.java:12)\n    at async fn (x.js:1:2)\nat y (z)\n",
    "no frames at all: in here File",
    "x: in\n: in \n1: in f\nx:1: in f g\nx:1: in f\r\n  def  g(\n async def h(\ndef i(",
]


@pytest.mark.parametrize("text", _TRACEBACKS)
def test_frame_names_reads_what_findall_would(text: str) -> None:
    for pattern, hint in (
        (fp_module._PY_FRAME, 'File "'),
        (fp_module._AT_FRAME, "at "),
    ):
        assert fp_module._line_matches(pattern, hint, text) == pattern.findall(text)
        assert fp_module._line_matches(pattern, hint, text, 1) == pattern.findall(text)[:1]


def test_totals_count_each_status() -> None:
    results = parse_junit_xml(
        junit(
            case("a"),
            case("b", body="<failure/>"),
            case("c", body="<error/>"),
            case("d", body="<skipped/>"),
        )
    ).results
    assert Totals.count(results) == Totals(tests=4, passed=1, failed=1, errors=1, skipped=1)
