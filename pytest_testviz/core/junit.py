"""Streaming, hardened reading of JUnit XML from any producer.

:class:`JUnitReader` feeds the report to libxml2 (through lxml) chunk by chunk, with a parser
*target*: libxml2 calls back for each start tag (with its attributes), end tag and piece of
text, and no tree is built at all, so a report of a million testcases never sits in memory.
It yields one :class:`TestResult` per ``<testcase>`` element (repeats included: folding
retries into one test needs the whole report, see :mod:`pytest_testviz.core.report`).

Hostile input is refused, never expanded: a DTD (``<!DOCTYPE``) in the prolog is rejected
before parsing starts, and any other the parser meets stops it; external entities and network
access are off, and libxml2's own amplification limits stay on.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Iterator, Mapping
from typing import IO, Union

from lxml import etree

from .errors import JUnitParseError
from .fingerprint import error_fingerprint, error_type_of
from .identity import class_prefix, test_id
from .names import infer_path, split_params
from .results import (
    SEVERITY,
    SUBTESTS_SUMMARY,
    Attempt,
    DeclaredTotals,
    Status,
    Suite,
    TestResult,
    cap_text,
)

ReportSource = Union[str, "os.PathLike[str]", bytes, IO[bytes]]

DEFAULT_MAX_OUTPUT = 64 * 1024
_CHUNK = 1 << 20
_MAX_DEPTH = 256
#: Elements nested deeper than this are refused: no JUnit producer comes near it, and a
#: hostile report would make every open element cost memory (huge_tree lifts libxml2's own
#: limit, which long system-out needs).
_MAX_ELEMENT_DEPTH = 2048  # libxml2's own limit under XML_PARSE_HUGE
_INF = math.inf
_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")
_ROOTS = ("testsuites", "testsuite")
_RESULT_STATUS: dict[str, Status] = {"failure": "failed", "error": "error", "skipped": "skipped"}
_FLAKY_TAGS = {"flakyFailure": "failed", "flakyError": "error"}
_RERUN_TAGS = {"rerunFailure": "failed", "rerunError": "error"}
_ATTEMPT_TAGS = {**_FLAKY_TAGS, **_RERUN_TAGS}
#: The children of a testcase that are read: results, retries, output and properties.
_CHILD_TAGS = frozenset((*_RESULT_STATUS, *_ATTEMPT_TAGS, "system-out", "system-err", "properties"))
# A testcase ``status`` attribute, for producers that use one instead of child elements.
_STATUS_ATTRIBUTE: dict[str, Status] = {
    "disabled": "skipped",
    "notrun": "skipped",
    "not_run": "skipped",
    "skipped": "skipped",
    "skip": "skipped",
    "ignored": "skipped",
    "pending": "skipped",
    "todo": "skipped",
    "notrunnable": "skipped",
    "inconclusive": "skipped",
    "failed": "failed",
    "fail": "failed",
    "failure": "failed",
    "error": "error",
    "errored": "error",
    "broken": "error",
}
_HARDENED = {
    "resolve_entities": False,
    "load_dtd": False,
    "no_network": True,
    "huge_tree": True,  # long system-out is normal; suite depth is bounded by _MAX_DEPTH
    "remove_comments": True,
    "remove_pis": True,
}


def source_name(source: ReportSource) -> str:
    """How a source is named in error messages."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, bytes):
        return "<bytes>"
    return str(getattr(source, "name", "<stream>"))


class _Frame:
    """An open ``<testsuite>``: its path, whether its test names are unique ids, its depth."""

    __slots__ = ("depth", "foldable", "suite")

    def __init__(self, suite: Suite, foldable: bool, depth: int) -> None:
        self.suite = suite
        self.foldable = foldable
        self.depth = depth


