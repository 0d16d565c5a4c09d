"""parse_junit_xml and JUnitReader: well-formed reports, their structure, and bad input."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from pytest_testviz.core import JUnitParseError, JUnitReader, parse_junit_xml

from .helpers import case, junit, one, parse, read

STANDARD = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="all" tests="4" failures="1" errors="1" skipped="1" time="1.5">
  <testsuite name="tests.test_math" tests="4" failures="1" errors="1" skipped="1"
             timestamp="2026-01-02T03:04:05" hostname="ci-7">
    <properties><property name="python" value="3.12"/></properties>
    <testcase classname="tests.test_math.TestAdd" name="test_ok" time="0.25" line="12"/>
    <testcase classname="tests.test_math.TestAdd" name="test_bad" time="0.5">
      <failure message="assert 1 == 2" type="AssertionError">def test_bad():
&gt;   assert 1 == 2
E   assert 1 == 2</failure>
    </testcase>
    <testcase classname="tests.test_math" name="test_boom" time="0.125">
      <error message="KeyError: 'x'" type="KeyError">Traceback (most recent call last):
KeyError: 'x'</error>
      <system-out>printed</system-out>
      <system-err>warned</system-err>
    </testcase>
    <testcase classname="tests.test_math" name="test_later" time="0">
      <skipped message="not yet"/>
    </testcase>
  </testsuite>
</testsuites>
"""


# -- a standard report ---------------------------------------------------------------------


def test_standard_report_fields() -> None:
    report = parse(STANDARD)

    ok, bad, boom, later = report.results
    assert [r.name for r in report.results] == ["test_ok", "test_bad", "test_boom", "test_later"]
    assert [r.status for r in report.results] == ["passed", "failed", "error", "skipped"]

    assert ok.classname == "tests.test_math.TestAdd"
    assert ok.duration == 0.25
    assert ok.line == 12
    assert ok.file == "tests/test_math.py"  # inferred from the classname: no file attribute
    assert ok.suite == ("tests.test_math",)
    assert ok.message is None
    assert ok.error_type is None
    assert ok.fingerprint is None

    assert bad.error_type == "AssertionError"
    assert bad.message == "assert 1 == 2"
    assert bad.text is not None
    assert "> " in bad.text  # entity-escaped '>' decoded
    assert bad.fingerprint is not None

    assert boom.error_type == "KeyError"
    assert boom.message == "KeyError: 'x'"
    assert boom.system_out == "printed"
    assert boom.system_err == "warned"

    assert later.message == "not yet"
    assert later.error_type is None
    assert later.fingerprint is None


def test_standard_report_totals_suites_and_run() -> None:
    report = parse(STANDARD)

    assert report.totals.to_json() == {
        "tests": 4,
        "passed": 1,
        "failed": 1,
        "errors": 1,
        "skipped": 1,
        "xfailed": 0,
        "xpassed": 0,
        "subtests_failed": 0,
        "subtests_passed": 0,
    }
    assert report.declared.to_json() == {"tests": 4, "failures": 1, "errors": 1, "skipped": 1}
    [suite] = report.suites
    assert suite.path == ("tests.test_math",)
    assert suite.properties == {"python": "3.12"}
    assert report.run.hostname == "ci-7"
    assert report.run.started_at == "2026-01-02T03:04:05"
    assert report.run.project == "default"
    assert len(report.run.run_id) == 32


def test_root_testsuite_without_testsuites_wrapper() -> None:
    xml = '<testsuite name="only" tests="1"><testcase classname="A" name="b"/></testsuite>'
    report = parse(xml)

    assert [(r.classname, r.name, r.suite) for r in report.results] == [("A", "b", ("only",))]
    assert report.declared.tests == 1


def test_file_attribute_wins_over_the_inferred_path() -> None:
    result = one(junit(case("t", "tests.test_a", attrs='file="src/tests/test_a.py" line="3"')))

    assert result.file == "src/tests/test_a.py"
    assert result.line == 3


