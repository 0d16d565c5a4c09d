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
from typing import Any

import pytest

from . import __version__, spool
from .capture import Recorder
from .core.codeowners import CodeOwners, find_codeowners
from .core.sidecar import RUNNER_MARKERS
from .environment import environment_facts, git_info
from .options import DEFAULT_BACKLOG_SECONDS, Settings
from .upload import Outcome, send_spooled
from .writer import junit_xml, sidecar


class MetadataHooks:
    """Runs where the test runs (a worker, or the only process): facts only the item knows."""

    def __init__(self) -> None:
        self._hashes: dict[Any, str | None] = {}

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, Any, None]:
        outcome = yield
        if call.when == "setup":
            outcome.get_result().testviz_meta = self._meta(item)

    def _meta(self, item: pytest.Item) -> dict[str, Any]:
        markers = sorted({mark.name for mark in item.iter_markers()})
        own = item.get_closest_marker("testviz")
        owner = own.kwargs.get("owner") if own else None
        tags = _as_tags(own.kwargs.get("tags") if own else None)
        tags.update(name for name in markers if name not in RUNNER_MARKERS)
        meta: dict[str, Any] = {"markers": markers, "tags": sorted(str(tag) for tag in tags)}
        if owner:
            meta["owner"] = str(owner)
        function = getattr(item, "function", None)
        if function is not None:
            if function not in self._hashes:
                self._hashes[function] = source_hash(function)
            if self._hashes[function]:
                meta["source_hash"] = self._hashes[function]
        return meta


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
    code = getattr(inspect.unwrap(function), "__code__", None)
    if code is None:
        return None
    lines = linecache.getlines(code.co_filename)
    start = code.co_firstlineno - 1
    if not lines or start >= len(lines):
        return None
    index = start
    while index < len(lines) and not lines[index].lstrip().startswith(("def ", "async def ")):
        index += 1  # decorators
    if index == len(lines):
        return None
    indent = len(lines[index]) - len(lines[index].lstrip())
    body: list[str] = []
    for line in lines[index + 1 :]:
        stripped = line.strip()
        if stripped and len(line) - len(line.lstrip()) <= indent:
            break
        if stripped:
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
        self.recorder.close_dangling()
        try:
            spooled = self._write()
        except (OSError, ValueError) as exc:  # a full disk; a value the sidecar cannot hold
            self.summary.append(
                f"testviz: could not write the report to {self.settings.directory}: {exc}"
            )
            return
        if self.settings.url is None:
            self.summary.append(f"testviz: report written to {spooled.xml}")
            return
        try:
            self._send_backlog(exclude=spooled.xml)
            outcome = send_spooled(spooled, self.settings.url, **self._send_options())
            self._after_send(spooled, outcome)
        except OSError as exc:  # e.g. another session moved a backlog report meanwhile
            self.summary.append(
                f"testviz: run {self.run_id} is in {self.settings.directory}, "
                f"but sending it was interrupted: {exc}"
            )

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for line in self.summary:
            terminalreporter.write_line(line)

    def _write(self) -> spool.Spooled:
        settings = self.settings
        records = self.recorder.finished
        owners = _codeowners(Path(self.config.rootpath))
        if owners is not None:
            for record in records:
                if not record.meta.get("owner") and record.file:
                    owner = owners.owner(record.file)
                    if owner:
                        record.meta = {**record.meta, "owner": owner}
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
            git_sha=git.sha,
            branch=git.branch,
            env_fingerprint=facts.fingerprint,
            env=facts.facts,
            started=self.started,
            finished=finished,
            producer=producer,
            records=records,
        )
        return spool.write(settings.directory, self.run_id, xml, meta.dump())

    def _send_options(self) -> dict[str, Any]:
        return {"token": self.settings.token, "timeout": self.settings.timeout}

    def _send_backlog(self, exclude: Path) -> None:
        """Send reports earlier sessions could not, for a bounded time."""
        assert self.settings.url is not None
        deadline = time.monotonic() + DEFAULT_BACKLOG_SECONDS
        sent = 0
        for waiting in spool.pending(self.settings.directory):
            if waiting.xml == exclude or time.monotonic() > deadline:
                continue
            outcome = send_spooled(waiting, self.settings.url, **self._send_options(), retries=1)
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