class JUnitReader:
    """Iterate a JUnit XML report's testcases; afterwards ``suites`` and ``declared`` are set.

    ``project`` is part of every ``test_id``. ``max_output`` caps the characters kept of each
    testcase's ``system-out`` and ``system-err`` (the cut is noted in the kept text).
    """

    def __init__(
        self,
        source: ReportSource,
        *,
        project: str = "default",
        max_output: int = DEFAULT_MAX_OUTPUT,
        name: str | None = None,
    ) -> None:
        self.source = source
        self.name = name or source_name(source)
        self.project = project
        self.max_output = max_output
        self.suites: list[Suite] = []
        self.declared = DeclaredTotals()
        self.root_tag: str | None = None
        #: SHA-256 of the report's bytes, set once it has been read to the end.
        self.sha256: bytes | None = None
        #: Testcase elements with neither name nor classname: not a test, but worth a signal.
        self.nameless = 0
        self._seen: dict[str, int] = {}
        #: The ``file`` attribute of each identity's first testcase, where the report has one.
        self._files: dict[str, str] = {}
        #: Per classname: the file it implies and the hashed identity prefix (tests share them).
        self._classes: dict[str, tuple[str | None, bool, hashlib._Hash]] = {}
        #: The chunks read before the root element, to find its line if it is refused.
        self._head: list[bytes] = []

    # -- reading ------------------------------------------------------------------------

    def __iter__(self) -> Iterator[TestResult]:
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[list[TestResult]]:
        """The testcases in lists, one for each chunk of the report read (cheaper to collect)."""
        if isinstance(self.source, (str, os.PathLike)):
            try:
                stream: IO[bytes] = open(self.source, "rb")  # noqa: SIM115 - closed below
            except OSError as exc:
                raise JUnitParseError(self.name, f"cannot read the file: {exc.strerror}") from None
            try:
                yield from self._read(stream)
            finally:
                stream.close()
        elif isinstance(self.source, bytes):
            yield from self._read_bytes(self.source)
        else:
            yield from self._read(self.source)

    def _read_bytes(self, data: bytes) -> Iterator[list[TestResult]]:
        digest = hashlib.sha256(data)
        self._check_prolog(data[:_CHUNK])
        handler = _Handler(self)
        parser = etree.XMLParser(target=handler, **_HARDENED)
        for start in range(0, len(data), _CHUNK):
            self._feed(parser, handler, data[start : start + _CHUNK])
            if handler.out:
                yield handler.take()
        yield from self._finish(parser, handler)
        self.sha256 = digest.digest()

    def _read(self, stream: IO[bytes]) -> Iterator[list[TestResult]]:
        digest = hashlib.sha256()
        handler = _Handler(self)
        parser = etree.XMLParser(target=handler, **_HARDENED)
        first = True
        while True:
            try:
                chunk = stream.read(_CHUNK)
            except OSError as exc:
                raise JUnitParseError(self.name, f"cannot read: {exc}") from None
            if not chunk:
                break
            if not isinstance(chunk, bytes):
                raise JUnitParseError(self.name, "the stream must be opened in binary mode")
            digest.update(chunk)
            if first:
                self._check_prolog(chunk)
                first = False
            self._feed(parser, handler, chunk)
            if handler.out:
                yield handler.take()
        yield from self._finish(parser, handler)
        self.sha256 = digest.digest()

    def _check_prolog(self, head: bytes) -> None:
        if head.startswith((b"\xff\xfe", b"\xfe\xff")):
            probe = head.decode("utf-16", "replace").encode("utf-8", "replace")
        else:
            probe = head
        # The prolog is what stands before the root element; a DTD can only be there.
        root = _FIRST_ELEMENT.search(probe)
        prolog = probe[: root.start()] if root else probe
        if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
            line = prolog[: prolog.find(b"<!")].count(b"\n") + 1
            raise JUnitParseError(
                self.name,
                "DOCTYPE and ENTITY declarations are not allowed in a test report "
                "(refused to protect against entity expansion and external entities)",
                line,
            )

    def _feed(self, parser: etree.XMLParser, handler: _Handler, chunk: bytes) -> None:
        if self.root_tag is None:
            self._head.append(chunk)
        try:
            parser.feed(chunk)
        except etree.XMLSyntaxError as exc:
            raise self._syntax_error(exc, parser) from None
        # A foreign root is refused once the chunk that holds it has parsed: malformed XML in
        # that chunk is reported first, as it always has been.
        if handler.refused is not None:
            raise self._wrong_root(handler.refused)
        if self._head and self.root_tag is not None:
            self._head = []

    def _finish(self, parser: etree.XMLParser, handler: _Handler) -> Iterator[list[TestResult]]:
        try:
            parser.close()
        except etree.XMLSyntaxError as exc:
            error = self._syntax_error(exc, parser)
            if (
                self.root_tag is None
                and not self.suites
                and error.line in (None, 1)
                and ("no element found" in error.reason or "empty" in error.reason.lower())
            ):
                raise JUnitParseError(self.name, "the report is empty") from None
            raise error from None
        if handler.refused is not None:
            raise self._wrong_root(handler.refused)
        if handler.out:
            yield handler.take()

    def _syntax_error(
        self, exc: etree.XMLSyntaxError, parser: etree.XMLParser | None = None
    ) -> JUnitParseError:
        if not exc.lineno and parser is not None:
            # lxml's feed parser reports some of libxml2's errors (an undefined entity, when
            # entities are not resolved) as "no element found" at 0:0; its log has the real one.
            logged = parser.feed_error_log.filter_from_errors()
            if logged:
                first = logged[0]
                line = first.line or None
                column = first.column if line and first.column > 0 else None
                return JUnitParseError(self.name, f"malformed XML: {first.message}", line, column)
        message = exc.msg or "not well-formed XML"
        # lxml appends ", line N, column M" to libxml2's reason: the fields carry that.
        cut = message.rfind(", line ")
        if cut > 0:
            message = message[:cut]
        line = exc.lineno or None
        column = (exc.offset + 1) if line and exc.offset is not None and exc.offset >= 0 else None
        return JUnitParseError(self.name, f"malformed XML: {message}", line, column)

    def _wrong_root(self, tag: str) -> JUnitParseError:
        return JUnitParseError(
            self.name,
            f"not a JUnit XML report: the root element is <{tag}>, "
            "expected <testsuites> or <testsuite>",
            self._root_line(),
        )

    def _root_line(self) -> int | None:
        """The line of the root element: the chunks before it, parsed again up to it."""
        finder = etree.XMLPullParser(events=("start",), **_HARDENED)
        for chunk in [*self._head, None]:
            try:
                if chunk is None:
                    finder.close()
                else:
                    finder.feed(chunk)
            except etree.XMLSyntaxError:
                pass
            for _event, element in finder.read_events():
                line: int | None = element.sourceline
                return line
        return None

    def _capped(self, text: str | None) -> str | None:
        return cap_text(text or None, self.max_output)