def test_java_classname_gets_no_invented_file() -> None:
    assert one(junit(case("adds", "com.example.CalculatorTest"))).file is None


def test_testcase_properties_and_value_param() -> None:
    body = (
        '<properties><property name="k" value="v"/><property name="t">text</property></properties>'
    )
    result = one(junit(case("Name/0", "Inst/Fixture", body, attrs='value_param="42"')))

    assert result.properties == {"k": "v", "t": "text", "value_param": "42"}
    assert (result.base_name, result.params) == ("Name", "0")


def test_testcase_directly_under_testsuites_has_no_suite() -> None:
    result = one('<testsuites><testcase classname="c" name="n"/></testsuites>')

    assert result.suite == ()


def test_nameless_testcases_are_dropped_and_counted() -> None:
    report = parse(junit("<testcase/>", '<testcase time="1"/>', case("kept")))

    assert [r.name for r in report.results] == ["kept"]
    assert report.nameless == 2


def test_testcase_with_only_a_name_or_only_a_classname_is_kept() -> None:
    results = read(junit('<testcase name="n"/>', '<testcase classname="c"/>'))

    assert [(r.classname, r.name) for r in results] == [("", "n"), ("c", "")]


# -- nested suites ---------------------------------------------------------------------------


NESTED = """<testsuites>
  <testsuite name="outer">
    <testcase classname="c" name="first"/>
    <testsuite name="middle">
      <testsuite name="inner"><testcase classname="c" name="deep"/></testsuite>
      <testcase classname="c" name="mid"/>
    </testsuite>
    <testcase classname="c" name="last"/>
  </testsuite>
  <testsuite name="sibling"><testcase classname="c" name="other"/></testsuite>
</testsuites>"""


def test_nested_suites_are_flattened_keeping_the_suite_path() -> None:
    report = parse(NESTED)

    assert [(r.name, r.suite) for r in report.results] == [
        ("first", ("outer",)),
        ("deep", ("outer", "middle", "inner")),
        ("mid", ("outer", "middle")),
        ("last", ("outer",)),
        ("other", ("sibling",)),
    ]
    assert {s.path for s in report.suites} == {
        ("outer",),
        ("outer", "middle"),
        ("outer", "middle", "inner"),
        ("sibling",),
    }


def test_suites_nested_absurdly_deep_are_refused() -> None:
    xml = "<testsuites>" + '<testsuite name="x">' * 300 + "</testsuite>" * 300 + "</testsuites>"

    with pytest.raises(JUnitParseError, match="nested deeper"):
        read(xml)


# -- empty reports -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "xml",
    [
        "<testsuites/>",
        '<testsuites tests="0"></testsuites>',
        '<testsuite name="empty" tests="0"/>',
        '<testsuites><testsuite name="a"></testsuite><testsuite name="b"/></testsuites>',
        '<testsuites><testsuite name="a"><properties/><system-out>x</system-out></testsuite>'
        "</testsuites>",
    ],
    ids=["testsuites", "testsuites-tests-0", "testsuite", "two-empty-suites", "suite-no-cases"],
)
def test_empty_suites_and_zero_testcases_are_not_an_error(xml: str) -> None:
    report = parse(xml)

    assert report.results == []
    assert report.totals.tests == 0


# -- sources and encodings -----------------------------------------------------------------


def test_path_str_bytes_and_binary_stream_give_the_same_results(write_file) -> None:
    path = write_file(STANDARD)

    def summary(results):
        return [(r.test_id, r.status, r.message, r.duration) for r in results]

    expected = summary(read(STANDARD))
    assert summary(JUnitReader(path)) == expected
    assert summary(JUnitReader(str(path))) == expected
    with path.open("rb") as stream:
        assert summary(JUnitReader(stream)) == expected


def test_text_mode_stream_is_refused() -> None:
    reader = JUnitReader(io.StringIO(STANDARD))  # type: ignore[arg-type]

    with pytest.raises(JUnitParseError, match="binary mode"):
        list(reader)


