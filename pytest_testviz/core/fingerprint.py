"""Error fingerprints: one short hash per distinct *cause* of a failure.

A fingerprint hashes the exception type, the normalised message, and the frames from the raise
site outward. Two failures get the same fingerprint when they differ only in incidental detail
(line numbers, memory addresses, object ids, timestamps, durations, UUIDs, temporary paths,
PIDs and ports) or only in which test reached the cause. Everything else stays significant, so
``assert x == 3`` and ``assert x == 4`` do not collide, and neither do a ``KeyError`` and an
``AssertionError``.

* A message that says nothing specific (the "Failed" that Go's reporters write for every
  failure, an empty one, a bare exception type) gives way to the first lines of the text that
  do say something, Go's ``=== RUN``/``--- FAIL:`` scaffolding skipped.
* The test functions' frames are left out, so one cause reached from many tests is one group;
  unless the failure is raised in the test itself (a plain ``assert``, or an assertion helper
  the test called): then the test's frames are the cause, and each test keeps its own group.
* A failed doctest is read from pytest's doctest report, whose message names only the kind of
  failure: the exception's type and message, or the expected and actual output, and the
  doctest's file name.
"""

from __future__ import annotations

import functools
import hashlib
import re
from typing import Any

FINGERPRINT_LENGTH = 16
_MAX_FRAMES = 30
_MAX_TEXT = 64 * 1024

# Temporary directories, pytest's tmp_path included: /tmp/pytest-of-me/pytest-12/test_x0/f
_TMP = re.compile(
    # At most 12 leading segments: an unbounded lazy loop here is quadratic in a long path.
    r"(?<![\w.-])(?:[A-Za-z]:)?[\\/]?(?:[\w.-]+[\\/]){0,12}?"
    r"(?:tmp|temp|Temp|TEMP|var[\\/]folders|pytest-of-[\w.-]+)[\\/][^\s'\"<>:,)\]]*"
)
_DIGIT = re.compile(r"\d")

# Every mask below needs a digit to match, so a message without one skips them all. Order
# matters: the broad patterns (timestamps) run before the narrow ones (numbers after "line").
_UUID = re.compile(
    r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)
# The patterns that begin with ``\b`` and a digit are written as a digit followed by a look
# back at the character before it, which matches the same text: a pattern that starts with a
# character class lets the regex engine skip to the next digit in C.
_DATE = re.compile(
    r"\d(?<!\w\d)\d{3}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"
)
_TIME = re.compile(r"\d(?<!\w\d)\d?:\d{2}:\d{2}(?:[.,]\d+)?\b")
_ADDR = re.compile(r"0(?<!\w0)x[0-9a-fA-F]{4,}\b")
# Object ids printed in decimal (``id()``: 140568058514896) and epoch times in seconds or
# milliseconds (1733310000, 1733310000.123, 1733310000123): ten digits or more are never a
# count that matters. Not the digits of a fraction (after a ".") nor those inside a word.
_LONG_NUMBER = re.compile(r"\d(?<![\w.]\d)\d{9,}(?:\.\d+)?")
_WEEKDAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_MONTH = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
# What _TIME leaves of a ``time.ctime()`` date ("Thu Dec  4 <time> 2026") or of an HTTP or
# e-mail date ("Thu, 04 Dec 2026 <time> GMT"): their day and year are incidental too.
_CTIME = re.compile(
    rf"\b{_WEEKDAY}(?: {_MONTH} [ \d]\d <time> \d{{4}}"
    rf"|, \d\d {_MONTH} \d{{4}} <time>(?: GMT| [+-]\d{{4}})?)"
)
_DURATION = re.compile(
    r"\d(?<!\w\d)\d*(?:\.\d+)?\s?(?:ns|us|µs|ms|s|sec|secs|seconds?|minutes?|mins?)\b"
)
_PID = re.compile(r"(?i)\b(pid|process|thread|tid|goroutine)([\s:=#]+)\d+\b")
_PORT_WORD = re.compile(r"(?i)\b(port)([\s:=#]+)\d+\b")
# Line (and column) numbers: "line 42", "file.py:42", "File.java:42", "file.js:4:46".
_LINE_WORD = re.compile(r"(?i)\b(lines?)\s+\d+(?:\s*[-,]\s*\d+)?")
_FILE_LINE = re.compile(r"(\.\w{1,8}):\d+(?::\d+)?\b")
# A source location, "name.ext:12", where a failure without frames says it happened.
_LOCATION = re.compile(r"\w\.[A-Za-z]\w{0,7}:\d")
# After the line numbers: a file name looks like a host name ("Foo.java:42"), and masking
# it as a port would give "Foo.java:7" and "Foo.java:42" different fingerprints. No ``\b``
# before the host: there is no word boundary before "[::1]".
_HOST_PORT = re.compile(
    r"(?<![\w.-])((?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1?\]|[\w-]+\.[\w.-]+)):\d{2,5}\b"
)
_PORT_DIGITS = re.compile(r":\d\d")  # what every _HOST_PORT match holds
#: The masks in the order ``normalise_message`` applies them, with their replacements.
_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (_UUID, "<uuid>"),
    (_DATE, "<date>"),
    (_TIME, "<time>"),
    (_CTIME, "<date>"),
    (_ADDR, "<addr>"),
    (_LONG_NUMBER, "<n>"),
    (_DURATION, "<duration>"),
    (_PID, r"\1\2<n>"),
    (_PORT_WORD, r"\1\2<n>"),
    (_LINE_WORD, r"\1 <n>"),
    (_FILE_LINE, r"\1:<n>"),
    (_HOST_PORT, r"\1:<port>"),
)

