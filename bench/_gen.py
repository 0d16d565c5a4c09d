"""Realistic, deterministic pytest-style JUnit XML reports for the benchmarks.

``write_report(path, n_tests, seed=0, nested=True)`` streams a report to disk: about 85 %
passes, 8 % failures with multi-line pytest tracebacks (varied messages, some carrying memory
addresses, temporary paths, durations and ports), 2 % errors (setup/teardown), 5 % skips and
xfails with reasons, parameterized names (``test_x[param-3]``, ``test_q[a[0]-b]``), captured
``system-out``/``system-err`` on some testcases, and suite headers with correct counts.

With ``nested=True`` the shape is ``testsuites > testsuite (package) > testsuite (module) >
testcase``; with ``nested=False`` it is pytest's own ``testsuites > testsuite "pytest" >
testcase``. The same ``(n_tests, seed, nested)`` always gives the same bytes.

Nothing is held in memory but the plan (a few integers per module): outcomes come from their
own random stream, counted in a first pass (for the suite headers) and replayed while writing.

Run it alone: ``python bench/_gen.py out.xml --tests 100000 [--seed 0] [--flat]``.
"""

from __future__ import annotations

import argparse
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

PASSED, FAILED, ERROR, SKIPPED = "passed", "failed", "error", "skipped"

_PACKAGES = (
    "api",
    "auth",
    "billing",
    "cli",
    "core",
    "db",
    "events",
    "export",
    "importer",
    "jobs",
    "mail",
    "orders",
    "payments",
    "reports",
    "search",
    "storage",
    "sync",
    "ui",
    "users",
    "web",
)
_LAYERS = ("unit", "integration", "functional")
_NOUNS = (
    "order",
    "invoice",
    "user",
    "session",
    "token",
    "config",
    "cache",
    "query",
    "schema",
    "payload",
    "header",
    "cursor",
    "batch",
    "report",
    "account",
    "webhook",
    "migration",
    "snapshot",
    "parser",
    "encoder",
    "retry",
    "timeout",
    "upload",
    "quota",
)
_VERBS = (
    "create",
    "update",
    "delete",
    "parse",
    "render",
    "validate",
    "load",
    "save",
    "merge",
    "retry",
    "export",
    "import",
    "serialize",
    "sign",
    "refresh",
    "resolve",
    "handles",
    "rejects",
)
_PARAM_WORDS = ("utf-8", "latin-1", "True", "False", "None", "empty", "unicode", "big", "sqlite")
_SKIP_REASONS = (
    "requires postgres (TESTVIZ_TEST_POSTGRES_URL not set)",
    "needs network access",
    "Windows only",
    "flaky on CI, see #1432",
    "could not import 'numpy': No module named 'numpy'",
    "slow test; run with --runslow",
    "unconditional skip",
)
_XFAIL_REASONS = ("known bug #2210", "upstream regression in 3.12", "not implemented yet")
_LOG_LEVELS = ("DEBUG", "INFO", "INFO", "INFO", "WARNING")


@dataclass
class ReportStats:
    """What a generated report contains."""

    path: Path
    tests: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    suites: int = 0
    size: int = 0

    def count(self, status: str) -> None:
        self.tests += 1
        if status == PASSED:
            self.passed += 1
        elif status == FAILED:
            self.failed += 1
        elif status == ERROR:
            self.errors += 1
        else:
            self.skipped += 1


@dataclass
class _Module:
    """One test module of the plan and its header totals (filled by the counting pass)."""

    dotted: str  # tests.unit.orders.test_checkout
    classes: tuple[str, ...]  # TestCheckout, ... ("" for module-level test functions)
    size: int
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    time: float = 0.0

    @property
    def file(self) -> str:
        return self.dotted.replace(".", "/") + ".py"


@dataclass
class _Package:
    name: str
    modules: list[_Module] = field(default_factory=list)

    def total(self, attribute: str) -> float:
        return sum(float(getattr(module, attribute)) for module in self.modules)


