"""Streaming, hardened reading of JUnit XML from any producer.

:class:`JUnitReader` walks a report testcase by testcase with lxml's pull parser and frees
each element once read, so a report of a million testcases never sits in memory as a tree.
It yields one :class:`TestResult` per ``<testcase>`` element (repeats included: folding
retries into one test needs the whole report, see :mod:`pytest_testviz.core.report`).

Hostile input is refused, never expanded: a DTD (``<!DOCTYPE``) in the prolog is rejected
before parsing starts, and any other the parser meets when it reaches the root; external
entities and network access are off, and libxml2's own amplification limits stay on.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Iterator
from typing import IO, Union

from lxml import etree

from .errors import JUnitParseError
from .fingerprint import error_fingerprint, error_type_of
from .identity import ClassIdentity, test_id
from .names import infer_path, split_params
from .results import SEVERITY, Attempt, DeclaredTotals, Status, Suite, TestResult, cap_text

ReportSource = Union[str, "os.PathLike[str]", bytes, IO[bytes]]

DEFAULT_MAX_OUTPUT = 64 * 1024
_CHUNK = 1 << 20
_MAX_DEPTH = 256
_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")
_ROOTS = ("testsuites", "testsuite")
_RESULT_STATUS: dict[str, Status] = {"failure": "failed", "error": "error", "skipped": "skipped"}
_FLAKY_TAGS = {"flakyFailure": "failed", "flakyError": "error"}
_RERUN_TAGS = {"rerunFailure": "failed", "rerunError": "error"}
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


def source_name(source: ReportSource) -> str:
    """How a source is named in error messages."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, bytes):
        return "<bytes>"
    return str(getattr(source, "name", "<stream>"))


