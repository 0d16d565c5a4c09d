"""Reading structure out of test names: parameters, and the source file behind a classname.

Only unambiguous syntaxes are recognised. Where a name could mean two things (a Jest title
that happens to end in ``[1]``), the name is left whole: a wrong split would merge or split
test histories, which is worse than no split.
"""

from __future__ import annotations

import re

# pytest: ``test_add[1-2]``, ``TestX::test_y[a[0]-b]`` (base is a Python identifier path).
_PYTEST_BASE = re.compile(r"[A-Za-z_][\w.]*\Z")
# JUnit 5 (Surefire/Gradle): ``add(int, int)[3]``.
_JUNIT5_METHOD = re.compile(r"(?P<base>[A-Za-z_$][\w$]*\([^()]*\))\[(?P<params>\d+)\]\Z")
# JUnit 5 display name: ``[3] 1, 2, 3``.
_JUNIT5_DISPLAY = re.compile(r"\[(?P<params>\d+)\] (?P<base>.+)\Z", re.DOTALL)
# PHPUnit: ``testAdd with data set #0`` or ``with data set "named"``.
_PHPUNIT = re.compile(r'(?P<base>\S+) with data set (?P<params>#\d+|"(?:[^"\\]|\\.)*")(?: .*)?\Z')
# GoogleTest value-parameterized: ``Name/0`` (only together with a ``value_param`` attribute).
_GTEST_PARAM = re.compile(r"(?P<base>[A-Za-z_]\w*)/(?P<params>\d+)\Z")


def split_params(name: str, *, value_param: str | None = None) -> tuple[str, str | None]:
    """Split a test name into its base name and its parameter id.

    >>> split_params("test_add[1-2]")
    ('test_add', '1-2')
    >>> split_params("works [slow]")
    ('works [slow]', None)
    """
    if name.endswith("]"):
        bracket = _outer_bracket_start(name)
        if bracket > 0 and _PYTEST_BASE.match(name, 0, bracket):
            return name[:bracket], name[bracket + 1 : -1]
        match = _JUNIT5_METHOD.match(name)
        if match:
            return match["base"], match["params"]
    elif name.startswith("["):
        match = _JUNIT5_DISPLAY.match(name)
        if match:
            return match["base"], match["params"]
    if " with data set " in name:
        match = _PHPUNIT.match(name)
        if match:
            params = match["params"]
            return match["base"], params[1:-1] if params.startswith('"') else params
    if value_param is not None:
        match = _GTEST_PARAM.match(name)
        if match:
            return match["base"], match["params"]
    return name, None


def _outer_bracket_start(name: str) -> int:
    """Index of the ``[`` that the final ``]`` closes, or -1 when brackets do not balance."""
    if name.count("]") == 1:
        return name.rfind("[")  # no other "]" before it: the last "[" is the one it closes
    depth = 0
    for index in range(len(name) - 1, -1, -1):
        char = name[index]
        if char == "]":
            depth += 1
        elif char == "[":
            depth -= 1
            if depth == 0:
                return index
    return -1


# A Python test module pytest collects by default: ``test_math``, ``math_test``. (Not a bare
# ``tests``: Java packages are called that too, and a wrong path is worse than none.)
_PY_TEST_MODULE = re.compile(r"(test_\w*|\w+_test)\Z")
_SOURCE_SUFFIXES = (
    ".py",
    ".js",
    ".jsx",
    ".mjs",
    ".cjs",
    ".ts",
    ".tsx",
    ".mts",
    ".rb",
    ".php",
    ".feature",
)


# The text files pytest collects doctests from with --doctest-glob.
_DOCTEST_TEXT_SUFFIXES = (".txt", ".rst", ".md")


def infer_path(classname: str, name: str = "") -> str | None:
    """The test's source file, where the classname (and name) give it away; ``None`` otherwise.

    Supported honestly: pytest-style dotted classnames whose module part ends in a test module
    (``tests.unit.test_math.TestAdd`` -> ``tests/unit/test_math.py``), classnames that are
    already a source file path (``sample.spec.js``, as Playwright writes), and, given the
    ``name``, pytest's doctests (see :func:`_doctest_path`). A Java or Go classname names a
    package, not a file, so nothing is invented for it.
    """
    if not classname or " " in classname:
        return None
    if name and "." in name:
        doctest = _doctest_path(classname, name)
        if doctest is not None:
            return doctest
    if classname.endswith(_SOURCE_SUFFIXES) and not classname.startswith("/"):
        return classname
    if "/" in classname or "\\" in classname:
        return None
    parts = classname.split(".")
    # Drop trailing class components (``TestAdd``, ``TestAdd.TestNested``).
    end = len(parts)
    while end > 0 and parts[end - 1][:1].isupper():
        end -= 1
    if end == 0 or not _PY_TEST_MODULE.match(parts[end - 1]):
        return None
    if not all(part.isidentifier() for part in parts[:end]):
        return None
    return "/".join(parts[:end]) + ".py"


def _doctest_path(classname: str, name: str) -> str | None:
    """The file of a pytest doctest item; ``None`` when the pair is not one.

    pytest writes the node id ``more_itertools/more.py::more_itertools.more.chunked`` as
    classname ``more_itertools.more`` (the path, dotted) and name ``more_itertools.more.chunked``
    (the object's dotted name, which starts with the module's); in a ``src/`` layout the
    classname has the extra ``src.`` in front. A text file's doctests,
    ``docs/usage.rst::usage.rst``, become ``docs.usage.rst`` and ``usage.rst``.
    """
    if " " in name or "/" in classname or "\\" in classname:
        return None
    if name.endswith(_DOCTEST_TEXT_SUFFIXES):
        if classname == name:
            return name
        if classname.endswith("." + name):
            return classname[: -len(name) - 1].replace(".", "/") + "/" + name
        return None
    # A dotted Python name (not a file name, "test.jsx"), whose longest prefix that ends the
    # classname is the module: an identifier path, not capitalised (a Java or .NET class is).
    parts = name.split(".")
    if name.endswith(_SOURCE_SUFFIXES) or not all(part.isidentifier() for part in parts):
        return None
    for end in range(len(parts), 0, -1):
        module = ".".join(parts[:end])
        if classname == module or classname.endswith("." + module):
            path = classname.split(".")
            if path[-1][:1].isupper() or not all(part.isidentifier() for part in path):
                return None
            return "/".join(path) + ".py"
    return None