# -- escaping ----------------------------------------------------------------------------


def _attr(value: str) -> str:
    """Escape for a double-quoted attribute (newlines kept as character references)."""
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\n", "&#10;")
    )


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# -- plan and outcomes ---------------------------------------------------------------------


def _plan(n_tests: int, rng: random.Random) -> list[_Package]:
    packages: list[_Package] = []
    left = n_tests
    serial = 0
    while left > 0:
        serial += 1
        layer = rng.choice(_LAYERS)
        name = f"tests.{layer}.{rng.choice(_PACKAGES)}{serial}"
        package = _Package(name)
        stems: set[str] = set()
        for _ in range(rng.randint(2, 12)):
            if left <= 0:
                break
            size = min(left, rng.randint(5, 150))
            left -= size
            stem = f"test_{rng.choice(_NOUNS)}_{rng.choice(_VERBS)}"
            if stem in stems:
                stem = f"{stem}_{len(stems)}"
            stems.add(stem)
            classes = tuple(
                f"Test{rng.choice(_NOUNS).title()}{rng.choice(_VERBS).title()}"
                if rng.random() < 0.7
                else ""
                for _ in range(rng.randint(1, 4))
            )
            package.modules.append(_Module(f"{name}.{stem}", classes, size))
        packages.append(package)
    return packages


def _outcomes(seed: int, n_tests: int) -> Iterator[tuple[str, float]]:
    """Each testcase's status and duration, from a stream of its own (replayable)."""
    rng = random.Random(f"outcomes-{seed}")
    for _ in range(n_tests):
        roll = rng.random()
        status = (
            PASSED if roll < 0.85 else FAILED if roll < 0.93 else ERROR if roll < 0.95 else SKIPPED
        )
        duration = 0.0 if status == SKIPPED else round(rng.expovariate(1 / 0.04), 6)
        if status != SKIPPED and rng.random() < 0.01:
            duration = round(duration + rng.uniform(1, 30), 6)  # the odd slow test
        yield status, duration


def _count(packages: list[_Package], outcomes: Iterator[tuple[str, float]]) -> None:
    for package in packages:
        for module in package.modules:
            for _ in range(module.size):
                status, duration = next(outcomes)
                module.failures += status == FAILED
                module.errors += status == ERROR
                module.skipped += status == SKIPPED
                module.time += duration


# -- failure material ----------------------------------------------------------------------


def _addr(rng: random.Random) -> str:
    return f"0x7f{rng.getrandbits(40):010x}"


def _tmp(rng: random.Random, test: str) -> str:
    base = test.split("[")[0][:30]
    return f"/tmp/pytest-of-runner/pytest-{rng.randint(1, 400)}/{base}{rng.randint(0, 3)}"


def _frame_header(rng: random.Random, classname: str, cls: str, func: str) -> list[str]:
    lines = []
    if cls:
        lines += [f"self = <{classname} object at {_addr(rng)}>", ""]
    lines.append(f"    def {func}({'self' if cls else ''}):")
    return lines


