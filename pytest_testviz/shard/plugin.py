"""Selecting this job's part of the collection, after every other selection.

The hook wraps ``pytest_collection_modifyitems`` outermost (a ``tryfirst`` wrapper registered
after ``--lf``'s), so ``-k``, ``-m``, ``--deselect``, ``--lf`` and plugins have had their say:
it splits what they selected.

Under xdist the controller collects nothing and every worker collects the same tests (xdist
checks): each worker must keep the same part. One worker plans (it takes a lock file in a
directory the controller made) and writes the part there; the others wait for it and keep
the same tests. So the server is asked once per job, and a worker's timeout cannot give two
workers two plans. The controller prints the planner's one line at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ..capture import mangle_nodeid, xml_safe
from ..core.identity import test_id
from ..core.sharding import Plan, collection_hash, plan
from . import ShardSettings
from .sources import ATTEMPTS, Failed, fetch_durations, load_cache, request_plan, save_cache

#: The key of the controller's shared directory in an xdist worker's ``workerinput``.
WORKER_INPUT = "testviz_shard_dir"
_LOCK = "planning.lock"
_RESULT = "plan.json"
#: Seconds a worker waits for the planning one beyond the planner's own network time.
WAIT_MARGIN = 60.0


@dataclass(frozen=True)
class Decision:
    """This job's part, and how it was chosen, in words."""

    part: frozenset[str]
    load: float | None  # expected seconds, when split by durations
    how: str


def item_test_id(project: str, item: pytest.Item) -> str:
    """The ``test_id`` the server stores the item's results under (see docs/identity.md):
    its classname and name as the plugin's report writes them."""
    classname, name = mangle_nodeid(item.nodeid)
    return test_id(project, xml_safe(classname), name)


def _group_key(item: pytest.Item, group: str | None) -> str | None:
    if group == "module":
        return item.nodeid.partition("::")[0]
    if group == "class":
        outermost = None
        for node in item.listchain():
            if isinstance(node, pytest.Class):
                outermost = node
                break
        return outermost.nodeid if outermost is not None else None
    return None


def units_of(
    items: Sequence[pytest.Item], ids: Sequence[str], group: str | None
) -> list[list[str]]:
    """The units placed whole: each test alone, or the tests of each module or class
    together (with ``class``, a test outside a class is alone). A test id is in one unit
    only: two items with one id (rare, see docs/identity.md) are one test to the server."""
    grouped: dict[str, list[str]] = {}
    alone: list[list[str]] = []
    seen: set[str] = set()
    for item, test in zip(items, ids, strict=True):
        if test in seen:
            continue
        seen.add(test)
        key = _group_key(item, group)
        if key is None:
            alone.append([test])
        else:
            grouped.setdefault(key, []).append(test)
    return [*grouped.values(), *alone]