_ERROR_TYPE = re.compile(
    r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Failure|Exit|Interrupt|Warning))\s*:"
)

# -- messages that say nothing specific ------------------------------------------------------

# Messages that say only that something failed, not what: the text has to say it.
_GENERIC_MESSAGES = frozenset(
    (
        "",
        "fail",
        "failed",
        "failure",
        "error",
        "exception",
        "test failed",
        "test failure",
        "assertion failed",
        "build error",  # go-junit-report, for a package that does not compile
        "runtime error",  # go-junit-report, for a package whose binary fails
    )
)
# A bare exception type with nothing after it: "AssertionError", "java.lang.AssertionError:".
_BARE_TYPE = re.compile(
    r"[A-Za-z_$][\w$.]*(?:Error|Exception|Failure|Failed|Exit|Interrupt|Warning):?"
)
# Lines of a text that say nothing about the failure: Go's scaffolding (a test's start, pause,
# resumption and verdict, the package's verdict "FAIL\tpkg\t0.01s", the binary's exit
# status), stack frames, a Python traceback's header, and rules of "=", "-" or "_".
_NOT_MESSAGE = re.compile(
    r"=== (?:RUN|PAUSE|CONT|NAME)\b|--- (?:FAIL|PASS|SKIP):|(?:FAIL|PASS|ok)(?:[ \t]*\t|$)"
    r"|exit status -?\d+$|at (?:async )?\S+ ?\(|\.\.\. \d+ more$"
    r"|Traceback \(most recent call last\):|[=_-]{3,}$"
)
# Where a Go panic's stack begins, which says where, not what: "goroutine 7 [running]:".
_GO_STACK = re.compile(r"goroutine \d+ \[")
# Lines of a text that stand in for a message: a Go failure's text is all it says, often a few
# lines of output before the test's own reports ("x_test.go:12: got 1, want 2").
_MESSAGE_LINES = 5

# -- frames ----------------------------------------------------------------------------------