def _failure(
    rng: random.Random, module: _Module, classname: str, cls: str, name: str
) -> tuple[str, str]:
    """A pytest failure: (message attribute, long traceback text)."""
    func = name.split("[")[0]
    line = rng.randint(12, 900)
    noun = rng.choice(_NOUNS)
    head = _frame_header(rng, classname, cls, func)
    kind = rng.randrange(8)
    if kind == 0:
        got, want = rng.randint(0, 99), rng.randint(100, 199)
        owner = f"<{noun.title()} id={rng.randint(1, 999)}>"
        where = f"<bound method {noun.title()}.total of {owner}>()"
        message = f"assert {got} == {want}\n +  where {got} = {where}"
        body = [
            f"        {noun} = make_{noun}(items={rng.randint(1, 9)})",
            f">       assert {noun}.total() == {want}",
            f"E       assert {got} == {want}",
            f"E        +  where {got} = {where}",
        ]
        return message, _join(head + body, module, line, "AssertionError")
    if kind == 1:
        key = f"{noun}_id"
        message = f"KeyError: '{key}'"
        body = [
            f"        payload = load_{noun}({rng.randint(1, 99)})",
            f">       assert payload['{key}']",
            f"E       KeyError: '{key}'",
        ]
        return message, _join(head + body, module, line, "KeyError")
    if kind == 2:
        secs = f"{rng.uniform(1, 30):.2f}s"
        message = f"TimeoutError: {noun} did not finish after {secs}"
        body = [
            f">       wait_for({noun}_job, timeout=5)",
            "",
            f"src/app/{rng.choice(_PACKAGES)}/jobs.py:{rng.randint(10, 400)}: in wait_for",
            '    raise TimeoutError(f"{name} did not finish after {elapsed:.2f}s")',
            f"E   TimeoutError: {noun} did not finish after {secs}",
        ]
        return message, _join(head + body, module, line, "TimeoutError")
    if kind == 3:
        port = rng.choice((5432, 6379, 8080, rng.randint(20000, 60000)))
        message = f"ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', {port})"
        body = [
            f">       client = connect('localhost:{port}')",
            "",
            f"src/app/db.py:{rng.randint(10, 200)}: in connect",
            "    sock = socket.create_connection(address, timeout)",
            "/usr/lib/python3.11/socket.py:851: in create_connection",
            "    raise exceptions[0]",
            f"E   ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', {port})",
        ]
        return message, _join(head + body, module, line, "ConnectionRefusedError")
    if kind == 4:
        path = f"{_tmp(rng, func)}/{noun}.yaml"
        message = f"FileNotFoundError: [Errno 2] No such file or directory: '{path}'"
        body = [
            f">       config = load_config(tmp_path / '{noun}.yaml')",
            "",
            f"src/app/config.py:{rng.randint(10, 200)}: in load_config",
            "    with open(path, encoding='utf-8') as handle:",
            f"E   FileNotFoundError: [Errno 2] No such file or directory: '{path}'",
        ]
        head.insert(0, f"tmp_path = PosixPath('{_tmp(rng, func)}')")
        return message, _join(head + body, module, line, "FileNotFoundError")
    if kind == 5:
        message = f"AttributeError: 'NoneType' object has no attribute '{noun}'"
        body = [
            f"        result = find_{noun}(name='missing')",
            f">       assert result.{noun}.id",
            f"E       AttributeError: 'NoneType' object has no attribute '{noun}'",
        ]
        return message, _join(head + body, module, line, "AttributeError")
    if kind == 6:
        a, b = rng.randint(1, 9), rng.randint(10, 19)
        compared = f"{{'id': 1, '{noun}': {a}}} == {{'id': 1, '{noun}': {b}}}"
        message = (
            f"AssertionError: assert {compared}\n"
            f"  Omitting 1 identical items, use -vv to show\n  Differing items:\n"
            f"  {{'{noun}': {a}}} != {{'{noun}': {b}}}\n  Use -v to get more diff"
        )
        body = [
            f">       assert serialize({noun}) == {{'id': 1, '{noun}': {b}}}",
            f"E       AssertionError: assert {compared}",
            "E         Omitting 1 identical items, use -vv to show",
            "E         Differing items:",
            f"E         {{'{noun}': {a}}} != {{'{noun}': {b}}}",
            "E         Use -v to get more diff",
        ]
        return message, _join(head + body, module, line, "AssertionError")
    value = rng.choice(("abc", "", "12x", "None", "-"))
    message = f"ValueError: invalid literal for int() with base 10: '{value}'"
    body = [f">       parse_{noun}('{value}')", ""]
    for depth in range(rng.randint(2, 6)):
        body += [
            f"src/app/{noun}/parse.py:{rng.randint(10, 500)}: in step_{depth}",
            f"    return step_{depth + 1}(value)",
        ]
    body += ["    return int(value)", f"E   {message}"]
    return message, _join(head + body, module, line, "ValueError")


