"""The summary's renderers: Markdown that GitHub shows as written and that stays under its
1 MiB limit, plain text, and workflow commands escaped as GitHub's toolkit escapes them."""

from __future__ import annotations

import re
from typing import Any

import markdown_it
import pytest

from pytest_testviz.summary import (
    Summary,
    SummaryError,
    TestEntry,
    TestList,
    Totals,
    escape_data,
    escape_markdown,
    escape_property,
    from_json,
    render,
)
from pytest_testviz.summary.model import Group, RunRef
from pytest_testviz.summary.render import CUT, GITHUB_SUMMARY_LIMIT, LIST_MAX, github, markdown

#: A name with everything Markdown, HTML and GitHub give a meaning to.
HOSTILE = (
    "test_x[a|b `code` <script>alert(1)</script> *em* _u_ ~~s~~ @octocat :x: [l](http://e) &amp;]"
)
MESSAGE = "AssertionError: a | b <img src=x onerror=alert(1)> `x`\n  second line"


def _test(index: int = 0, name: str = HOSTILE, **fields: Any) -> TestEntry:
    values: dict[str, Any] = {
        "name": f"{name} {index}",
        "classname": "tests.test_cart",
        "test_id": f"{index:064x}",
        "file": "tests/test_cart.py",
        "line": 10 + index,
        "status": "failed",
        "message": MESSAGE,
    }
    return TestEntry(**{**values, **fields})


def _summary(count: int = 3, **fields: Any) -> Summary:
    tests = tuple(_test(index) for index in range(count))
    values: dict[str, Any] = {
        "project": "shop",
        "totals": Totals(tests=10 + count, passed=10, failed=count, duration=3.5),
        "run_id": "4fb249e84d71462688896043e552f9be",
        "branch": "feature/x",
        "base": RunRef("0ab249e84d71462688896043e552f9be", "main"),
        "new_failures": TestList(count, tests),
        "fixed": TestList(1, (_test(99, name="test_fixed", status="passed", message=None),)),
        "failures": TestList(count, tests),
        "groups": (Group("a" * 16, count, "AssertionError", "a | b"),),
        "server": "https://testviz.example/ci",
    }
    return Summary(**{**values, **fields})


def _html(text: str) -> str:
    parser = markdown_it.MarkdownIt("commonmark").enable(["table", "strikethrough"])
    html: str = parser.render(text)
    return html


# -- Markdown ------------------------------------------------------------------------------


def test_markdown_shows_names_and_messages_as_written() -> None:
    html = _html(markdown(_summary()))

    for tag in ("<script", "<img", "<em>", "<code>", "<s>"):  # markup in a name stays text
        assert tag not in html
    # The name reads as written (HTML-escaped once, as any text is), inside its page's link.
    shown = HOSTILE.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    link = f'<a href="https://testviz.example/ci/tests/{0:064x}?project=shop">'
    assert f"{link}tests.test_cart::{shown} 0</a>" in html
    # Only the message's first line, as text.
    assert "AssertionError: a | b &lt;img src=x onerror=alert(1)&gt; `x`" in html
    assert "second line" not in html


def test_markdown_tables_keep_their_columns_whatever_the_cells_hold() -> None:
    html = _html(markdown(_summary()))

    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    cells = [len(re.findall(r"<t[dh][ >]", row)) for row in rows]
    assert cells == [4, 4, 3, 3]  # totals (header, values), failure groups (header, one group)
    assert "<td>a | b</td>" in html


def test_markdown_links_every_page() -> None:
    text = markdown(_summary())

    assert "(https://testviz.example/ci/runs/4fb249e84d71462688896043e552f9be)" in text
    assert "(https://testviz.example/ci/runs/0ab249e84d71462688896043e552f9be)" in text
    assert "(https://testviz.example/ci/failures/aaaaaaaaaaaaaaaa?project=shop)" in text
    assert "### New failures (3)" in text
    assert "Fixed (1)" in text


def test_markdown_collapses_long_lists_and_says_how_many_are_left_out() -> None:
    many = tuple(_test(index) for index in range(LIST_MAX + 20))
    summary = _summary(fixed=TestList(len(many), many))

    text = markdown(summary)

    assert "<details><summary><strong>Fixed (70)</strong></summary>" in text
    assert "- … and 20 more" in text
    assert text.count("</details>") == 1


def test_markdown_counts_what_the_server_left_out() -> None:
    summary = _summary(new_failures=TestList(500, (_test(),)))

    assert "- … and 499 more" in markdown(summary)


def test_quarantined_failures_are_shown_only_when_there_are_some() -> None:
    assert "Quarantined" not in markdown(_summary())

    text = markdown(_summary(quarantined=TestList(2, (_test(1), _test(2)))))

    assert "### Quarantined failures (2)" in text


def test_markdown_without_a_comparison_says_so() -> None:
    summary = _summary(base=None, new_failures=None, fixed=None, server=None)

    text = markdown(summary)

    assert "Not compared with an earlier run." in text
    assert "### Failures (3)" in text
    assert "<a href" not in _html(text)  # no server: no links


def test_markdown_notice_is_escaped() -> None:
    text = markdown(_summary(notice="cannot reach <http://x> | *down*"))

    assert "> cannot reach &lt;http\\://x&gt; \\| \\*down\\*" in text