# ``[ \t]*``, not ``\s*``: ``\s`` crosses newlines, and "^\s*" over many blank lines is quadratic.
# Python: ``File "x.py", line 3, in func``: the file and the function.
_PY_FRAME = re.compile(r'^[ \t]*File "([^"\n]*)", line \d+, in (\S+)', re.MULTILINE)
# Java, Kotlin, JS, C#: ``at pkg.Class.method(File.java:12)``, ``at func (src/x.js:4:46)``,
# ``at Ns.Class.Method(Int32 i) in /src/File.cs:line 12``: the function and the rest of the line.
_AT_FRAME = re.compile(r"^[ \t]*at (?:async )?([\w$.<>/\[\]`~-]+?) ?\(([^\n]*)", re.MULTILINE)
# ... or one run into the message's last line, as the VSTest TRX converter writes it:
# "Actual:   False   at Ns.Class.Method(Int32 i) in X.cs:line 67" (there, with a dotted name).
_INLINE_AT_FRAME = re.compile(r"\sat ((?:[\w$`<>-]+\.)+[\w$`<>-]+) ?\(([^\n]*)")
# The line and column after an ``at`` frame's file: "File.java:12", "x.js:4:46", "X.cs:line 12".
_AT_LINE = re.compile(r":(?:line )?\d+(?::\d+)?\)?$")
# pytest's lines that give its frames, read in one pass: a long entry's ``def func(`` line,
# and the location line that ends each entry: ``path.py:12: in func`` (a short entry),
# ``path.py:12:`` (a long entry, whose function is on its def line), ``path.py:12: KeyError``
# (the last entry). Each after a newline: a literal start, which the regex engine finds fast.
_PYTEST_LINE = re.compile(
    r"\n(?:[ \t]*(?:async[ \t]+)?def (\w+)\(|(\S+?):\d+:(?:[ \t]+([^\n]*))?(?=\n|\Z))"
)
# Go: a panic's stack, innermost first, a function line then its file on a tab-indented line:
# "pkg.(*T).Get(0xc000012345, ...)\n\t/src/pkg/get.go:10 +0x1d".
_GO_FRAME = re.compile(r"^(\S[^\n]*)\([^()\n]*\)\n\t([^\n]+?\.go):\d+", re.MULTILINE)
# Test code: a file in a tests/ or test/ directory, a Python or Go test module, a conftest.py,
# a JVM or .NET test class, a JavaScript or TypeScript test or spec, a doctest's example.
_TEST_FILE = re.compile(
    r"(?:^|[\\/])(?:tests?|__tests__)[\\/]"
    r"|(?:^|[\\/])(?:test_[^\\/]*\.py|[^\\/]*_test\.(?:py|go)|conftest\.py)$"
    r"|Tests?\.(?:java|kt|groovy|scala|cs)$"
    r"|\.(?:test|spec)\.[cm]?[jt]sx?$"
    r"|^<doctest "
)
# Assertion helpers between a failed check and the test that made it, by file: unittest's
# assertEqual, pytest's own helpers, chai, expect and should ...
_CHECK_FILE = re.compile(
    r"[\\/](?:unittest[\\/]case\.py|_pytest[\\/]|node_modules[\\/](?:chai|expect|should)[\\/])"
)
# ... or by function: the JVM's and .NET's assertion libraries.
_CHECK_FUNCTION = re.compile(
    r"(?:org\.junit|junit\.framework|org\.opentest4j|org\.assertj|org\.hamcrest|org\.testng"
    r"|kotlin\.test|com\.google\.common\.truth|org\.scalatest|Xunit|NUnit\.Framework"
    r"|Microsoft\.VisualStudio\.TestTools|FluentAssertions)\."
)
# The example's number in a doctest's file name: "<doctest pkg.mod.func[2]>".
_DOCTEST_INDEX = re.compile(r"\[\d+\]>$")

#: A frame: the file's path as the traceback gives it, and the function.
Frame = tuple[str, str]

# -- doctests --------------------------------------------------------------------------------

_DOCTEST_KINDS = ("UnexpectedException", "DocTestFailure")
# The last line of pytest's doctest report: "/abs/pkg/mod.py:28: UnexpectedException".
_DOCTEST_LOCATION = re.compile(r"(.*):\d+: (UnexpectedException|DocTestFailure)")
# The example lines pytest quotes, numbered ("028     >>> get({})"); the last one failed.
_DOCTEST_EXAMPLE = re.compile(r"^\d+[ \t]+>>> ?([^\n]*)$", re.MULTILINE)
# What an example raised: "UNEXPECTED EXCEPTION: KeyError('missing')".
_DOCTEST_EXCEPTION = re.compile(r"^UNEXPECTED EXCEPTION: ([\w.]+)\(([^\n]*)\)$", re.MULTILINE)


