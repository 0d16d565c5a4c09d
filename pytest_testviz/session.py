"""The plugin's working parts, imported only once the plugin is switched on.

:class:`MetadataHooks` runs where tests run (a worker, or the only process) and attaches what
only the item knows; :class:`TestvizSession` runs on the controller, records every report,
writes the XML and sidecar at the end and uploads them once.
"""

from __future__ import annotations

import hashlib
import inspect
import linecache
import os
import socket
import time
from collections.abc import Generator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

from . import __version__, spool
from .capture import Recorder
from .core.codeowners import CodeOwners, find_codeowners
from .core.constants import RUNNER_MARKERS
from .environment import environment_facts, git_info
from .options import DEFAULT_BACKLOG_SECONDS, SUMMARY_WAIT_SECONDS, Settings, build
from .writer import junit_xml, sidecar

if TYPE_CHECKING:
    from .summary.job import Target
    from .upload import Outcome


class ItemMeta:
    """Markers, tags, owner and source hash of test items, as sidecar fields.

    What an item's parents (module, class, package) say is worked out once per parent, and
    with it the fields of every item there without markers of its own (most items); an item
    with its own markers costs one more lookup per (parent, marker names) -- a module's hundred
    tests share them. The source hash is computed once per function (a parametrized test is
    one function).
    """

    def __init__(self) -> None:
        self._hashes: dict[Any, str | None] = {}
        self._parents: dict[Any, _Parent] = {}
        self._marked: dict[tuple[Any, frozenset[str]], dict[str, Any]] = {}

    def __call__(self, item: pytest.Item) -> dict[str, Any]:
        """``tags``, ``owner``, ``markers``, ``source_hash``: the non-empty ones, in that order."""
        parent = item.parent
        known = self._parents.get(parent)
        if known is None:
            known = self._parents[parent] = _parent(parent)
        own = item.own_markers
        marked = self._own_marked(parent, known, own) if own else known.marked
        function = getattr(item, "function", None)
        if function is None:
            return dict(marked)
        hashes = self._hashes
        try:
            cached = function in hashes
        except TypeError:  # an unhashable callable: no cache
            digest = source_hash(function)
        else:
            # A lookup, not a KeyError: most functions are seen once, so most lookups miss.
            if cached:
                digest = hashes[function]
            else:
                digest = hashes[function] = source_hash(function)
        return {**marked, "source_hash": digest} if digest else dict(marked)

    def _own_marked(self, parent: Any, known: _Parent, own: list[Any]) -> dict[str, Any]:
        """The marker-derived fields of an item with markers of its own."""
        names = known.names.union([mark.name for mark in own])
        for mark in own:
            if mark.name == "testviz":
                return _marked(names, mark)  # its own owner and tags: not shared
        key = (parent, names)
        marked = self._marked.get(key)
        if marked is None:
            marked = self._marked[key] = _marked(names, known.testviz)
        return marked


class _Parent(NamedTuple):
    """What an item's parent and its ancestors say, worked out once per parent."""

    #: The marker names on the parent and its ancestors.
    names: frozenset[str]
    #: The closest ``testviz`` marker among them.
    testviz: Any
    #: The fields of an item there without markers of its own.
    marked: dict[str, Any]


def _parent(node: Any) -> _Parent:
    """The marker names on ``node`` and its parents, the closest ``testviz`` marker, and the
    fields they give an item without markers of its own."""
    names: set[str] = set()
    closest = None
    for ancestor in reversed(node.listchain()) if node is not None else ():
        for mark in ancestor.own_markers:
            names.add(mark.name)
            if closest is None and mark.name == "testviz":
                closest = mark
    frozen = frozenset(names)
    return _Parent(frozen, closest, _marked(frozen, closest))


def _marked(names: frozenset[str], testviz: Any) -> dict[str, Any]:
    owner = testviz.kwargs.get("owner") if testviz is not None else None
    tags = _as_tags(testviz.kwargs.get("tags") if testviz is not None else None)
    tags.update(name for name in names if name not in RUNNER_MARKERS)
    meta: dict[str, Any] = {}
    if tags:
        meta["tags"] = sorted(str(tag) for tag in tags)
    if owner:
        meta["owner"] = str(owner)
    if names:
        meta["markers"] = sorted(names)
    return meta