def _join(lines: list[str], module: _Module, line: int, kind: str) -> str:
    return "\n".join([*lines, "", f"{module.file}:{line}: {kind}"])


def _error(
    rng: random.Random, module: _Module, classname: str, cls: str, name: str
) -> tuple[str, str]:
    """A pytest error: a fixture failing in setup, or (less often) in teardown."""
    phase = "setup" if rng.random() < 0.8 else "teardown"
    fixture = f"{rng.choice(_NOUNS)}_db"
    if rng.random() < 0.5:
        reason = f"RuntimeError: database is locked (pid {rng.randint(100, 60000)})"
    else:
        reason = f"OSError: [Errno 98] Address already in use: port {rng.randint(1024, 65535)}"
    message = f'failed on {phase} with "{reason}"'
    text = "\n".join(
        [
            f"file {module.file}, line {rng.randint(10, 300)}",
            f"  def {name.split('[')[0]}({'self, ' if cls else ''}{fixture}):",
            f"conftest.py:{rng.randint(10, 120)}: in {fixture}",
            f"    yield from _open_{fixture}(tmp_path_factory)",
            f"src/app/db.py:{rng.randint(10, 300)}: in _open_{fixture}",
            "    raise RuntimeError(message)",
            f"E   {reason}",
        ]
    )
    return message, text


def _skip(rng: random.Random, module: _Module) -> str:
    if rng.random() < 0.2:
        reason = rng.choice(_XFAIL_REASONS)
        return f'<skipped type="pytest.xfail" message="{_attr(reason)}" />'
    reason = rng.choice(_SKIP_REASONS)
    where = f"{module.file}:{rng.randint(5, 400)}: {reason}"
    return f'<skipped type="pytest.skip" message="{_attr(reason)}">{_text(where)}</skipped>'


def _captured(rng: random.Random, noun: str) -> str:
    lines = []
    for _ in range(rng.randint(1, 12)):
        minute, second, milli = rng.randint(0, 59), rng.randint(0, 59), rng.randint(0, 999)
        stamp = f"2026-11-29 08:{minute:02d}:{second:02d},{milli:03d}"
        lines.append(
            f"{stamp} {rng.choice(_LOG_LEVELS):<8} app.{noun}: "
            f"processed {rng.randint(1, 5000)} {noun}s in {rng.uniform(0, 2):.3f}s <ok & done>"
        )
    return "\n".join(lines)


# -- writing -------------------------------------------------------------------------------


def _name(rng: random.Random, used: set[str], index: int) -> str:
    base = f"test_{rng.choice(_VERBS)}_{rng.choice(_NOUNS)}"
    roll = rng.random()
    if roll < 0.25:
        name = f"{base}[param-{rng.randint(0, 40)}]"
    elif roll < 0.33:
        name = f"{base}[{rng.choice(_PARAM_WORDS)}-{rng.choice(_PARAM_WORDS)}]"
    elif roll < 0.36:
        name = f"{base}[{rng.randint(1, 9)}-{rng.randint(1, 9)}-{rng.randint(1, 99)}]"
    elif roll < 0.37:
        name = f"{base}[a[{rng.randint(0, 3)}]-b]"
    else:
        name = base
    if name in used:
        name = f"{base}_{index}" + (name[len(base) :] if "[" in name else "")
    used.add(name)
    return name