#: A recorded child of a testcase: its tag, its attributes, and what was read of it (the text
#: of a result or output element, the Attempt of a retry, the dict of a ``properties``).
_Kid = tuple[str, Mapping[str, str], "str | Attempt | dict[str, str] | None"]


class _Handler:
    """The parser target: libxml2 calls ``start``, ``end`` and ``data`` as it reads.

    ``depth`` is the depth of the element being read (the root is 1). The open testcase, its
    open child, and that child's open ``property`` or ``stackTrace`` child are kept with their
    depths (-1 when there is none); text goes to ``buf`` and is joined where it is needed.
    """

    def __init__(self, reader: JUnitReader) -> None:
        self.reader = reader
        self.project = reader.project
        self.classes = reader._classes
        self.seen = reader._seen
        self.files = reader._files
        self.out: list[TestResult] = []
        self.buf: list[str] = []
        self.data = self.buf.append
        self.depth = 0
        self.stack: list[_Frame] = []
        self.frame: _Frame | None = None
        self.root_name = ""
        self.root_declares = False
        #: The root element's tag, if it is not a JUnit report's (refused after the chunk).
        self.refused: str | None = None
        # The open testcase: its attributes and the children read so far.
        self.case: Mapping[str, str] | None = None
        self.case_depth = -1
        self.kids: list[_Kid] | None = None
        # Testcases that hold the open one (a testcase inside a testcase).
        self.outer: list[tuple[Mapping[str, str], int, list[_Kid] | None]] = []
        # The open child of the testcase.
        self.child_tag = ""
        self.child_attrib: Mapping[str, str] = {}
        self.child_depth = -1
        self.child_lead: int | None = None  # len(buf) at its first child element
        self.child_stack: str | None = None  # the text of its last <stackTrace>
        self.child_props: dict[str, str] = {}
        # An open <property> or <stackTrace> (a "leaf": only its own text is read).
        self.leaf_tag = ""
        self.leaf_attrib: Mapping[str, str] = {}
        self.leaf_depth = -1
        self.leaf_start = 0
        self.leaf_lead: int | None = None
        self.leaf_props: dict[str, str] = {}  # where a <property> goes
        # An open <properties> of a testsuite.
        self.props_depth = -1
        self.props: dict[str, str] = {}

    def take(self) -> list[TestResult]:
        out = self.out
        self.out = []
        return out

    # -- callbacks ----------------------------------------------------------------------------

    def start(self, tag: str, attrib: Mapping[str, str]) -> None:
        depth = self.depth = self.depth + 1
        if depth > _MAX_ELEMENT_DEPTH:
            raise JUnitParseError(
                self.reader.name, f"elements nested deeper than {_MAX_ELEMENT_DEPTH} levels"
            )
        if tag == "testcase":
            # The common case first. Its attributes are read only by ``_result``, which
            # decodes an "&" in them (below) itself.
            if depth == 1:
                self._root(tag, attrib)  # refused: a testcase is not a report
            if self.case is not None:
                self.outer.append((self.case, self.case_depth, self.kids))
                self.child_depth = self.leaf_depth = -1
            self.case = attrib
            self.case_depth = depth
            self.kids = None
            self.buf.clear()
            return
        if attrib and "&" in "".join(attrib.values()):
            # libxml2 hands a target "&" in an attribute value as "&#38;" when it does not
            # resolve entities (a raw "&" cannot occur in XML, and no other entity gets here).
            attrib = {key: value.replace("&#38;", "&") for key, value in attrib.items()}
        if depth == 1:
            self._root(tag, attrib)
        if tag == "testsuite":
            self._open_suite(attrib, depth)
        elif depth == self.case_depth + 1:
            if tag in _CHILD_TAGS:
                self.child_tag = tag
                self.child_attrib = attrib
                self.child_depth = depth
                self.child_lead = self.child_stack = None
                if tag == "properties":
                    self.child_props = {}
                self.buf.clear()
        elif depth == self.child_depth + 1:
            if self.child_lead is None:
                self.child_lead = len(self.buf)
            child = self.child_tag
            if (tag == "property" and child == "properties") or (
                tag == "stackTrace" and child in _ATTEMPT_TAGS
            ):
                self._open_leaf(tag, attrib, depth, self.child_props)
        elif depth == self.leaf_depth + 1:
            if self.leaf_lead is None:
                self.leaf_lead = len(self.buf)
        elif tag == "properties":
            frame = self.frame
            if frame is not None and frame.depth == depth - 1:
                self.props_depth = depth
                self.props = {}
        elif tag == "property" and depth == self.props_depth + 1:
            self._open_leaf(tag, attrib, depth, self.props)

    def end(self, tag: str) -> None:
        depth = self.depth
        self.depth = depth - 1
        if depth == self.case_depth:  # the testcase, the common case: inlined
            attrib = self.case
            kids = self.kids
            if self.outer:
                self.case, self.case_depth, self.kids = self.outer.pop()
                if depth == self.case_depth + 1:
                    # Once read, it and the children before it were freed from the outer one.
                    self.kids = None
            else:
                self.case = None
                self.case_depth = -1
            assert attrib is not None
            result = self._result(attrib, kids)
            if result is not None:
                self.out.append(result)
        elif depth == self.child_depth:
            self._end_child()
        elif depth == self.leaf_depth:
            self._end_leaf()
        elif tag == "testsuite" and self.frame is not None and self.frame.depth == depth:
            self._close_suite(depth)
        elif depth == self.props_depth:
            self.props_depth = -1
            frame = self.frame
            if frame is not None:
                frame.suite.properties.update(self.props)
                if _foldable_properties(frame.suite.properties):
                    frame.foldable = True

    def doctype(self, name: str | None, pubid: str | None, system: str | None) -> None:
        raise JUnitParseError(
            self.reader.name, "DOCTYPE declarations are not allowed in a test report"
        )

    def close(self) -> None:
        return None

    # -- structure ----------------------------------------------------------------------------

    def _root(self, tag: str, attrib: Mapping[str, str]) -> None:
        if tag not in _ROOTS:
            self.refused = tag
            return
        reader = self.reader
        reader.root_tag = tag
        if tag == "testsuites":
            self.root_name = attrib.get("name") or ""
            reader.declared = _declared(attrib)
            self.root_declares = reader.declared.tests is not None

    def _open_suite(self, attrib: Mapping[str, str], depth: int) -> None:
        if len(self.stack) >= _MAX_DEPTH:
            raise JUnitParseError(
                self.reader.name, f"suites nested deeper than {_MAX_DEPTH} levels"
            )
        name = attrib.get("name") or ""
        parent = self.frame
        suite = Suite(
            path=(*parent.suite.path, name) if parent else (name,),
            timestamp=attrib.get("timestamp"),
            hostname=attrib.get("hostname"),
            declared=_declared(attrib),
        )
        foldable = (
            name == "pytest"
            or self.root_name.startswith("pytest")
            or (parent is not None and parent.foldable)
        )
        self.frame = _Frame(suite, foldable, depth)
        self.stack.append(self.frame)

    def _close_suite(self, depth: int) -> None:
        frame = self.stack.pop()
        self.frame = self.stack[-1] if self.stack else None
        reader = self.reader
        reader.suites.append(frame.suite)
        if not self.stack and reader.root_tag == "testsuite":
            reader.declared = frame.suite.declared
        elif not self.stack and not self.root_declares:
            # No totals on <testsuites>: add up the top-level suites' headers.
            reader.declared = _sum_declared(reader.declared, frame.suite.declared)
        if depth == self.case_depth + 1:
            # A suite inside a testcase: once read, it and the children before it were freed.
            self.kids = None

    def _open_leaf(
        self, tag: str, attrib: Mapping[str, str], depth: int, props: dict[str, str]
    ) -> None:
        self.leaf_props = props
        self.leaf_tag = tag
        self.leaf_attrib = attrib
        self.leaf_depth = depth
        self.leaf_start = len(self.buf)
        self.leaf_lead = None

    def _end_leaf(self) -> None:
        self.leaf_depth = -1
        buf = self.buf
        lead = len(buf) if self.leaf_lead is None else self.leaf_lead
        text = "".join(buf[self.leaf_start : lead]) or None  # the element's own text
        attrib = self.leaf_attrib
        if self.leaf_tag == "stackTrace":
            self.child_stack = text
            return
        name = attrib.get("name")
        if name is not None:
            value = attrib.get("value")
            self.leaf_props[name] = value if value is not None else (text or "")

    def _end_child(self) -> None:
        self.child_depth = -1
        tag = self.child_tag
        value: str | Attempt | dict[str, str] | None
        if tag == "properties":
            value = self.child_props
        elif tag in _ATTEMPT_TAGS:
            text = self.child_stack
            if text is None and self.child_lead is None:
                text = "".join(self.buf) or None
            attrib = self.child_attrib
            value = Attempt(
                status="error" if _ATTEMPT_TAGS[tag] == "error" else "failed",
                error_type=attrib.get("type"),
                message=attrib.get("message"),
                text=text,
            )
        else:
            value = "".join(self.buf) or None  # all the text inside, nested elements' too
        if self.kids is None:
            self.kids = []
        self.kids.append((tag, self.child_attrib, value))

    # -- one testcase -------------------------------------------------------------------------

    def _result(self, attrib: Mapping[str, str], kids: list[_Kid] | None) -> TestResult | None:
        get = attrib.get
        raw_name = get("name")
        raw_classname = get("classname")
        time = get("time")
        if (
            len(attrib) == 3
            and raw_name is not None
            and raw_classname is not None
            and time
            and "&" not in raw_name
            and "&" not in raw_classname
            and "&" not in time
        ):
            # The common case: no other attribute to look for, and none to decode.
            file = file_attribute = line = status_attribute = value_param = None
        else:
            if "&" in "".join(attrib.values()):
                # libxml2 hands a target "&" in an attribute value as "&#38;" (see ``start``).
                attrib = {key: value.replace("&#38;", "&") for key, value in attrib.items()}
                get = attrib.get
                raw_name = get("name")
                raw_classname = get("classname")
                time = get("time")
            if raw_name is None and raw_classname is None:
                self.reader.nameless += 1
                return None
            file = file_attribute = get("file")
            line = get("line")
            status_attribute = get("status")
            value_param = get("value_param")
        name = raw_name or ""
        classname = raw_classname or ""

        base_name, params = split_params(name, value_param=value_param)
        # What depends on the classname alone: the file it implies, whether that is a Python
        # file, and the identity's hashed prefix.
        cached = self.classes.get(classname)
        if cached is None:
            inferred = infer_path(classname)
            cached = self.classes[classname] = (
                inferred,
                inferred is not None and inferred.endswith(".py"),
                class_prefix(self.project, classname),
            )
        inferred, python, prefix = cached
        if file:
            python = file.endswith(".py")
        else:
            file = inferred
            if file is None and "." in name:
                # A doctest's file is named by its name (``pkg.mod.func``), not its classname.
                file = infer_path(classname, name)

        frame = self.frame
        if frame is None:
            # Python runners (pytest, unittest) name tests uniquely: repeats are retries.
            foldable = python
            suite: tuple[str, ...] = ()
        else:
            foldable = frame.foldable
            suite = frame.suite.path
            if python and not foldable:
                foldable = frame.foldable = True

        # identity.test_id, from the classname's hashed prefix and the name's bytes.
        digest = prefix.copy()
        digest.update(name.encode("utf-8", "surrogatepass"))
        identity = digest.hexdigest()
        seen_key = identity[:32]  # 128 bits tell ids apart; half the memory per testcase
        occurrence = self.seen.get(seen_key, 0) + 1
        self.seen[seen_key] = occurrence
        if file_attribute is not None:
            # A repeat that names another file is another test (xunit1 writes ``file``).
            first_file = self.files.setdefault(seen_key, file_attribute)
            foldable = foldable and first_file == file_attribute
        if occurrence > 1 and not foldable:
            identity = test_id(self.project, classname, name, occurrence)

        if time is None:
            duration = 0.0
        else:
            try:
                duration = float(time)
            except ValueError:
                duration = _seconds(time)
            if not 0.0 <= duration < _INF:  # NaN, infinite or negative: what _seconds does
                duration = 0.0

        outcome = self._outcome(attrib, kids, status_attribute, python)
        status = outcome.status
        error_type = outcome.error_type
        properties = outcome.properties
        if value_param is not None:
            properties.setdefault("value_param", value_param)
        fingerprint = None
        flaky = outcome.flaky
        if status == "failed" or status == "error":
            first_message = outcome.messages[0] if outcome.messages else None
            error_type = error_type_of(error_type, first_message)
            test = f"{classname}::{name}"
            if outcome.subtests_failed:
                # A test with failed subtests is grouped by its first failure, not by the mix.
                first_text = outcome.texts[0] if outcome.texts else None
                fingerprint = error_fingerprint(error_type, first_message, first_text, test)
            else:
                fingerprint = error_fingerprint(error_type, outcome.message, outcome.text, test)
            flaky = False
        else:
            error_type = None
        return TestResult(
            test_id=identity,
            name=name,
            classname=classname,
            base_name=base_name,
            params=params,
            suite=suite,
            status=status,
            duration=duration,
            file=file,
            line=_line(line) if line is not None else None,
            flaky=flaky,
            error_type=error_type,
            message=outcome.message,
            text=outcome.text,
            fingerprint=fingerprint,
            system_out=outcome.system_out,
            system_err=outcome.system_err,
            properties=properties,
            attempts=outcome.attempts,
            occurrence=occurrence,
            subtests_failed=outcome.subtests_failed,
        )

    def _outcome(
        self,
        attrib: Mapping[str, str],
        kids: list[_Kid] | None,
        status_attribute: str | None,
        python: bool,
    ) -> _Outcome:
        """What a testcase's children and ``status`` attribute say: its status and the rest.

        Several ``<failure>`` elements in a Python test are its failed subtests, one each, as
        pytest writes them; elsewhere (GoogleTest's EXPECT_*) they are one test's failures.
        """
        outcome = _Outcome()
        status: Status = "passed"
        error_type = None
        messages: list[str] = []
        texts: list[str] = []
        for tag, child, value in kids or ():
            child_status = _RESULT_STATUS.get(tag)
            if child_status is not None:
                if child_status == "skipped" and child.get("type") == "pytest.xfail":
                    child_status = "xfailed"  # how pytest writes an expected failure
                severity = SEVERITY[child_status]
                if severity > SEVERITY[status]:
                    status = child_status
                    error_type = child.get("type")
                    messages = []
                    texts = []
                if severity == SEVERITY[status]:
                    child_message = child.get("message")
                    summary = SUBTESTS_SUMMARY.match(child_message or "")
                    if tag == "failure" and summary:
                        # pytest's own line for a test whose subtests failed: the failures
                        # before it say more; it gives their count.
                        outcome.subtests_summary = summary[0]
                        outcome.subtests_failed = int(summary[1])
                        continue
                    if child_message:
                        messages.append(child_message)
                    if value:
                        assert isinstance(value, str)
                        texts.append(value)
                    if tag == "failure":
                        outcome.failures += 1
            elif tag in _ATTEMPT_TAGS:
                assert isinstance(value, Attempt)
                outcome.attempts.append(value)
                outcome.flaky = outcome.flaky or tag in _FLAKY_TAGS
            elif tag == "system-out":
                assert not isinstance(value, (Attempt, dict))
                outcome.system_out = self.reader._capped(value)
            elif tag == "system-err":
                assert not isinstance(value, (Attempt, dict))
                outcome.system_err = self.reader._capped(value)
            else:  # properties
                assert isinstance(value, dict)
                outcome.properties.update(value)
        if status == "passed" and status_attribute:
            status = _STATUS_ATTRIBUTE.get(status_attribute.lower(), "passed")
            if status == "skipped" and not messages:
                # A producer's own word for why, where it gives one (gtest's "suppressed").
                messages = [attrib.get("result") or status_attribute]
        if status == "failed" and python and outcome.failures > 1 and not outcome.subtests_summary:
            # unittest's subTest: no summary line from pytest, one <failure> per failed subtest.
            outcome.subtests_failed = outcome.failures
        if outcome.subtests_summary and not messages:
            messages = [outcome.subtests_summary]  # all there is of the subtests' failures
        outcome.status = status
        outcome.error_type = error_type
        outcome.messages = messages
        outcome.texts = texts
        if messages:
            outcome.message = "\n".join(messages)
        if texts:
            outcome.text = ("\n\n" if outcome.subtests_failed else "\n").join(texts)
        if status in ("skipped", "xfailed") and not outcome.message and outcome.text:
            outcome.message, outcome.text = outcome.text.strip() or None, None
        return outcome