class _Frame:
    """An open ``<testsuite>``: its path, and whether its test names are unique ids."""

    __slots__ = ("foldable", "suite")

    def __init__(self, suite: Suite, foldable: bool) -> None:
        self.suite = suite
        self.foldable = foldable


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
        #: Per classname: the file it implies and the hashed identity prefix (tests share them).
        self._classes: dict[str, tuple[str | None, ClassIdentity]] = {}
        self._stack: list[_Frame] = []
        self._root_name = ""
        self._root_declares = False

    # -- reading ------------------------------------------------------------------------

    def __iter__(self) -> Iterator[TestResult]:
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

    def _read_bytes(self, data: bytes) -> Iterator[TestResult]:
        digest = hashlib.sha256(data)
        self._check_prolog(data[:_CHUNK])
        parser = self._parser()
        for start in range(0, len(data), _CHUNK):
            self._feed(parser, data[start : start + _CHUNK])
            yield from self._drain(parser)
        yield from self._finish(parser)
        self.sha256 = digest.digest()

    def _read(self, stream: IO[bytes]) -> Iterator[TestResult]:
        digest = hashlib.sha256()
        parser = self._parser()
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
            self._feed(parser, chunk)
            yield from self._drain(parser)
        yield from self._finish(parser)
        self.sha256 = digest.digest()

    def _parser(self) -> etree.XMLPullParser:
        return etree.XMLPullParser(
            events=("start", "end"),
            tag=("testsuites", "testsuite", "testcase", "properties"),
            resolve_entities=False,
            load_dtd=False,
            no_network=True,
            huge_tree=True,  # long system-out is normal; depth is bounded by _MAX_DEPTH
            remove_comments=True,
            remove_pis=True,
        )

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

    def _feed(self, parser: etree.XMLPullParser, chunk: bytes) -> None:
        try:
            parser.feed(chunk)
        except etree.XMLSyntaxError as exc:
            raise self._syntax_error(exc, parser) from None

    def _finish(self, parser: etree.XMLPullParser) -> Iterator[TestResult]:
        try:
            root = parser.close()
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
        yield from self._drain(parser)
        if self.root_tag is None:
            self._check_root(root)

    def _syntax_error(
        self, exc: etree.XMLSyntaxError, parser: etree.XMLPullParser | None = None
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

    def _check_root(self, element: etree._Element) -> None:
        root = element
        while (parent := root.getparent()) is not None:
            root = parent
        tag = root.tag if isinstance(root.tag, str) else "?"
        if root.getroottree().docinfo.internalDTD is not None:
            raise JUnitParseError(
                self.name, "DOCTYPE declarations are not allowed in a test report"
            )
        if tag not in _ROOTS:
            raise JUnitParseError(
                self.name,
                f"not a JUnit XML report: the root element is <{tag}>, "
                "expected <testsuites> or <testsuite>",
                root.sourceline,
            )
        self.root_tag = tag

    # -- events ---------------------------------------------------------------------------

    def _drain(self, parser: etree.XMLPullParser) -> Iterator[TestResult]:
        try:
            for event, element in parser.read_events():
                tag = element.tag
                if event == "start":
                    if self.root_tag is None:
                        self._check_root(element)
                    if tag == "testsuite":
                        self._open_suite(element)
                    elif tag == "testsuites" and element.getparent() is None:
                        self._root_name = element.get("name") or ""
                        self.declared = _declared(element)
                        self._root_declares = self.declared.tests is not None
                elif tag == "testcase":
                    result = self._testcase(element)
                    if result is not None:
                        yield result
                    _free(element)
                elif tag == "testsuite":
                    self._close_suite(element)
                elif tag == "properties":
                    parent = element.getparent()
                    if parent is not None and parent.tag == "testsuite" and self._stack:
                        frame = self._stack[-1]
                        frame.suite.properties.update(_properties(element))
                        if _foldable_properties(frame.suite.properties):
                            frame.foldable = True
        except etree.XMLSyntaxError as exc:
            raise self._syntax_error(exc) from None

    def _open_suite(self, element: etree._Element) -> None:
        if len(self._stack) >= _MAX_DEPTH:
            raise JUnitParseError(
                self.name, f"suites nested deeper than {_MAX_DEPTH} levels", element.sourceline
            )
        name = element.get("name") or ""
        parent_path = self._stack[-1].suite.path if self._stack else ()
        suite = Suite(
            path=(*parent_path, name),
            timestamp=element.get("timestamp"),
            hostname=element.get("hostname"),
            declared=_declared(element),
        )
        foldable = (
            name == "pytest"
            or self._root_name.startswith("pytest")
            or (bool(self._stack) and self._stack[-1].foldable)
        )
        self._stack.append(_Frame(suite, foldable))

    def _close_suite(self, element: etree._Element) -> None:
        if self._stack:
            frame = self._stack.pop()
            self.suites.append(frame.suite)
            if not self._stack and self.root_tag == "testsuite":
                self.declared = frame.suite.declared
            elif not self._stack and not self._root_declares:
                # No totals on <testsuites>: add up the top-level suites' headers.
                self.declared = _sum_declared(self.declared, frame.suite.declared)
        _free(element)

    def _testcase(self, element: etree._Element) -> TestResult | None:
        attrib = element.attrib
        raw_name = attrib.get("name")
        raw_classname = attrib.get("classname")
        if raw_name is None and raw_classname is None:
            self.nameless += 1
            return None
        name = raw_name or ""
        classname = raw_classname or ""
        frame = self._stack[-1] if self._stack else None

        status: Status = "passed"
        error_type = message = text = None
        messages: list[str] = []
        texts: list[str] = []
        attempts: list[Attempt] = []
        flaky = False
        system_out = system_err = None
        properties: dict[str, str] = {}
        for child in element if len(element) else ():  # most testcases have no children
            tag = child.tag
            child_status = _RESULT_STATUS.get(tag)
            if child_status is not None:
                severity = SEVERITY[child_status]
                if severity > SEVERITY[status]:
                    status = child_status
                    error_type = child.get("type")
                    messages = []
                    texts = []
                if severity == SEVERITY[status]:
                    child_message = child.get("message")
                    child_text = _text(child)
                    if child_message:
                        messages.append(child_message)
                    if child_text:
                        texts.append(child_text)
            elif tag in _FLAKY_TAGS:
                attempts.append(_attempt(child, _FLAKY_TAGS[tag]))
                flaky = True
            elif tag in _RERUN_TAGS:
                attempts.append(_attempt(child, _RERUN_TAGS[tag]))
            elif tag == "system-out":
                system_out = self._capped(_text(child))
            elif tag == "system-err":
                system_err = self._capped(_text(child))
            elif tag == "properties":
                properties.update(_properties(child))

        if status == "passed":
            status = _STATUS_ATTRIBUTE.get((attrib.get("status") or "").lower(), "passed")
            if status == "skipped" and not messages:
                # A producer's own word for why, where it gives one (e.g. gtest's "suppressed").
                reason = attrib.get("result") or attrib.get("status")
                messages = [reason] if reason else []
        if messages:
            message = "\n".join(messages)
        if texts:
            text = "\n".join(texts)
        if status == "skipped" and not message and text:
            message, text = text.strip() or None, None

        cached = self._classes.get(classname)
        if cached is None:
            cached = self._classes[classname] = (
                infer_path(classname),
                ClassIdentity(self.project, classname),
            )
        inferred, identities = cached
        file = attrib.get("file") or inferred
        foldable = frame.foldable if frame else False
        if not foldable and file is not None and file.endswith(".py"):
            # Python runners (pytest, unittest) name tests uniquely: repeats are retries.
            foldable = True
            if frame:
                frame.foldable = True

        base_id = identities.test_id(name)
        seen_key = base_id[:32]  # 128 bits tell ids apart; half the memory per testcase
        occurrence = self._seen.get(seen_key, 0) + 1
        self._seen[seen_key] = occurrence
        identity = base_id
        if occurrence > 1 and not foldable:
            identity = test_id(self.project, classname, name, occurrence)

        value_param = attrib.get("value_param")
        if value_param is not None:
            properties.setdefault("value_param", value_param)
        base_name, params = split_params(name, value_param=value_param)
        failed = status in ("failed", "error")
        if failed:
            error_type = error_type_of(error_type, message)
        return TestResult(
            test_id=identity,
            name=name,
            classname=classname,
            base_name=base_name,
            params=params,
            suite=frame.suite.path if frame else (),
            status=status,
            duration=_seconds(attrib.get("time")),
            file=file,
            line=_line(attrib.get("line")),
            flaky=flaky and not failed,
            error_type=error_type if failed else None,
            message=message,
            text=text,
            fingerprint=error_fingerprint(error_type, message, text) if failed else None,
            system_out=system_out,
            system_err=system_err,
            properties=properties,
            attempts=attempts,
            occurrence=occurrence,
        )

    def _capped(self, text: str | None) -> str | None:
        return cap_text(text or None, self.max_output)


# -- element helpers ----------------------------------------------------------------------


def _free(element: etree._Element) -> None:
    """Release a finished element and the siblings before it (the streaming part)."""
    element.clear(keep_tail=True)
    parent = element.getparent()
    if parent is not None:
        while element.getprevious() is not None:
            del parent[0]


def _text(element: etree._Element) -> str | None:
    text: str | None = "".join(element.itertext()) or None if len(element) else element.text
    return text


def _attempt(element: etree._Element, status: str) -> Attempt:
    text = None
    for child in element:
        if child.tag == "stackTrace":
            text = child.text
    if text is None and not len(element):
        text = element.text
    return Attempt(
        status="error" if status == "error" else "failed",
        error_type=element.get("type"),
        message=element.get("message"),
        text=text,
    )


def _properties(element: etree._Element) -> dict[str, str]:
    found: dict[str, str] = {}
    for prop in element:
        if prop.tag == "property":
            name = prop.get("name")
            if name is not None:
                found[name] = (
                    prop.get("value") if prop.get("value") is not None else (prop.text or "")
                )
    return found


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


def _declared(element: etree._Element) -> DeclaredTotals:
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
