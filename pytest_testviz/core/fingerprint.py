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
_TMP_HINTS = ("tmp", "temp", "folders", "pytest-of")
_DIGIT = re.compile(r"\d")

# Every mask below needs a digit to match, so a message without one skips them all. Order
# matters: the broad patterns (timestamps) run before the narrow ones (numbers after "line").
_MASKS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(
            r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
        ),
        "<uuid>",
    ),
    (
        re.compile(
            r"\b\d{4}-\d{2}-\d{2}"
            r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\b"
        ),
        "<date>",
    ),
    (re.compile(r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b"), "<time>"),
    (re.compile(r"\b0x[0-9a-fA-F]{4,}\b"), "<addr>"),
    (
        re.compile(r"\b\d+(?:\.\d+)?\s?(?:ns|us|µs|ms|s|sec|secs|seconds?|minutes?|mins?)\b"),
        "<duration>",
    ),
    (re.compile(r"(?i)\b(pid|process|thread|tid)([\s:=#]+)\d+\b"), r"\1\2<n>"),
    (re.compile(r"(?i)\b(port)([\s:=#]+)\d+\b"), r"\1\2<n>"),
    # Line (and column) numbers: "line 42", "file.py:42", "File.java:42", "file.js:4:46".
    (re.compile(r"(?i)\b(lines?)\s+\d+(?:\s*[-,]\s*\d+)?"), r"\1 <n>"),
    (re.compile(r"(\.\w{1,8}):\d+(?::\d+)?\b"), r"\1:<n>"),
    # After the line numbers: a file name looks like a host name ("Foo.java:42"), and masking
    # it as a port would give "Foo.java:7" and "Foo.java:42" different fingerprints. No ``\b``
    # before the host: there is no word boundary before "[::1]".
    (
        re.compile(
            r"(?<![\w.-])((?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1?\]|[\w-]+\.[\w.-]+)):\d{2,5}\b"
        ),
        r"\1:<port>",
    ),
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
    if any(hint in lowered for hint in _TMP_HINTS):
        message = _TMP.sub("<tmp>", message)
    if _DIGIT.search(message):
        for pattern, replacement in _MASKS:
            message = pattern.sub(replacement, message)
    return " ".join(message.split())


def frame_names(text: str) -> list[str]:
    """The function names of a traceback's frames, outermost first, in any common format."""
    text = text[:_MAX_TEXT]
    for pattern, hint in ((_PY_FRAME, 'File "'), (_PYTEST_FRAME, ": in "), (_AT_FRAME, "at ")):
        if hint not in text:
            continue
        names = pattern.findall(text)
        if names:
            if pattern is _PYTEST_FRAME:
                defs = _PYTEST_DEF.findall(text)
                names = defs[:1] + names
            return names[:_MAX_FRAMES]
    return _PYTEST_DEF.findall(text)[:_MAX_FRAMES]


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
    kind = error_type_of(error_type, message) or ""
    first_lines = (message or "").strip()
    if not first_lines and text:
        # No message attribute (Go, CTest, many hand-made files): the text's first lines
        # are the message.
        first_lines = "\n".join(text.strip().splitlines()[:3])
    frames = frame_names(text) if text else []
    material = "\n".join((kind, normalise_message(first_lines[:_MAX_TEXT]), "/".join(frames)))
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).hexdigest()[
        :FINGERPRINT_LENGTH
    ]


# The specification's name for it.
_extract_error_fingerprint = error_fingerprint
