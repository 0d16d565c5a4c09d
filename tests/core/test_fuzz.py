"""Property tests of the parser: random valid JUnit trees, and random breakage of them.

Valid trees (built with lxml, so always well-formed): every named testcase becomes one result,
in order, with the status its children or ``status`` attribute give, and the totals always
add up. Broken input (truncated, bytes inserted or changed, XML-ish token soup, raw bytes):
the parser either returns a consistent report or raises :class:`JUnitParseError`, nothing
else, and reading bytes or a stream gives the same answer. Example counts: tests/fuzzing.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from pytest_testviz.core import JUnitParseError, Report, SidecarError, Totals, parse_sidecar
from pytest_testviz.core.junit import _STATUS_ATTRIBUTE
from pytest_testviz.core.report import parse_junit_xml
from pytest_testviz.core.results import SEVERITY

from ..fuzzing import examples

# Characters XML 1.0 can carry (lxml refuses the others), from every script.
XML_CHAR = st.characters(
    codec="utf-8",
    exclude_categories=("Cs", "Cc"),
    exclude_characters="\ufffe\uffff",
) | st.sampled_from("\t\n\r [](){}<>&'\"#/\\:.,-_")
TEXT = st.text(XML_CHAR, max_size=20)
CHILD_STATUS = {"failure": "failed", "error": "error", "skipped": "skipped"}
CHILDREN = [*CHILD_STATUS, "system-out", "system-err", "properties", "flakyFailure"]
STATUS_ATTRIBUTES = [None, "passed", "run", "skipped", "disabled", "failed", "Error", "odd"]
NUMBERS = st.one_of(
    st.none(),
    st.integers(-5, 10**12).map(str),
    st.sampled_from(["", "1.5", "nan", "inf", "-0", "1e3", "x", "9" * 40]),
)


@dataclass
class Expected:
    """What the parser must make of the generated tree."""

    results: list[tuple[str, str, str, bool]] = field(default_factory=list)
    nameless: int = 0


def add_testcase(draw: st.DrawFn, parent: etree._Element, expected: Expected) -> None:
    element = etree.SubElement(parent, "testcase")
    if draw(st.integers(0, 19)) == 0:  # neither name nor classname: not a test
        expected.nameless += 1
        return
    index = len(expected.results)
    name = f"{draw(TEXT)}-{index}"  # unique, whatever the white space folding does
    element.set("name", name)
    classname = draw(st.one_of(st.none(), TEXT))
    if classname is not None:
        element.set("classname", classname)
    for attribute in ("time", "line"):
        value = draw(NUMBERS)
        if value is not None:
            element.set(attribute, value)
    status_attribute = draw(st.sampled_from(STATUS_ATTRIBUTES))
    if status_attribute is not None:
        element.set("status", status_attribute)
    status, flaky = "passed", False
    for kind in draw(st.lists(st.sampled_from(CHILDREN), max_size=4)):
        child = etree.SubElement(element, kind)
        if draw(st.booleans()):
            child.set("message", draw(TEXT))
        if draw(st.booleans()):
            child.text = draw(TEXT)
        if kind in CHILD_STATUS and SEVERITY[CHILD_STATUS[kind]] > SEVERITY[status]:
            status = CHILD_STATUS[kind]
        flaky = flaky or kind == "flakyFailure"
    if status == "passed":
        status = _STATUS_ATTRIBUTE.get((status_attribute or "").lower(), "passed")
    expected.results.append(
        (name, classname or "", status, flaky and status not in ("failed", "error"))
    )


def fill(draw: st.DrawFn, element: etree._Element, expected: Expected, depth: int) -> None:
    if draw(st.booleans()):
        element.set("name", draw(TEXT))
    for attribute in ("tests", "failures", "errors", "skipped"):
        value = draw(NUMBERS)
        if value is not None:
            element.set(attribute, value)
    for kind in draw(
        st.lists(st.sampled_from(["case", "suite"] if depth < 2 else ["case"]), max_size=4)
    ):
        if kind == "case":
            add_testcase(draw, element, expected)
        else:
            fill(draw, etree.SubElement(element, "testsuite"), expected, depth + 1)


@st.composite
def junit_tree(draw: st.DrawFn) -> tuple[bytes, Expected]:
    expected = Expected()
    root = etree.Element(draw(st.sampled_from(["testsuites", "testsuite"])))
    fill(draw, root, expected, 0)
    encoding = draw(st.sampled_from(["UTF-8", "UTF-16", "ISO-8859-1"]))
    try:
        data = etree.tostring(root, xml_declaration=True, encoding=encoding)
    except UnicodeEncodeError:  # Latin-1 cannot hold every name: lxml writes char refs instead
        data = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return data, expected


def assert_consistent(report: Report) -> None:
    totals = report.totals
    assert totals == Totals.count(report.results)
    assert totals.tests == len(report.results)
    assert totals.passed + totals.failed + totals.errors + totals.skipped == totals.tests
    assert len({result.test_id for result in report.results}) == len(report.results)
    for result in report.results:
        assert result.status in SEVERITY
        assert len(result.test_id) == 64
        assert math.isfinite(result.duration)
        assert result.duration >= 0
        failed = result.status in ("failed", "error")
        if result.fingerprint is not None or (failed and (result.message or result.text)):
            assert failed
            assert result.fingerprint is not None
    for declared in (report.declared.tests, report.declared.failures, report.declared.skipped):
        assert declared is None or declared >= 0


def parse_both(data: bytes) -> Report | JUnitParseError:
    """Parse from bytes and from a stream: the same report, or a JUnitParseError from both."""
    outcomes: list[Report | JUnitParseError] = []
    for source in (data, io.BytesIO(data)):
        try:
            outcomes.append(parse_junit_xml(source))
        except JUnitParseError as error:
            outcomes.append(error)
    from_bytes, from_stream = outcomes
    if isinstance(from_bytes, JUnitParseError):
        assert isinstance(from_stream, JUnitParseError), from_stream
        assert from_bytes.reason == from_stream.reason
        return from_bytes
    assert isinstance(from_stream, Report), from_stream
    assert from_bytes.results == from_stream.results
    assert_consistent(from_bytes)
    return from_bytes


@settings(max_examples=examples(ci=50, local=200))
@given(junit_tree())
def test_valid_trees_give_one_result_per_named_testcase(tree: tuple[bytes, Expected]) -> None:
    data, expected = tree
    report = parse_both(data)
    assert isinstance(report, Report), report
    got = [(r.name, r.classname, r.status, r.flaky) for r in report.results]
    assert got == expected.results
    assert report.nameless == expected.nameless
    assert report.testcases == len(expected.results)


@st.composite
def broken(draw: st.DrawFn) -> bytes:
    data, _ = draw(junit_tree())
    position = draw(st.integers(0, len(data)))
    how = draw(st.sampled_from(["truncate", "insert", "replace", "delete"]))
    if how == "truncate":
        return data[:position]
    if how == "delete":
        return data[:position] + data[position + draw(st.integers(1, 50)) :]
    noise = draw(st.binary(min_size=1, max_size=8) | st.sampled_from(TOKENS).map(str.encode))
    end = position + (len(noise) if how == "replace" else 0)
    return data[:position] + noise + data[end:]


TOKENS = [
    "<", ">", "</", "/>", "=", '"', "'", "&", ";", "&amp;", "&lol;", "&#0;", "&#xD800;",
    "<testsuites>", "<testsuite>", "</testsuite>", "<testcase", ' name="n"', ' classname="c"',
    "<failure>", "</failure>", "<skipped/>", "<error/>", "<system-out>", "<properties>",
    '<property name="go.version" value="1"/>', "<!DOCTYPE x>", '<!ENTITY e "x">', "]>",
    "<?xml version='1.0'?>", "<?xml version='1.0' encoding='UTF-16'?>", "<![CDATA[", "]]>",
    "<!--", "-->", "<?pi x?>", "\xff", "\x00", "\ufeff", "\n", " ", ' tests="-1"', ' time="x"',
]  # fmt: skip


@settings(max_examples=examples(ci=60, local=300))
@given(broken())
def test_broken_reports_parse_consistently_or_raise_only_the_parse_error(data: bytes) -> None:
    parse_both(data)


@settings(max_examples=examples(ci=50, local=200))
@given(
    st.lists(st.sampled_from(TOKENS), max_size=40).map(lambda parts: "".join(parts).encode())
    | st.binary(max_size=200)
)
def test_token_soup_and_raw_bytes_raise_only_the_parse_error(data: bytes) -> None:
    parse_both(data)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "run_id",
                    "project",
                    "branch",
                    "git_sha",
                    "tests",
                    "env",
                    "started_at",
                    "schema_version",
                    "x",
                ]
            ),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


@settings(max_examples=examples(ci=50, local=200))
@given(st.one_of(JSON_VALUES.map(lambda v: json.dumps(v).encode()), st.binary(max_size=100)))
def test_sidecars_parse_or_raise_only_the_sidecar_error(data: bytes) -> None:
    with contextlib.suppress(SidecarError):
        parse_sidecar(data)