def normalise_message(message: str) -> str:
    """Mask the incidental parts of an error message (see the module docstring)."""
    lowered = message.lower()
    ascii_text = message.isascii()
    if "tmp" in lowered or "temp" in lowered or "folders" in lowered or "pytest-of" in lowered:
        message = _TMP.sub("<tmp>", message)
    if _DIGIT.search(message):
        # Each mask runs only where the text holds something it must match, so the result is
        # the same as running all of them, in the same order. The case-insensitive ones are
        # guarded only for ASCII text, where ``lower()`` and ``(?i)`` agree; no replacement
        # ("<uuid>", "<n>", ...) can make a guard's word appear.
        if "-" in message:
            message = _UUID.sub("<uuid>", message)
            message = _DATE.sub("<date>", message)
        if message.count(":") > 1:
            message = _TIME.sub("<time>", message)
            if "<time>" in message:
                message = _CTIME.sub("<date>", message)
        if "0x" in message:
            message = _ADDR.sub("<addr>", message)
        message = _LONG_NUMBER.sub("<n>", message)
        if "s" in message or "min" in message:
            message = _DURATION.sub("<duration>", message)
        if not ascii_text or (
            "pid" in lowered
            or "process" in lowered
            or "thread" in lowered
            or "tid" in lowered
            or "goroutine" in lowered
        ):
            message = _PID.sub(r"\1\2<n>", message)
        if not ascii_text or "port" in lowered:
            message = _PORT_WORD.sub(r"\1\2<n>", message)
        if not ascii_text or "line" in lowered:
            message = _LINE_WORD.sub(r"\1 <n>", message)
        if ":" in message:
            if "." in message:
                message = _FILE_LINE.sub(r"\1:<n>", message)
            if (
                "." in message or "localhost" in message or "[::" in message
            ) and _PORT_DIGITS.search(message):
                message = _HOST_PORT.sub(r"\1:<port>", message)
    return " ".join(message.split())


def frame_names(text: str) -> list[str]:
    """The function names of a traceback's frames, outermost first, in any common format."""
    return [function for _, function in reversed(_frames(text[:_MAX_TEXT]))][:_MAX_FRAMES]


def _frames(text: str) -> list[Frame]:
    """A traceback's frames as (path, function), the raise site first, in any common format."""
    if 'File "' in text:
        found: list[Frame] = _line_matches(_PY_FRAME, 'File "', text)
        if found:
            return found[::-1]  # Python writes the outermost frame first
    if "goroutine " in text:
        found = [(path, name) for name, path in _GO_FRAME.findall(text)]
        if found:
            return found
    if ":" in text:
        found = _pytest_frames(text)
        if found:
            return found[::-1]  # pytest too
    if "at " in text:
        found = [(_at_path(rest), name) for name, rest in _line_matches(_AT_FRAME, "at ", text)]
        return found or [(_at_path(rest), name) for name, rest in _INLINE_AT_FRAME.findall(text)]
    return []


def _at_path(rest: str) -> str:
    """The file of an ``at`` frame, from what follows its function's ``(``."""
    # .NET: "Int32 i) in /src/File.cs:line 12"; Java, JS: "File.java:12)", "src/x.js:4:46)".
    location = rest.rpartition(") in ")[2] if ") in " in rest else rest.partition(")")[0]
    return _AT_LINE.sub("", location.strip())


def _pytest_frames(text: str) -> list[Frame]:
    """pytest's frames, outermost first: one per location line, with the function its
    ``in func`` names, or else the first ``def`` line of its entry."""
    frames: list[Frame] = []
    entry_def = ""
    for def_name, path, rest in _PYTEST_LINE.findall("\n" + text):
        if def_name:
            entry_def = entry_def or def_name
            continue
        rest = rest.strip()
        frames.append((path, rest[3:] if rest.startswith("in ") else entry_def))
        entry_def = ""
    return frames