def test_missing_file_is_a_parse_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.xml"

    with pytest.raises(JUnitParseError, match="cannot read the file") as info:
        parse_junit_xml(missing)
    assert str(missing) in str(info.value)


@pytest.mark.parametrize(
    "data",
    [
        b'\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?><testsuite><testcase classname="c"'
        b' name="\xc3\xbc"/></testsuite>',
        '<?xml version="1.0" encoding="UTF-16"?><testsuite><testcase classname="c" name="ü"/>'
        "</testsuite>".encode("utf-16"),
        b'<?xml version="1.0" encoding="ISO-8859-1"?><testsuite><testcase classname="c"'
        b' name="\xfc"/></testsuite>',
    ],
    ids=["utf8-bom", "utf16-bom", "latin1"],
)
def test_encodings_are_decoded(data: bytes) -> None:
    assert one(data).name == "ü"
    assert one(io.BytesIO(data)).name == "ü"


def test_sha256_of_the_bytes_read_is_kept(write_file) -> None:
    path = write_file(STANDARD)
    reader = JUnitReader(path)
    assert reader.sha256 is None
    list(reader)

    assert reader.sha256 == hashlib.sha256(path.read_bytes()).digest()


# -- malformed input -----------------------------------------------------------------------

TRUNCATED = b'<?xml version="1.0"?>\n<testsuites>\n  <testsuite name="s">\n    <testcase name="a"'


@pytest.mark.parametrize(
    ("data", "reason", "line", "column"),
    [
        (TRUNCATED, "malformed XML", 4, None),
        (b"this is not XML at all\n", "Start tag expected", 1, 1),
        (b'<testsuite>\n  <testcase name="a" classname="c">\n</testsuite>', "mismatch", 3, None),
        (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<testsuite>\n'
            b'<testcase classname="c" name="bad \xff\xfe"/></testsuite>',
            "Invalid bytes",
            3,
            None,
        ),
        (b'<testsuite>\n<testcase classname="c" name="a < b"/></testsuite>', "<", 2, None),
        (b'<testsuite>\n<testcase classname="c" name="&nope;"/></testsuite>', "nope", 2, None),
        (b"<testsuite/>\n<testsuite/>", "Extra content", 2, None),
    ],
    ids=[
        "truncated",
        "not-xml",
        "mismatched-tag",
        "invalid-utf8",
        "lt-in-attribute",
        "undefined-entity",
        "two-roots",
    ],
)
def test_malformed_xml_names_source_line_and_column(
    write_file, data: bytes, reason: str, line: int, column: int | None
) -> None:
    path = write_file(data)

    with pytest.raises(JUnitParseError) as info:
        parse_junit_xml(path)

    error = info.value
    assert error.source == str(path)
    assert reason in error.reason
    # libxml2 gives both a line and a column for every one of these.
    assert error.line is not None
    assert error.line >= line
    assert error.column is not None
    if column is not None:
        assert error.column == column
    assert str(error).startswith(f"{path}:{error.line}:{error.column}: malformed XML: ")


@pytest.mark.parametrize("data", [b"", b"   \n\t\n  "], ids=["empty", "whitespace-only"])
def test_empty_and_whitespace_only_files_are_parse_errors(write_file, data: bytes) -> None:
    path = write_file(data)

    with pytest.raises(JUnitParseError) as info:
        parse_junit_xml(path)
    assert str(path) in str(info.value)


def test_empty_file_says_so(write_file) -> None:
    with pytest.raises(JUnitParseError, match="the report is empty"):
        parse_junit_xml(write_file(b""))


def test_a_broken_first_element_is_not_called_empty() -> None:
    # lxml reports this one as "no element found" at 0:0; it must not read as an empty file.
    with pytest.raises(JUnitParseError) as info:
        read(b'<testsuite name="&undefined;"><testcase classname="c" name="a"/></testsuite>')

    assert "empty" not in str(info.value)
    assert "undefined" in info.value.reason
    assert info.value.line == 1
    assert info.value.column is not None