def _testcase(
    out: IO[str],
    rng: random.Random,
    module: _Module,
    used: dict[str, set[str]],
    index: int,
    status: str,
    duration: float,
) -> None:
    cls = rng.choice(module.classes)
    classname = f"{module.dotted}.{cls}" if cls else module.dotted
    name = _name(rng, used.setdefault(classname, set()), index)
    head = f'<testcase classname="{classname}" name="{_attr(name)}" time="{duration:.3f}"'
    children: list[str] = []
    if status == FAILED:
        message, text = _failure(rng, module, classname, cls, name)
        children.append(f'<failure message="{_attr(message)}">{_text(text)}</failure>')
    elif status == ERROR:
        message, text = _error(rng, module, classname, cls, name)
        children.append(f'<error message="{_attr(message)}">{_text(text)}</error>')
    elif status == SKIPPED:
        children.append(_skip(rng, module))
    if rng.random() < 0.06 or (status != PASSED and rng.random() < 0.3):
        children.append(f"<system-out>{_text(_captured(rng, rng.choice(_NOUNS)))}</system-out>")
    if rng.random() < 0.01:
        children.append(
            f"<system-err>{_text('DeprecationWarning: datetime.utcnow() is deprecated')}"
            "</system-err>"
        )
    if children:
        out.write(f"{head}>{''.join(children)}</testcase>\n")
    else:
        out.write(f"{head} />\n")


def _suite_open(
    name: str, tests: int, failures: int, errors: int, skipped: int, time: float, stamp: str
) -> str:
    return (
        f'<testsuite name="{_attr(name)}" errors="{errors}" failures="{failures}" '
        f'skipped="{skipped}" tests="{tests}" time="{time:.3f}" timestamp="{stamp}" '
        f'hostname="ci-runner-7">\n'
    )


def write_report(
    path: str | os.PathLike[str], n_tests: int, seed: int = 0, nested: bool = True
) -> ReportStats:
    """Write an ``n_tests``-testcase report to ``path`` and say what is in it."""
    rng = random.Random(f"plan-{seed}")
    packages = _plan(n_tests, rng)
    _count(packages, _outcomes(seed, n_tests))
    outcomes = _outcomes(seed, n_tests)
    stats = ReportStats(Path(path))
    stamp = "2026-11-29T08:00:00.000000+00:00"
    with open(path, "w", encoding="utf-8", newline="\n", buffering=1 << 20) as out:
        out.write('<?xml version="1.0" encoding="utf-8"?>\n<testsuites name="pytest tests">\n')
        if not nested:
            modules = [module for package in packages for module in package.modules]
            out.write(
                _suite_open(
                    "pytest",
                    n_tests,
                    sum(m.failures for m in modules),
                    sum(m.errors for m in modules),
                    sum(m.skipped for m in modules),
                    sum(m.time for m in modules),
                    stamp,
                )
            )
            stats.suites += 1
        for package in packages:
            if nested:
                out.write(
                    _suite_open(
                        package.name,
                        int(package.total("size")),
                        int(package.total("failures")),
                        int(package.total("errors")),
                        int(package.total("skipped")),
                        package.total("time"),
                        stamp,
                    )
                )
                stats.suites += 1
            for module in package.modules:
                if nested:
                    out.write(
                        _suite_open(
                            module.dotted,
                            module.size,
                            module.failures,
                            module.errors,
                            module.skipped,
                            module.time,
                            stamp,
                        )
                    )
                    stats.suites += 1
                used: dict[str, set[str]] = {}
                for index in range(module.size):
                    status, duration = next(outcomes)
                    _testcase(out, rng, module, used, index, status, duration)
                    stats.count(status)
                if nested:
                    out.write("</testsuite>\n")
            if nested:
                out.write("</testsuite>\n")
        if not nested:
            out.write("</testsuite>\n")
        out.write("</testsuites>\n")
    stats.size = os.path.getsize(path)
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--tests", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flat", action="store_true", help="one pytest suite, not nested ones")
    args = parser.parse_args()
    stats = write_report(args.path, args.tests, args.seed, nested=not args.flat)
    print(stats)


if __name__ == "__main__":
    main()