def _line_matches(pattern: re.Pattern[str], hint: str, text: str, limit: int = 0) -> list[Any]:
    """``pattern.findall(text)[:limit]`` (all of it if ``limit`` is 0), read faster.

    ``pattern`` is one of the frame patterns above: it starts at a line start (``^``, with
    ``re.MULTILINE``), never matches across a line, and every match holds ``hint``. So only
    the lines that hold ``hint`` are tried, each once, at its start, which is exactly where
    ``findall`` could find a match; the regex is not run over the rest. As ``findall``, it
    gives the group's text for a pattern with one group, else the tuple of the groups' texts.
    """
    groups = pattern.groups
    found: list[Any] = []
    find = text.find
    at = find(hint)
    while at >= 0:
        match = pattern.match(text, text.rfind("\n", 0, at) + 1)
        if match:
            found.append(match[1] if groups == 1 else match.groups(""))
            if len(found) == limit:
                break
        end = find("\n", at)
        if end < 0:
            break
        at = find(hint, end + 1)
    return found


def _is_check(frame: Frame) -> bool:
    """Whether a frame is an assertion helper's: by its file, its library, or its name
    (``assert_called_once``, ``assertThat``, numpy's ``assert_allclose``)."""
    path, function = frame
    # A JDK 9+ stack names the class loader or module first: "app//org.junit.Assert.fail".
    function = function.rpartition("/")[2]
    return (
        _path_facts(path)[2]
        or _CHECK_FUNCTION.match(function) is not None
        or function.rpartition(".")[2].lstrip("_").lower().startswith("assert")
    )


def _cause(frames: list[Frame]) -> list[str]:
    """The frames of the cause, as "file:function": from the raise site outward, up to the
    test's own frames.

    ``frames`` start at the raise site. The test's frames, and the runner's beyond them, are
    left out, so that one cause reached from many tests is one group. But where the failure
    is raised in the test itself, or in an assertion helper the test called, the test's frames
    are the cause, and they are kept.
    """
    names: list[str] = []
    for index, (path, function) in enumerate(frames):
        name, test, _ = _path_facts(path)
        if test:
            if all(_is_check(frame) for frame in frames[:index]):
                # Raised by the test itself, or by an assertion helper it called: the test's
                # frames are the cause (the helper's are alike for every test, so left out).
                names = []
                for test_path, test_function in frames[index:]:
                    test_name, test, _ = _path_facts(test_path)
                    if not test:
                        break
                    names.append(f"{test_name}:{test_function}")
            break
        names.append(f"{name}:{function}")
    return names[:_MAX_FRAMES]


@functools.lru_cache(maxsize=4096)  # the same modules and test files, failure after failure
def _path_facts(path: str) -> tuple[str, bool, bool]:
    """What a frame's path says: its file name, whether it is test code, and whether it is an
    assertion helper's."""
    test = _TEST_FILE.search(path) is not None
    return _file_name(path), test, _CHECK_FILE.search(path) is not None


def _file_name(path: str) -> str:
    """A frame's file without its directories (a checkout's or a temporary directory's) or
    line: "/tmp/x/pkg/mod.py" -> "mod.py", "<doctest pkg.mod.f[2]>" -> "<doctest pkg.mod.f>"."""
    if path.startswith("<doctest "):
        return _DOCTEST_INDEX.sub(">", path)
    return path.rpartition("/")[2].rpartition("\\")[2].partition(":")[0]


def _says_nothing(message: str, kind: str) -> bool:
    """Whether a (stripped) message says only that something failed, not what."""
    if len(message) > 40:
        return False
    bare = message.rstrip(".!:").lower()
    return (
        bare in _GENERIC_MESSAGES
        or bare == kind.lower()
        or _BARE_TYPE.fullmatch(message) is not None
    )


def _text_message(text: str) -> str:
    """The first lines of ``text`` that say what failed, for a message that does not.

    pytest's ``E`` lines are the exception's own message. Otherwise blank lines and the lines
    of _NOT_MESSAGE are passed over, and so are a Python traceback's indented lines (frames
    and their source); a Go panic's stack ends the search. A text of nothing but scaffolding
    ("=== RUN TestX", "--- FAIL: TestX (0.00s)": a test failed by its subtests) stands as is.
    """
    lines = text.splitlines()
    if text.startswith("E ") or "\nE " in text:
        said = [line[1:].strip() for line in lines if line.startswith("E ")]
    else:
        python = "Traceback (most recent call last):" in text
        said = []
        for line in lines:
            stripped = line.strip()
            if not stripped or (python and line[0].isspace()) or _NOT_MESSAGE.match(stripped):
                continue
            if _GO_STACK.match(stripped):
                break
            said.append(stripped)
            if len(said) == _MESSAGE_LINES:
                break
    if not said:
        said = [line.strip() for line in lines if line.strip()]
    return "\n".join(said[:_MESSAGE_LINES])


