"""A :class:`~.model.Summary` as Markdown (GitHub's job summary), plain text, or GitHub
Actions workflow commands (annotations on the lines of new failures).

Names and messages come from the tests: anything may be in them (pipes, backticks, HTML, a
``::`` that would start a workflow command). Every one is escaped for where it goes, shown on
one line and cut to :data:`TEXT_MAX` characters. Lists are cut to :data:`LIST_MAX` entries,
and the whole Markdown to a byte budget under GitHub's 1 MiB limit for a step's summary,
with an "and N more" line where something was left out.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from .model import COUNTS, Group, Summary, TestEntry, TestList, Totals

FORMATS = ("markdown", "text", "github")
#: GitHub refuses a step summary over 1 MiB (and shows none of it).
GITHUB_SUMMARY_LIMIT = 1024 * 1024
#: The Markdown's budget: under the limit, with room for what else the step writes.
MAX_BYTES = GITHUB_SUMMARY_LIMIT - 64 * 1024
#: Annotations for new failures (GitHub shows at most 10 errors of a step, 50 of a job).
DEFAULT_MAX_ANNOTATIONS = 10
#: Entries shown per list; a list longer than :data:`OPEN_MAX` is collapsed.
LIST_MAX = 50
OPEN_MAX = 10
GROUP_MAX = 10
#: Characters of a name or message shown.
TEXT_MAX = 300

_LABELS = {
    "tests": "Tests",
    "passed": "Passed",
    "failed": "Failed",
    "errors": "Errors",
    "skipped": "Skipped",
    "xfailed": "xfailed",
    "xpassed": "xpassed",
    "flaky": "Flaky",
}
# HTML's own characters as entities; behind a backslash (which CommonMark and GitHub take
# literally), the punctuation that means something inside a line: emphasis, code, links, table
# cells, strikethrough, ``@`` (a mention) and ``:`` (an emoji, an autolink). Nothing escaped
# here starts a line, so ``#``, ``-``, ``+``, ``.`` and ``>`` there need nothing.
_MARKDOWN_SPECIAL = re.compile(r"[&<>\\`*_\[\]|~@:]")
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: str | None, limit: int = TEXT_MAX) -> str:
    """``text``'s first line, control characters as spaces, at most ``limit`` characters."""
    if not text:
        return ""
    stripped = text.strip()
    first = stripped.split("\n", 1)[0].strip() or stripped
    first = _CONTROL.sub(" ", first)
    first = first if len(first) <= limit else first[: limit - 1] + "…"
    # A lone surrogate (undecodable bytes in a name) cannot be written as UTF-8.
    return first.encode("utf-8", "replace").decode("utf-8")


def escape_markdown(text: str | None, limit: int = TEXT_MAX) -> str:
    """Text that GitHub shows as written: no markup, no HTML, no mention, one line (a table
    cell may hold it: its pipes are escaped too)."""

    def escaped(match: re.Match[str]) -> str:
        char = match.group()
        return _ENTITIES.get(char) or "\\" + char

    return _MARKDOWN_SPECIAL.sub(escaped, one_line(text, limit))


def escape_data(text: str) -> str:
    """A workflow command's message, as GitHub's toolkit escapes it (``escapeData``)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value (``escapeProperty``): also ``:`` and ``,``."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


class _Links:
    """The server's pages, or no links without a server URL."""

    def __init__(self, summary: Summary) -> None:
        self.server = summary.server.rstrip("/") if summary.server else None
        self.project = summary.project

    def _page(self, path: str, project: bool = True) -> str | None:
        if self.server is None:
            return None
        query = f"?project={quote(self.project, safe='')}" if project and self.project else ""
        return self.server + path + query

    def run(self, run_id: str) -> str | None:
        return self._page("/runs/" + quote(run_id, safe=""), project=False)

    def test(self, test: TestEntry) -> str | None:
        return self._page("/tests/" + quote(test.test_id, safe="")) if test.test_id else None

    def group(self, group: Group) -> str | None:
        return self._page("/failures/" + quote(group.fingerprint, safe=""))

    def build(self, build_id: str) -> str | None:
        return self._page("/builds/" + quote(build_id, safe=""))


def _title(summary: Summary) -> str:
    if summary.is_build:
        what = f"build {summary.build_id}"
    else:
        what = f"run {summary.run_id[:12]}" if summary.run_id else "run"
    return f"{summary.project} · {what}" if summary.project else what