class MetadataHooks:
    """On an xdist worker: attach the item's metadata to its last report for the controller.

    A plain session needs no per-report hook: it reads the items once, at the end.
    """

    def __init__(self) -> None:
        self.meta = ItemMeta()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, Any, None]:
        outcome = yield
        if call.when == "teardown":
            outcome.get_result().testviz_meta = self.meta(item)


def _as_tags(given: Any) -> set[str]:
    """``tags=`` of the testviz marker: a string is one tag, an iterable many, None none."""
    if given is None:
        return set()
    if isinstance(given, str):
        return {given}
    try:
        return {str(tag) for tag in given}
    except TypeError:  # tags=5: one tag, as written
        return {str(given)}


def source_hash(function: Any) -> str | None:
    """A hash of a test function's body: not its name, so a rename keeps the same hash.

    Read through ``linecache`` from the code object's first line (``inspect.getsource``
    tokenizes the whole block and costs ten times more, per test function).
    """
    if hasattr(function, "__wrapped__"):  # decorated: hash what it wraps
        function = inspect.unwrap(function)
    code = getattr(function, "__code__", None)
    if code is None:
        return None
    lines = linecache.getlines(code.co_filename)
    count = len(lines)
    start = code.co_firstlineno - 1
    if not lines or start >= count:
        return None
    index = start
    while index < count and not lines[index].lstrip().startswith(("def ", "async def ")):
        index += 1  # decorators
    if index == count:
        return None
    header = lines[index]
    indent = len(header) - len(header.lstrip())
    body: list[str] = []
    # By index, not over a slice: a slice would copy the rest of the module for every test.
    for number in range(index + 1, count):
        line = lines[number]
        stripped = line.strip()
        if stripped:
            if len(line) - len(line.lstrip()) <= indent:
                break
            body.append(stripped)
    return hashlib.sha256("\n".join(body).encode()).hexdigest()[:16]


