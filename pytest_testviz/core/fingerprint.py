"""Error fingerprints: one short hash per distinct *reason* a test failed.

Two failures get the same fingerprint when they differ only in incidental detail: line
numbers, memory addresses, timestamps, durations, UUIDs, temporary paths, PIDs and ports.
Everything else stays significant, so ``assert x == 3`` and ``assert x == 4`` do not collide,
and neither do a ``KeyError`` and an ``AssertionError``.
"""

from __future__ import annotations

import hashlib
import re

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
_DURATION = re.compile(
    r"\d(?<!\w\d)\d*(?:\.\d+)?\s?(?:ns|us|µs|ms|s|sec|secs|seconds?|minutes?|mins?)\b"
)
_PID = re.compile(r"(?i)\b(pid|process|thread|tid)([\s:=#]+)\d+\b")
_PORT_WORD = re.compile(r"(?i)\b(port)([\s:=#]+)\d+\b")
# Line (and column) numbers: "line 42", "file.py:42", "File.java:42", "file.js:4:46".
_LINE_WORD = re.compile(r"(?i)\b(lines?)\s+\d+(?:\s*[-,]\s*\d+)?")
_FILE_LINE = re.compile(r"(\.\w{1,8}):\d+(?::\d+)?\b")
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
    (_ADDR, "<addr>"),
    (_DURATION, "<duration>"),
    (_PID, r"\1\2<n>"),
    (_PORT_WORD, r"\1\2<n>"),
    (_LINE_WORD, r"\1 <n>"),
    (_FILE_LINE, r"\1:<n>"),
    (_HOST_PORT, r"\1:<port>"),
)

# Frames: Python ("File "x.py", line 3, in func"), pytest long repr ("x.py:3: in func",
# "def func("), Java/Kotlin/JS/C# ("at pkg.Class.method(", "at func (").
# ``[ \t]*``, not ``\s*``: ``\s`` crosses newlines, and "^\s*" over many blank lines is quadratic.
_PY_FRAME = re.compile(r'^[ \t]*File "[^"\n]*", line \d+, in (\S+)', re.MULTILINE)
_PYTEST_FRAME = re.compile(r"^\S[^\n]*?:\d+: in (\S+)$", re.MULTILINE)
_PYTEST_DEF = re.compile(r"^[ \t]*(?:async[ \t]+)?def (\w+)\(", re.MULTILINE)
_AT_FRAME = re.compile(r"^[ \t]*at (?:async )?([\w$.<>/\[\]`~-]+?) ?\(", re.MULTILINE)
_ERROR_TYPE = re.compile(
    r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Failure|Exit|Interrupt|Warning))\s*:"
)


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
        if "0x" in message:
            message = _ADDR.sub("<addr>", message)
        if "s" in message or "min" in message:
            message = _DURATION.sub("<duration>", message)
        if not ascii_text or (
            "pid" in lowered or "process" in lowered or "thread" in lowered or "tid" in lowered
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


#: Messages recur (a parameterized test failing the same way): their normalised forms are kept.
_NORMALISED: dict[str, str] = {}
_NORMALISED_KEPT = 4096  # entries, before the cache starts again
_NORMALISED_LONGEST = 1024  # characters of a message worth keeping


def _normalised(message: str) -> str:
    """:func:`normalise_message`, remembered for short messages."""
    normalised = _NORMALISED.get(message)
    if normalised is None:
        normalised = normalise_message(message)
        if len(message) <= _NORMALISED_LONGEST:
            if len(_NORMALISED) >= _NORMALISED_KEPT:
                _NORMALISED.clear()
            _NORMALISED[message] = normalised
    return normalised


def frame_names(text: str) -> list[str]:
    """The function names of a traceback's frames, outermost first, in any common format."""
    text = text[:_MAX_TEXT]
    for pattern, hint in ((_PY_FRAME, 'File "'), (_PYTEST_FRAME, ": in "), (_AT_FRAME, "at ")):
        names = _line_matches(pattern, hint, text)
        if names:
            if pattern is _PYTEST_FRAME:
                first_def = _line_matches(_PYTEST_DEF, "def ", text, 1)
                names = first_def + names
            return names[:_MAX_FRAMES]
    return _line_matches(_PYTEST_DEF, "def ", text, _MAX_FRAMES)


def _line_matches(pattern: re.Pattern[str], hint: str, text: str, limit: int = 0) -> list[str]:
    """``pattern.findall(text)[:limit]`` (all of it if ``limit`` is 0), read faster.

    ``pattern`` is one of the frame patterns above: it starts at a line start (``^``, with
    ``re.MULTILINE``), never matches across a line, has one group, and every match holds
    ``hint``. So only the lines that hold ``hint`` are tried, each once, at its start, which
    is exactly where ``findall`` could find a match; the regex is not run over the rest.
    """
    names: list[str] = []
    find = text.find
    found = find(hint)
    while found >= 0:
        match = pattern.match(text, text.rfind("\n", 0, found) + 1)
        if match:
            names.append(match[1])
            if len(names) == limit:
                break
        end = find("\n", found)
        if end < 0:
            break
        found = find(hint, end + 1)
    return names


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
    error_type: str | None, message: str | None, text: str | None = None
) -> str | None:
    """A short stable hash of a failure's type, normalised message and traceback frames.

    ``None`` when there is nothing to fingerprint (a passed or skipped test).
    """
    if not (error_type or message or text):
        return None
    inputs = (error_type, message, text)
    fingerprint = _FINGERPRINTS.get(inputs)
    if fingerprint is None:
        fingerprint = _fingerprint(error_type, message, text)
        if len(message or "") + len(text or "") <= _FINGERPRINTED_LONGEST:
            if len(_FINGERPRINTS) >= _FINGERPRINTED_KEPT:
                _FINGERPRINTS.clear()
            _FINGERPRINTS[inputs] = fingerprint
    return fingerprint


#: Failures recur (the same test failing the same way in run after run, a parameterized test
#: failing alike): the fingerprints of recent inputs are kept, keyed on the exact inputs.
_FINGERPRINTS: dict[tuple[str | None, str | None, str | None], str] = {}
_FINGERPRINTED_KEPT = 2048  # entries, before the cache starts again
_FINGERPRINTED_LONGEST = 8192  # characters of message and text worth keeping


def _fingerprint(error_type: str | None, message: str | None, text: str | None) -> str:
    kind = error_type_of(error_type, message) or ""
    first_lines = (message or "").strip()
    if not first_lines and text:
        # No message attribute (Go, CTest, many hand-made files): the text's first lines
        # are the message.
        first_lines = "\n".join(text.strip().splitlines()[:3])
    frames = frame_names(text) if text else []
    material = "\n".join((kind, _normalised(first_lines[:_MAX_TEXT]), "/".join(frames)))
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()[
        :FINGERPRINT_LENGTH
    ]


# The specification's name for it.
_extract_error_fingerprint = error_fingerprint