def _verdict(totals: Totals) -> str:
    if totals.tests == 0:
        return "no tests ran"
    if totals.ok:
        return f"{totals.passed + totals.xpassed} of {totals.tests} tests passed"
    failing = totals.failed + totals.errors
    return f"{failing} of {totals.tests} tests failed"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def _shown_counts(totals: Totals) -> list[str]:
    """The counts worth a column: tests, passed, failed always; the others when not 0."""
    return [
        name for name in COUNTS if name in ("tests", "passed", "failed") or getattr(totals, name)
    ]


# -- Markdown ------------------------------------------------------------------------------


#: The last line when something was left out for the byte budget (room is kept for it).
CUT = "*Cut short to stay under GitHub's 1 MiB limit for a step's summary: see the run's page.*"


class _Budget:
    """Markdown lines, while they fit in the byte budget; blocks that do not are left out
    (and :data:`CUT` says so at the end). Every line goes through :meth:`block` or
    :meth:`fits`, and what a section must end with is reserved before it starts, so the
    document never exceeds the budget."""

    def __init__(self, limit: int) -> None:
        self.lines: list[str] = []
        self.left = limit - len(CUT.encode()) - 2
        self.cut = False

    @staticmethod
    def size(lines: list[str]) -> int:
        return sum(len(line.encode()) + 1 for line in lines)

    def fits(self, lines: list[str], reserve: int = 0) -> bool:
        if self.size(lines) + reserve <= self.left:
            return True
        self.cut = True
        return False

    def add(self, lines: list[str]) -> None:
        self.lines.extend(lines)
        self.left -= self.size(lines)

    def block(self, lines: list[str]) -> None:
        """All of ``lines``, or none."""
        if self.fits(lines):
            self.add(lines)

    def text(self) -> str:
        if self.cut:
            self.lines.append(CUT)
        return "\n".join(self.lines).rstrip("\n") + "\n"


def _section(out: _Budget, opening: list[str], rows: list[str], count: int, more: str) -> None:
    """``opening``, as many of ``rows`` as fit, ``more`` (formatted with how many of
    ``count`` were left out) if any were, and the closing that ``opening`` needs."""
    collapsed = opening[0].startswith("<details>")
    closing = ["", "</details>", ""] if collapsed else [""]
    reserve = out.size([more.format(count), *closing])
    if not out.fits(opening, reserve):
        return
    out.add(opening)
    shown = 0
    for row in rows:
        if not out.fits([row], reserve):
            break
        out.add([row])
        shown += 1
    out.add([more.format(count - shown)] if shown < count else [])
    out.add(closing)


def _heading(title: str, collapse: bool) -> str:
    return f"<details><summary><strong>{title}</strong></summary>" if collapse else f"### {title}"


def _md_link(text: str, url: str | None) -> str:
    # ``text`` is escaped already; ``url`` is the server's, its parts percent-encoded.
    return f"[{text}]({url})" if url else text


def _md_test(test: TestEntry, links: _Links, with_run: bool) -> str:
    line = "- " + _md_link(escape_markdown(test.label), links.test(test))
    if test.status and test.status not in ("failed", "passed"):
        line += f" ({escape_markdown(test.status)})"
    if with_run and test.run_id:
        line += f" in run {_md_link(escape_markdown(test.run_id[:12]), links.run(test.run_id))}"
    if test.message:
        # Not a code span: one cannot hold an escape, and a backtick in the message ends it.
        line += f": {escape_markdown(test.message)}"
    return line


def _md_list(
    out: _Budget, title: str, tests: TestList, links: _Links, with_run: bool, collapse: bool
) -> None:
    if not tests.count:
        return
    heading = _heading(f"{title} ({tests.count})", collapse and tests.count > OPEN_MAX)
    rows = [_md_test(test, links, with_run) for test in tests.tests[:LIST_MAX]]
    _section(out, [heading, ""], rows, tests.count, "- … and {} more")


def _md_groups(out: _Budget, groups: tuple[Group, ...], links: _Links) -> None:
    if not groups:
        return
    rows = []
    for group in groups[:GROUP_MAX]:
        error = _md_link(escape_markdown(group.error_type or "failure", 100), links.group(group))
        rows.append(f"| {group.count} | {error} | {escape_markdown(group.message, 200)} |")
    opening = [
        "### Top failure groups",
        "",
        "| Failures | Error | Message |",
        "| ---: | --- | --- |",
    ]
    _section(out, opening, rows, len(groups), "| | … and {} more | |")


def _md_totals(out: _Budget, summary: Summary) -> None:
    totals = summary.totals
    names = _shown_counts(totals)
    header = [_LABELS[name] for name in names]
    values = [str(getattr(totals, name)) for name in names]
    if totals.duration is not None:
        header.append("Duration")
        values.append(_duration(totals.duration))
    out.block(
        [
            "| " + " | ".join(header) + " |",
            "|" + " ---: |" * len(header),
            "| " + " | ".join(values) + " |",
            "",
        ]
    )