def _about(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def _from_durations(origin: str, found: Plan) -> str:
    if found.source == "count":
        return f"split by count: no test here has a duration in {origin}"
    return f"split by {origin}"


def decide(settings: ShardSettings, units: list[list[str]]) -> Decision:
    """Part K of the plan: the server's for this build, else one made here from the server's
    durations, the cache, or by count; ``how`` says which and why."""
    total, index = settings.total, settings.index
    if total == 1:
        return Decision(frozenset(test for unit in units for test in unit), None, "one part")
    reason: str | None = None
    durations: dict[str, float] = {}
    origin: str | None = None
    if settings.url is not None:
        fetched = fetch_durations(
            settings.url, settings.project, token=settings.token, timeout=settings.timeout
        )
        if isinstance(fetched, Failed):
            reason = fetched.reason
        else:
            save_cache(settings.directory, settings.project, fetched)
            durations = fetched.durations
            origin = "the server's durations" + (
                f" (branch {fetched.branch})" if fetched.branch else ""
            )
            if settings.build is not None:
                remote = request_plan(
                    settings.url,
                    token=settings.token,
                    timeout=settings.timeout,
                    project=settings.project,
                    build_id=settings.build,
                    total=total,
                    group=settings.group,
                    units=units,
                )
                if not isinstance(remote, Failed):
                    made = "made now" if remote.created else "made by an earlier job"
                    how = f"the server's plan for build {settings.build} ({made}"
                    how += ", by count: no durations yet)" if remote.plan.source == "count" else ")"
                    return _decision(remote.plan, index, how)
                reason = f"the server's plan: {remote.reason}"
    if origin is None:
        cached = load_cache(settings.directory, settings.project)
        if cached is not None:
            durations = cached.durations
            origin = "the durations cached" + (f" at {cached.fetched}" if cached.fetched else "")
    local = plan(units, durations, total)
    if origin is None:
        how = "split by count: no durations (" + (
            "no --testviz-url" if settings.url is None else reason or "none"
        )
        how += f", no cache in {settings.directory})"
    else:
        how = _from_durations(origin, local)
    if reason is not None and origin is not None:
        how += f"; {reason}"
    elif settings.url is not None and settings.build is None:
        how += "; no CI build id, so not shared with other jobs (--testviz-build)"
    return _decision(local, index, how)


def _decision(found: Plan, index: int, how: str) -> Decision:
    load = found.loads[index - 1] if found.source == "durations" else None
    return Decision(frozenset(found.part(index)), load, how)


class ShardPlugin:
    """Keeps part K of the selected tests; under xdist, see the module's docstring."""

    def __init__(self, settings: ShardSettings) -> None:
        self.settings = settings
        #: The line for the terminal summary, once known.
        self.line: str | None = None
        #: The controller's directory shared with its xdist workers.
        self.shared: Path | None = None
        #: Tests were selected, and none of them fell in this part.
        self.empty_part = False

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> Generator[None, None, None]:
        yield
        self._select(config, items)

    def _select(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        settings = self.settings
        ids = [item_test_id(settings.project, item) for item in items]
        units = units_of(items, ids, settings.group)
        workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
        shared = workerinput.get(WORKER_INPUT) if workerinput is not None else None
        if shared and Path(shared).is_dir():
            part, line = self._coordinated(Path(shared), units, ids)
        else:
            part, line = self._planned(units, ids)
        selected = [item for item, test in zip(items, ids, strict=True) if test in part]
        deselected = [item for item, test in zip(items, ids, strict=True) if test not in part]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = selected
        self.empty_part = bool(deselected) and not selected
        self.line = line

    def _planned(self, units: list[list[str]], ids: list[str]) -> tuple[frozenset[str], str]:
        settings = self.settings
        prefix = f"testviz: shard {settings.index}/{settings.total}"
        if not ids:
            return frozenset(), f"{prefix}: no tests selected"
        decision = decide(settings, units)
        count = sum(1 for test in ids if test in decision.part)
        about = f", about {_about(decision.load)}" if decision.load is not None else ""
        return decision.part, f"{prefix}: {count} of {len(ids)} tests{about}; {decision.how}"

    def _coordinated(
        self, shared: Path, units: list[list[str]], ids: list[str]
    ) -> tuple[frozenset[str], str]:
        """The part the first worker here planned: this worker plans if it is the first."""
        digest = collection_hash(units, self.settings.group)
        result = shared / _RESULT
        try:
            os.close(os.open(shared / _LOCK, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            found = self._wait_for(result, digest)
            if found is not None:
                return found
            part, line = self._planned(units, ids)
            return part, f"{line} (the planning worker gave no plan; planned again)"
        written: dict[str, Any] = {"hash": None}  # if planning fails, the others plan alone
        try:
            part, line = self._planned(units, ids)
            written = {"hash": digest, "part": sorted(part), "line": line}
        finally:
            staging = shared / f".{_RESULT}.{os.getpid()}"
            staging.write_text(json.dumps(written), encoding="utf-8")
            os.replace(staging, result)
        return part, line

    def _wait_for(self, result: Path, digest: str) -> tuple[frozenset[str], str] | None:
        # The planner asks the server twice at most (durations, plan), each with retries.
        deadline = time.monotonic() + 2 * ATTEMPTS * self.settings.timeout + WAIT_MARGIN
        while time.monotonic() < deadline:
            try:
                written = json.loads(result.read_text(encoding="utf-8"))
            except FileNotFoundError:
                time.sleep(0.05)
                continue
            except (OSError, ValueError):
                return None
            if written.get("hash") != digest:
                return None  # another collection: xdist stops the run on it anyway
            return frozenset(written["part"]), str(written["line"])
        return None

    # -- the xdist controller ------------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        if self.shared is None:
            self.shared = Path(tempfile.mkdtemp(prefix="testviz-shard-"))
        node.workerinput[WORKER_INPUT] = str(self.shared)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        line = self.line
        if line is None and self.shared is not None:
            try:
                written = json.loads((self.shared / _RESULT).read_text(encoding="utf-8"))
                line = str(written["line"])
            except (OSError, ValueError, KeyError, TypeError):
                line = None
        if line is not None:
            terminalreporter.write_line(line)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """An empty part is not "no tests collected": the other parts run the selection."""
        if session.exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and self._part_was_empty():
            session.exitstatus = pytest.ExitCode.OK

    def _part_was_empty(self) -> bool:
        if self.shared is None:
            return self.empty_part
        try:  # the xdist controller: its workers planned
            written = json.loads((self.shared / _RESULT).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(written, dict) and written.get("part") == []

    def pytest_unconfigure(self) -> None:
        if self.shared is not None:
            shutil.rmtree(self.shared, ignore_errors=True)