@pytest.mark.parametrize(
    ("xml", "root"),
    [
        ("<result><suites/></result>", "result"),
        (
            '<phpunit bootstrap="x.php"><testsuites><testsuite name="unit">'
            "<directory>tests</directory></testsuite></testsuites></phpunit>",
            "phpunit",
        ),
        ('<testcase classname="c" name="n"/>', "testcase"),
        ('<test-run><test-suite name="x"/></test-run>', "test-run"),
    ],
    ids=["result", "phpunit", "testcase", "test-run"],
)
def test_wrong_root_element_is_refused(write_file, xml: str, root: str) -> None:
    path = write_file(xml)

    with pytest.raises(JUnitParseError) as info:
        parse_junit_xml(path)
    assert f"root element is <{root}>" in info.value.reason
    assert info.value.line == 1
    assert str(info.value).startswith(f"{path}:1: not a JUnit XML report")


SECRET = "s3cr3t-token-7f"


def _hostile_documents(tmp_path: Path) -> dict[str, bytes]:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    laughs = ['<!ENTITY lol0 "lol">']
    for level in range(1, 10):
        refs = f"&lol{level - 1};" * 10
        laughs.append(f'<!ENTITY lol{level} "{refs}">')
    lol = "".join(laughs)
    return {
        "internal-entity": b'<?xml version="1.0"?>\n<!DOCTYPE t [<!ENTITY x "y">]>\n'
        b'<testsuite><testcase classname="c" name="&x;"/></testsuite>',
        "xxe-file": (
            '<?xml version="1.0"?>\n'
            f'<!DOCTYPE t [<!ENTITY xxe SYSTEM "{secret.as_uri()}">]>\n'
            '<testsuite><testcase classname="c" name="&xxe;"/></testsuite>'
        ).encode(),
        "billion-laughs": (
            f'<?xml version="1.0"?>\n<!DOCTYPE lolz [{lol}]>\n'
            '<testsuite><testcase classname="c" name="&lol9;"/></testsuite>'
        ).encode(),
        "external-dtd": b'<?xml version="1.0"?>\n'
        b'<!DOCTYPE testsuite SYSTEM "http://127.0.0.1:9/junit.dtd">\n<testsuite/>',
        # Past the first chunk the reader inspects before parsing: caught by the DTD check.
        "doctype-after-1MiB-comment": b'<?xml version="1.0"?>\n<!--'
        + b"x" * (1 << 21)
        + b'-->\n<!DOCTYPE t [<!ENTITY x "y">]>\n<testsuite><testcase classname="c" name="&x;"/>'
        b"</testsuite>",
    }


@pytest.mark.parametrize(
    "kind",
    ["internal-entity", "xxe-file", "billion-laughs", "external-dtd", "doctype-after-1MiB-comment"],
)
@pytest.mark.parametrize("as_stream", [False, True], ids=["bytes", "stream"])
def test_doctype_and_entities_are_refused(tmp_path: Path, kind: str, as_stream: bool) -> None:
    data = _hostile_documents(tmp_path)[kind]
    source = io.BytesIO(data) if as_stream else data

    with pytest.raises(JUnitParseError, match="DOCTYPE") as info:
        list(JUnitReader(source, name="hostile.xml"))
    assert str(info.value).startswith("hostile.xml")
    assert SECRET not in str(info.value)


def test_doctype_refusal_gives_the_line(write_file) -> None:
    path = write_file(b'<?xml version="1.0"?>\n<!DOCTYPE t [<!ENTITY x "y">]>\n<testsuite/>')

    with pytest.raises(JUnitParseError) as info:
        parse_junit_xml(path)
    assert info.value.line == 2
    assert str(info.value).startswith(f"{path}:2: DOCTYPE")


def test_parse_error_is_a_value_error_with_json() -> None:
    with pytest.raises(ValueError) as info:  # noqa: PT011 - the family is what is tested
        read(b"nope", name="r.xml")

    assert isinstance(info.value, JUnitParseError)
    assert info.value.to_json() == {
        "source": "r.xml",
        "line": 1,
        "column": 1,
        "reason": info.value.reason,
    }