class TestvizSession:
    """The controller's side: collect every report, write the files, upload once."""

    __test__ = False

    def __init__(self, config: pytest.Config, settings: Settings, run_id: str) -> None:
        self.config = config
        self.settings = settings
        self.run_id = run_id
        self.recorder = Recorder()
        self.started = datetime.now(timezone.utc)
        self.started_clock = time.perf_counter()
        self.collect_errors: set[str] = set()
        self.summary: list[str] = []
        self.build_id = build(config)
        #: Where the Markdown summary goes (none: no summary, and its code is never imported).
        self.summary_targets: list[Target] = []
        if settings.summary is not None or os.environ.get("GITHUB_STEP_SUMMARY"):
            from .summary.job import targets

            self.summary_targets = targets(settings.summary, os.environ)
        self.outcome: Outcome | None = None

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.recorder.add(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.passed or report.nodeid in self.collect_errors:
            return
        self.collect_errors.add(report.nodeid)  # under xdist each worker reports it
        self.recorder.add_collect_report(report)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.config.option.collectonly:
            return  # not a test run (IDEs collect on every save): nothing to write or send
        try:
            self._finish(session)
        finally:
            if self.summary_targets:
                self._write_summary()

    def _write_summary(self) -> None:
        from .summary.job import write_summaries

        self.summary += write_summaries(
            self.summary_targets,
            records=self.recorder.finished,
            settings=self.settings,
            run_id=self.run_id,
            build_id=self.build_id,
            duration=time.perf_counter() - self.started_clock,
            outcome=self.outcome,
        )

    def _finish(self, session: pytest.Session) -> None:
        """Write the report and its sidecar, and send them (with earlier ones waiting)."""
        self.recorder.close_dangling()
        try:
            self._attach_meta(session.items)
            spooled = self._write()
        except (OSError, ValueError) as exc:  # a full disk; a value the sidecar cannot hold
            self.summary.append(
                f"testviz: could not write the report to {self.settings.directory}: {exc}"
            )
            return
        if self.settings.url is None:
            self.summary.append(f"testviz: report written to {spooled.xml}")
            return
        from .upload import send_spooled  # requests: only when there is something to send

        try:
            self._send_backlog(exclude=spooled.xml)
            outcome = send_spooled(spooled, self.settings.url, **self._send_options())
            self._after_send(spooled, outcome)
        except Exception as exc:  # e.g. another session moved a backlog report meanwhile
            # Whatever went wrong while sending, the run's verdict stands and its files stay.
            self.summary.append(
                f"testviz: run {self.run_id} is in {self.settings.directory}, "
                f"but sending it was interrupted: {type(exc).__name__}: {exc}; send it later "
                f"with: testviz replay {self.settings.directory} --url {self.settings.url}"
            )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for line in self.summary:
            terminalreporter.write_line(line)

    def _attach_meta(self, items: list[pytest.Item]) -> None:
        """Markers, owner and source hash of every test this process ran, read once.

        Under xdist the controller has no items: the workers' reports brought them.
        """
        if not items:
            return
        by_nodeid = {item.nodeid: item for item in items}
        meta = ItemMeta()
        for record in self.recorder.finished:
            if record.meta is None:
                item = by_nodeid.get(record.nodeid)
                if item is not None:
                    record.meta = meta(item)

    def _write(self) -> spool.Spooled:
        settings = self.settings
        records = self.recorder.finished
        owners = _codeowners(Path(self.config.rootpath))
        if owners is not None:
            for record in records:
                if not (record.meta and record.meta.get("owner")) and record.file:
                    owner = owners.owner(record.file)
                    if owner:
                        record.meta = {**(record.meta or {}), "owner": owner}
        finished = datetime.now(timezone.utc)
        producer = f"pytest-testviz/{__version__} pytest/{pytest.__version__}"
        xml = junit_xml(
            records,
            producer=producer,
            started=self.started,
            duration=time.perf_counter() - self.started_clock,
            hostname=socket.gethostname(),
            max_output=settings.max_output,
        )
        git = git_info(Path(self.config.rootpath), os.environ)
        facts = environment_facts(os.environ)
        meta = sidecar(
            run_id=self.run_id,
            project=settings.project,
            session_id=os.environ.get("TESTVIZ_SESSION_ID") or self.run_id,
            build_id=self.build_id,
            git_sha=git.sha,
            branch=git.branch,
            env_fingerprint=facts.fingerprint,
            env=facts.facts,
            started=self.started,
            finished=finished,
            producer=producer,
            records=records,
        )
        return spool.write(settings.directory, self.run_id, xml, meta)

    def _send_options(self) -> dict[str, Any]:
        settings = self.settings
        return {
            "token": settings.token,
            "timeout": settings.timeout,
            # The summary is of the stored run: wait for it, briefly unless waiting was asked for
            # (GitHub Actions always offers a step summary; a busy server must not hold every job).
            "wait": settings.wait or bool(self.summary_targets),
            "wait_timeout": (
                settings.wait_timeout
                if settings.wait
                else min(settings.wait_timeout, SUMMARY_WAIT_SECONDS)
            ),
        }

    def _send_backlog(self, exclude: Path) -> None:
        """Send reports earlier sessions could not, for a bounded time."""
        from .upload import send_spooled

        assert self.settings.url is not None
        deadline = time.monotonic() + DEFAULT_BACKLOG_SECONDS
        sent = 0
        for waiting in spool.pending(self.settings.directory):
            if waiting.xml == exclude or time.monotonic() > deadline:
                continue
            # Not waited for: stored on the server is sent (the run's own upload may wait).
            options = {**self._send_options(), "wait": False, "retries": 1}
            outcome = send_spooled(waiting, self.settings.url, **options)
            if outcome.rejected:
                continue  # the server's "no" to this report only: it waits for a person
            if not outcome.ok:
                break
            spool.mark_sent(waiting, self.settings.keep)
            sent += 1
        if sent:
            self.summary.append(f"testviz: sent {sent} earlier report(s) that were waiting")

    def _after_send(self, spooled: spool.Spooled, outcome: Outcome) -> None:
        settings = self.settings
        self.outcome = outcome
        if outcome.ok:
            spool.mark_sent(spooled, settings.keep)
            self.summary.append(f"testviz: run {self.run_id} {outcome.detail}: {outcome.url}")
            return
        replay = f"testviz replay {settings.directory} --url {settings.url}"
        if outcome.rejected:
            self.summary.append(
                f"testviz: the server refused run {self.run_id}: {outcome.detail}; "
                f"the report stays in {settings.directory} (after fixing it: {replay})"
            )
        else:
            self.summary.append(
                f"testviz: could not send run {self.run_id}: {outcome.detail}; "
                f"the report stays in {settings.directory}; send it later with: {replay}"
            )


def _codeowners(root: Path) -> CodeOwners | None:
    path = find_codeowners(root)
    if path is None:
        return None
    try:
        return CodeOwners(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