def _md_runs(out: _Budget, summary: Summary, links: _Links) -> None:
    if not summary.is_build or not summary.runs:
        return
    heading = _heading(f"Runs ({len(summary.runs)})", len(summary.runs) > OPEN_MAX)
    opening = [
        heading,
        "",
        "| Run | Branch | Tests | Failed | Errors |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    rows = []
    for run in summary.runs[:LIST_MAX]:
        totals = run.totals or Totals()
        name = _md_link(escape_markdown(run.run_id[:12]), links.run(run.run_id))
        rows.append(
            f"| {name} | {escape_markdown(run.branch, 100)} "
            f"| {totals.tests} | {totals.failed} | {totals.errors} |"
        )
    _section(out, opening, rows, len(summary.runs), "| … and {} more | | | | |")


def markdown(summary: Summary, max_bytes: int = MAX_BYTES) -> str:
    """GitHub-flavoured Markdown of at most ``max_bytes`` UTF-8 bytes."""
    links = _Links(summary)
    out = _Budget(max_bytes)
    totals = summary.totals
    icon = ":x:" if not totals.ok else ":white_check_mark:"
    title = escape_markdown(_title(summary), 400)
    target = summary.is_build and links.build(summary.build_id or "")
    target = target or (summary.run_id and links.run(summary.run_id)) or None
    out.block([f"## {icon} {_md_link(title, target)}: {_verdict(totals)}", ""])
    if summary.notice:
        out.block(["> [!WARNING]", f"> {escape_markdown(summary.notice, 1000)}", ""])
    where = [f"branch {escape_markdown(summary.branch, 200)}"] if summary.branch else []
    if summary.git_sha:
        where.append(f"commit {escape_markdown(summary.git_sha[:12])}")
    if summary.build_id and not summary.is_build:
        build = escape_markdown(summary.build_id, 200)
        where.append(f"one job of build {_md_link(build, links.build(summary.build_id))}")
    if where:
        out.block([" · ".join(where), ""])
    _md_totals(out, summary)
    if summary.base is not None:
        base = summary.base
        on = f" on branch {escape_markdown(base.branch, 200)}" if base.branch else ""
        if base.build_id and base.runs > 1:
            name = _md_link(escape_markdown(base.build_id, 200), links.build(base.build_id))
            out.block([f"Compared with build {name} ({base.runs} runs){on}.", ""])
        else:
            name = _md_link(escape_markdown(base.run_id[:12]), links.run(base.run_id))
            out.block([f"Compared with run {name}{on}.", ""])
    elif summary.new_failures is None:
        out.block(["Not compared with an earlier run.", ""])
    else:
        out.block(["No earlier run to compare with.", ""])
    with_run = summary.is_build
    if summary.new_failures is not None:
        _md_list(out, "New failures", summary.new_failures, links, with_run, collapse=False)
        # The other failures, when it tells more than the new ones did.
        if summary.failures.count > summary.new_failures.count:
            _md_list(out, "All failures", summary.failures, links, with_run, collapse=True)
    else:
        _md_list(out, "Failures", summary.failures, links, with_run, collapse=False)
    if summary.fixed is not None:
        _md_list(out, "Fixed", summary.fixed, links, with_run, collapse=True)
    _md_list(out, "Flaky (passed on a rerun)", summary.flaky, links, with_run, collapse=True)
    _md_list(out, "Quarantined failures", summary.quarantined, links, with_run, collapse=True)
    _md_groups(out, summary.groups, links)
    _md_runs(out, summary, links)
    return out.text()


# -- plain text ----------------------------------------------------------------------------


def _text_list(
    lines: list[str], title: str, tests: TestList, links: _Links, with_run: bool
) -> None:
    if not tests.count:
        return
    lines.append(f"{title} ({tests.count}):")
    for test in tests.tests[:LIST_MAX]:
        line = f"  {one_line(test.label)}"
        if with_run and test.run_id:
            line += f" [run {test.run_id[:12]}]"
        if test.message:
            line += f": {one_line(test.message)}"
        lines.append(line)
        url = links.test(test)
        if url:
            lines.append(f"    {url}")
    shown = min(len(tests.tests), LIST_MAX)
    if shown < tests.count:
        lines.append(f"  … and {tests.count - shown} more")


def text(summary: Summary) -> str:
    """Plain text for a terminal: no markup, one test per line (and its page's URL)."""
    links = _Links(summary)
    totals = summary.totals
    lines = [f"{one_line(_title(summary), 400)}: {_verdict(totals)}"]
    if summary.notice:
        lines.append(f"Note: {one_line(summary.notice, 2000)}")
    page = (summary.is_build and links.build(summary.build_id or "")) or (
        summary.run_id and links.run(summary.run_id)
    )
    if page:
        lines.append(page)
    counts = [f"{getattr(totals, name)} {name}" for name in _shown_counts(totals)]
    if totals.duration is not None:
        counts.append(f"in {_duration(totals.duration)}")
    lines.append(", ".join(counts))
    if summary.base is not None:
        on = f" on branch {one_line(summary.base.branch)}" if summary.base.branch else ""
        base = summary.base
        if base.build_id and base.runs > 1:
            what = f"build {one_line(base.build_id)} ({base.runs} runs)"
        else:
            what = f"run {base.run_id}"
        lines.append(f"Compared with {what}{on}.")
    elif summary.new_failures is None:
        lines.append("Not compared with an earlier run.")
    if summary.new_failures is not None:
        _text_list(lines, "New failures", summary.new_failures, links, summary.is_build)
        if summary.failures.count > summary.new_failures.count:
            _text_list(lines, "All failures", summary.failures, links, summary.is_build)
    else:
        _text_list(lines, "Failures", summary.failures, links, summary.is_build)
    if summary.fixed is not None:
        _text_list(lines, "Fixed", summary.fixed, links, summary.is_build)
    _text_list(lines, "Flaky (passed on a rerun)", summary.flaky, links, summary.is_build)
    _text_list(lines, "Quarantined failures", summary.quarantined, links, summary.is_build)
    if summary.groups:
        lines.append("Top failure groups:")
        for group in summary.groups[:GROUP_MAX]:
            lines.append(
                f"  {group.count} x {one_line(group.error_type or 'failure', 100)}: "
                f"{one_line(group.message, 200)}"
            )
    if summary.is_build and summary.runs:
        lines.append(f"Runs ({len(summary.runs)}):")
        for run in summary.runs[:LIST_MAX]:
            run_totals = run.totals or Totals()
            lines.append(
                f"  {run.run_id}: {run_totals.tests} tests, {run_totals.failed} failed, "
                f"{run_totals.errors} errors"
            )
        if len(summary.runs) > LIST_MAX:
            lines.append(f"  … and {len(summary.runs) - LIST_MAX} more")
    return "\n".join(lines) + "\n"


# -- GitHub Actions workflow commands ------------------------------------------------------


def _annotation(test: TestEntry, title: str, links: _Links) -> str:
    properties = []
    if test.file:
        properties.append(f"file={escape_property(test.file)}")
        if test.line:
            properties.append(f"line={test.line}")
    properties.append(f"title={escape_property(one_line(f'{title}: {test.label}', 400))}")
    message = test.message.strip() if test.message else test.status or "failed"
    url = links.test(test)
    if url:
        message += f"\n{url}"
    return f"::error {','.join(properties)}::{escape_data(message[:4000])}"


def github(summary: Summary, max_annotations: int = DEFAULT_MAX_ANNOTATIONS) -> str:
    """``::error`` commands for the new failures (for every failure when nothing was
    compared), at most ``max_annotations``, and a ``::notice`` with the totals."""
    links = _Links(summary)
    if summary.new_failures is not None:
        tests, title = summary.new_failures, "New failure"
    else:
        tests, title = summary.failures, "Failure"
    lines = [_annotation(test, title, links) for test in tests.tests[:max_annotations]]
    left = tests.count - len(lines)
    verdict = f"{_title(summary)}: {_verdict(summary.totals)}"
    if left > 0:
        verdict += f" ({left} more {title.lower()}s not annotated)"
    page = (summary.is_build and links.build(summary.build_id or "")) or (
        summary.run_id and links.run(summary.run_id)
    )
    if page:
        verdict += f"\n{page}"
    if summary.notice:
        verdict += f"\n{summary.notice}"
    lines.append(f"::notice title={escape_property('testviz')}::{escape_data(verdict)}")
    return ("\n".join(lines) + "\n").encode("utf-8", "replace").decode("utf-8")


def render(summary: Summary, format: str, max_annotations: int = DEFAULT_MAX_ANNOTATIONS) -> str:
    """``summary`` in one of :data:`FORMATS`."""
    if format == "markdown":
        return markdown(summary)
    if format == "text":
        return text(summary)
    if format == "github":
        return github(summary, max_annotations)
    raise ValueError(f"unknown format {format!r}: expected one of {', '.join(FORMATS)}")
