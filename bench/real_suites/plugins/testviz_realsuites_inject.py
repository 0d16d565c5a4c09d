"""Failures injected into a real suite, so that its ``reruns`` run has known flaky, failing
and shared-cause tests for ``bench/real_suites.py`` to look for in the stored run.

Loaded with ``-p testviz_realsuites_inject``; the plan is JSON in ``TESTVIZ_REALSUITES_INJECT``:
``{"dir": DIR, "first_attempt": NODEID, "always": NODEID, "shared": [NODEID, ...],
"worded": NODEID}``.

* ``first_attempt`` fails on its first attempt only (expected: stored passed and flaky);
* ``always`` fails on every attempt (expected: failed, not flaky);
* every ``shared`` test raises the same exception from the same helper (expected: one
  failure group), and ``worded`` the same type from the same helper in other words
  (expected: a group of its own).

A chosen test's function is replaced, for its call phase, by a function of the same name
that calls the helper first and then the real test. It is written to ``DIR/<the test's file
path>`` (one file per test file, all its chosen tests in it), so that pytest shows its source
and the failure reads as it would if the test's own code had called a shared helper: the
test's frame in a test file, then the helper's frame in this module. That matters, because
failure fingerprints are computed from the traceback's frames.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, NoReturn

import pytest

ENV = "TESTVIZ_REALSUITES_INJECT"

SHARED_DETAIL = "the upstream service did not answer"
WORDED_DETAIL = "the upstream service refused the credentials"


class InjectedError(RuntimeError):
    """Raised by the helpers below; never by the suites themselves."""


def upstream_unavailable(detail: str) -> NoReturn:
    """The shared helper: several tests hit the same broken dependency through it."""
    raise InjectedError(f"upstream call failed: {detail}")


def always_broken() -> NoReturn:
    raise InjectedError("this test is broken on every attempt")


def broken_first_time() -> NoReturn:
    raise InjectedError("this test fails on its first attempt only")


#: The statement each kind of chosen test runs before the real test.
CALLS = {
    "first_attempt": "broken_first_time()",
    "always": "always_broken()",
    "shared": f"upstream_unavailable({SHARED_DETAIL!r})",
    "worded": f"upstream_unavailable({WORDED_DETAIL!r})",
}

SOURCE = """\
def {name}(*args, **kwargs):
    {call}
    return __real_test__(*args, **kwargs)

"""


def function_name(nodeid: str) -> str:
    """The test's function (or unittest method) name: the node id's last part, without its
    parameters."""
    name = nodeid.rpartition("::")[2].partition("[")[0]
    return name if name.isidentifier() else "injected_test"


class Injector:
    """Swaps the chosen tests' functions for failing ones, for their call phase only."""

    def __init__(self, plan: dict[str, Any]) -> None:
        self.kinds: dict[str, str] = {}
        for kind in ("first_attempt", "always", "worded"):
            if plan.get(kind):
                self.kinds[plan[kind]] = kind
        for nodeid in plan.get("shared", []):
            self.kinds[nodeid] = "shared"
        self.code = write_sources(Path(plan["dir"]), self.kinds)
        self.attempts: Counter[str] = Counter()
        self.swapped: dict[str, Any] = {}

    def _fails_now(self, nodeid: str) -> bool:
        kind = self.kinds.get(nodeid)
        if kind is None:
            return False
        self.attempts[nodeid] += 1
        return kind != "first_attempt" or self.attempts[nodeid] == 1

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        real = getattr(item, "obj", None)
        if real is None or not self._fails_now(item.nodeid):
            return
        self.swapped[item.nodeid] = real
        item.obj = failing_function(self.code[item.nodeid], real)  # type: ignore[attr-defined]

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, Any, Any]:
        # The swapped function stays until the call's report is made: pytest cuts the
        # traceback at the test function's code, which must be the one that ran.
        try:
            return (yield)
        finally:
            if call.when == "call" and item.nodeid in self.swapped:
                item.obj = self.swapped.pop(item.nodeid)  # type: ignore[attr-defined]


def write_sources(directory: Path, kinds: dict[str, str]) -> dict[str, tuple[Any, str]]:
    """One file per test file, holding a failing function per chosen test; each function is
    compiled at its own lines of that file (two chosen tests may share a function name)."""
    by_file: dict[str, list[str]] = {}
    for nodeid in kinds:
        by_file.setdefault(nodeid.partition("::")[0], []).append(nodeid)
    code: dict[str, tuple[Any, str]] = {}
    for test_file, nodeids in by_file.items():
        path = directory / test_file
        lines = 0
        sources = []
        for nodeid in nodeids:
            name = function_name(nodeid)
            source = SOURCE.format(name=name, call=CALLS[kinds[nodeid]])
            code[nodeid] = (compile("\n" * lines + source, str(path), "exec"), name)
            sources.append(source)
            lines += source.count("\n")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(sources), encoding="utf-8")
    return code


def failing_function(compiled: tuple[Any, str], real: Any) -> Callable[..., Any]:
    """The chosen test's failing stand-in, calling ``real`` once the helper let it."""
    code, name = compiled
    namespace: dict[str, Any] = {
        "__real_test__": real,
        "broken_first_time": broken_first_time,
        "always_broken": always_broken,
        "upstream_unavailable": upstream_unavailable,
    }
    exec(code, namespace)
    function: Callable[..., Any] = namespace[name]
    return function


def pytest_configure(config: pytest.Config) -> None:
    raw = os.environ.get(ENV)
    if raw:
        config.pluginmanager.register(Injector(json.loads(raw)), "testviz-realsuites-inject")