class _Outcome:
    """What one testcase's children say, gathered by :meth:`_Handler._outcome`."""

    __slots__ = (
        "attempts",
        "error_type",
        "failures",
        "flaky",
        "message",
        "messages",
        "properties",
        "status",
        "subtests_failed",
        "subtests_summary",
        "system_err",
        "system_out",
        "text",
        "texts",
    )

    def __init__(self) -> None:
        self.status: Status = "passed"
        self.error_type: str | None = None
        self.message: str | None = None
        self.text: str | None = None
        #: Each failure's (or the final status's) message and text, in order.
        self.messages: list[str] = []
        self.texts: list[str] = []
        self.system_out: str | None = None
        self.system_err: str | None = None
        self.attempts: list[Attempt] = []
        self.properties: dict[str, str] = {}
        self.flaky = False
        self.failures = 0
        self.subtests_failed = 0
        #: pytest's "contains N failed subtests", where it wrote one.
        self.subtests_summary: str | None = None


# -- attribute helpers --------------------------------------------------------------------


def _foldable_properties(properties: dict[str, str]) -> bool:
    """Producers whose names are unique test ids: Go's (go.version) and this project's."""
    return "go.version" in properties or "testviz.producer" in properties


def _seconds(value: str | None) -> float:
    """A ``time`` attribute in seconds; lenient, since producers write odd things here."""
    if not value:
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = float(value.replace(",", "").rstrip("s").strip())
        except ValueError:
            return 0.0
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        return 0.0
    return seconds