def _doctest(message: str, text: str) -> tuple[str, str, list[Frame]] | None:
    """(type, message, frames) of a failed doctest, from pytest's report of it; else None.

    The (stripped) message names only the kind: "path:LINE: UnexpectedException" or
    "path:LINE: DocTestFailure". For an unexpected exception, the type and message are the
    exception's, and the frames those of its traceback; for wrong output, the failing example
    with the expected and the actual output. The doctest's file name (its directories, a
    temporary one among them, left out) stands in for the test's frame.
    """
    report = text.rstrip() if text[-1:].isspace() else text  # (most texts are not copied)
    if not report.endswith(_DOCTEST_KINDS):
        report = message  # stripped
        if not report.endswith(_DOCTEST_KINDS):
            return None
    body, _, last_line = report.rpartition("\n")
    location = _DOCTEST_LOCATION.fullmatch(last_line.strip())
    if location is None:
        return None
    test_frame = (f"<doctest {_file_name(location[1])}>", "")
    exception = _DOCTEST_EXCEPTION.search(body)
    if exception is not None:
        kind = exception[1].rpartition(".")[2]
        frames = [*_frames(body), test_frame]
        return kind, f"{kind}: {exception[2]}", frames
    examples = list(_DOCTEST_EXAMPLE.finditer(body))
    if not examples:
        return location[2], "", [test_frame]
    failed = examples[-1]
    output = body[failed.end() :].strip()  # "Expected:\n    4\nGot:\n    3"
    return location[2], f"{failed[1].strip()}\n{output}", [test_frame]


def error_type_of(error_type: str | None, message: str | None) -> str | None:
    """The exception type: the ``type`` attribute, else a ``SomeError:`` prefix of the message."""
    if error_type:
        return error_type.strip()
    if message:
        match = _ERROR_TYPE.match(message)
        if match:
            return match.group(1)
    return None


def error_fingerprint(
    error_type: str | None,
    message: str | None,
    text: str | None = None,
    test: str | None = None,
) -> str | None:
    """A short stable hash of a failure's type, normalised message and the frames of its cause.

    ``test`` names the failed test (``classname::name``): a failure with no frames that is
    located at a source line is an assertion there, grouped per test (see :func:`_fingerprint`).
    ``None`` when there is nothing to fingerprint (a passed or skipped test).
    """
    if not (error_type or message or text):
        return None
    return _fingerprint(error_type, message, text, test)


def _fingerprint(
    error_type: str | None, message: str | None, text: str | None, test: str | None
) -> str:
    """The hash of the failure's type, normalised message and cause.

    Without frames, the cause is unknown but for a source location the message or text may
    give ("x_test.go:42: got 1, want 2", "REQUIRE( false ) at c2.cpp:10"): that is where an
    assertion failed, and the same words at another line (masked) are another assertion, so
    such a failure is grouped per test.
    """
    kind = error_type_of(error_type, message) or ""
    said = (message or "").strip()
    text = (text or "")[:_MAX_TEXT]
    doctest = _doctest(said, text)
    if doctest is not None:
        kind, said, frames = doctest
    else:
        if text and _says_nothing(said, kind):
            said = _text_message(text)
        frames = _frames(text) if text else []
    cause = "/".join(_cause(frames))
    if not frames and test and (_LOCATION.search(said) or _LOCATION.search(text)):
        cause = f"test {test}"
    material = "\n".join((kind, normalise_message(said[:_MAX_TEXT]), cause))
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()[
        :FINGERPRINT_LENGTH
    ]


# The specification's name for it.
_extract_error_fingerprint = error_fingerprint