@pytest.mark.parametrize(
    "lists", [("new_failures",), ("new_failures", "failures", "fixed", "flaky", "quarantined")]
)
def test_markdown_of_100000_failures_stays_under_githubs_limit(lists: tuple[str, ...]) -> None:
    long_name = (HOSTILE + "&<>|") * 20  # escaping makes it longer still
    tests = tuple(_test(index, name=long_name, message=MESSAGE * 50) for index in range(100_000))
    fields: dict[str, Any] = {name: TestList(len(tests), tests) for name in lists}
    groups = tuple(Group(f"{index:016x}", 1, long_name, long_name) for index in range(1000))
    summary = _summary(**fields, groups=groups)

    text = markdown(summary)

    assert len(text.encode()) < GITHUB_SUMMARY_LIMIT
    # Every list shown is cut short and says by how many (all failures are the new ones:
    # not shown twice); or, out of room, the end says so.
    shown = len(lists) - ("failures" in lists)
    cut_lists = len(re.findall(r"^- … and \d+ more$", text, re.M))
    assert cut_lists == shown or (cut_lists and text.endswith(CUT + "\n"))
    assert "| | … and 990 more | |" in text
    assert text.count("<details>") == text.count("</details>")


@pytest.mark.parametrize("max_bytes", range(500, 40_000, 1_501))
def test_markdown_never_exceeds_its_budget(max_bytes: int) -> None:
    tests = tuple(_test(index) for index in range(1000))
    runs = tuple(RunRef(f"run{index}", "main", Totals(tests=1)) for index in range(100))
    summary = _summary(
        new_failures=TestList(1000, tests),
        failures=TestList(2000, tests),
        flaky=TestList(1000, tests),
        notice="the server is down " * 20,
        build_id="1234-1",
        runs=runs,
    )

    text = markdown(summary, max_bytes=max_bytes)

    assert len(text.encode()) <= max_bytes
    assert text.endswith(CUT + "\n")
    assert text.count("<details>") == text.count("</details>")


# -- GitHub workflow commands --------------------------------------------------------------


def test_workflow_command_escaping_is_githubs() -> None:
    assert escape_data("100% done\r\nnext: a, b") == "100%25 done%0D%0Anext: a, b"
    assert escape_property("100% done\r\nnext: a, b") == "100%25 done%0D%0Anext%3A a%2C b"


def test_annotations_for_new_failures() -> None:
    test = _test(
        name="test_a:b,c",
        file="tests/odd,name:1.py",
        line=7,
        message="assert 100% == 1\nline two\r\n::error::injected",
    )
    summary = _summary(new_failures=TestList(1, (test,)))

    lines = github(summary).splitlines()

    assert len(lines) == 2  # one annotation and the notice: no newline got through
    assert lines[0] == (
        "::error file=tests/odd%2Cname%3A1.py,line=7,"
        "title=New failure%3A tests.test_cart%3A%3Atest_a%3Ab%2Cc 0::"
        "assert 100%25 == 1%0Aline two%0D%0A::error::injected"
        f"%0Ahttps://testviz.example/ci/tests/{0:064x}?project=shop"
    )
    assert lines[1].startswith("::notice title=testviz::shop · run 4fb249e84d71: 3 of 13 ")


def test_annotations_are_capped_and_the_rest_counted() -> None:
    summary = _summary(count=30)

    lines = render(summary, "github", max_annotations=5).splitlines()

    assert [line.split(" ", 1)[0] for line in lines] == ["::error"] * 5 + ["::notice"]
    assert "25 more new failures not annotated" in lines[-1]


def test_annotations_without_a_file_name_none() -> None:
    summary = _summary(new_failures=TestList(1, (_test(file=None, line=None),)))

    first = github(summary).splitlines()[0]

    assert first.startswith("::error title=New failure%3A ")


def test_annotations_without_a_comparison_are_for_the_failures() -> None:
    summary = _summary(base=None, new_failures=None, fixed=None)

    lines = github(summary).splitlines()

    assert len(lines) == 4
    assert lines[0].startswith("::error file=tests/test_cart.py,line=10,title=Failure%3A ")


# -- text, and what is read ----------------------------------------------------------------


def test_text_is_one_line_per_test_with_its_page() -> None:
    text = render(_summary(), "text")

    assert "shop · run 4fb249e84d71: 3 of 13 tests failed" in text
    assert f"  tests.test_cart::{HOSTILE} 0: AssertionError: a | b <img" in text
    assert f"    https://testviz.example/ci/tests/{0:064x}?project=shop" in text
    assert "second line" not in text


def test_an_unknown_format_is_an_error() -> None:
    with pytest.raises(ValueError, match="unknown format 'html'"):
        render(_summary(), "html")


def test_markdown_escape_leaves_plain_words_alone() -> None:
    assert escape_markdown("test_a") == "test\\_a"
    assert escape_markdown("plain words 1.5") == "plain words 1.5"
    assert escape_markdown("x" * 400, 10) == "x" * 9 + "…"


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ([], "the answer is not an object"),
        ({"project": "p"}, "no totals"),
        ({"totals": {"tests": -1}}, "'tests' is not a count"),
        ({"totals": {}, "new_failures": {"count": 1, "tests": "x"}}, "tests is not a list"),
        ({"totals": {}, "failure_groups": [1]}, "a failure group is not an object"),
        ({"totals": {}, "runs": [{"totals": {}}]}, "a run without a run_id"),
    ],
)
def test_an_answer_that_is_not_a_summary_is_refused(answer: Any, why: str) -> None:
    with pytest.raises(SummaryError, match=why):
        from_json(answer)