#: Counts and line numbers beyond this are nonsense, and would not fit a 32-bit column.
_MAX_COUNT = 2**31 - 1


def _line(value: str | None) -> int | None:
    if value and len(value) <= 10 and value.isascii() and value.isdigit():
        line = int(value)
        return line if line <= _MAX_COUNT else None
    return None


def _int(value: str | None) -> int | None:
    """A declared count; ``None`` for anything that is not a sensible whole number."""
    if value is None or len(value) > 32:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if not math.isfinite(number) or not 0 <= number <= _MAX_COUNT:
        return None
    return int(number)


def _declared(element: Mapping[str, str]) -> DeclaredTotals:
    skipped = _int(element.get("skipped"))
    if skipped is None:
        skipped = _int(element.get("skips"))
    disabled = _int(element.get("disabled"))
    if disabled:
        skipped = (skipped or 0) + disabled
    return DeclaredTotals(
        tests=_int(element.get("tests")),
        failures=_int(element.get("failures")),
        errors=_int(element.get("errors")),
        skipped=skipped,
    )


def _sum_declared(total: DeclaredTotals, suite: DeclaredTotals) -> DeclaredTotals:
    if suite.tests is None:
        return total
    return DeclaredTotals(
        tests=(total.tests or 0) + (suite.tests or 0),
        failures=(total.failures or 0) + (suite.failures or 0),
        errors=(total.errors or 0) + (suite.errors or 0),
        skipped=(total.skipped or 0) + (suite.skipped or 0),
    )
