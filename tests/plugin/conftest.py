"""Fixtures for the plugin tests: real pytest sessions through ``pytester`` with the plugin
loaded exactly once, the server on SQLite behind a real HTTP server on loopback, and small
HTTP servers that misbehave on purpose."""

from __future__ import annotations

import http.server
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from tests.server.helpers import drain, serving

REPO = Path(__file__).resolve().parents[2]


def plugin_installed() -> bool:
    """Whether pytest loads the plugin by itself (installed: entry point ``testviz``)."""
    return any(ep.name == "testviz" for ep in entry_points(group="pytest11"))


#: What a pytester session needs to load the plugin: nothing when it is installed (``-p``
#: would register it a second time under another name), else ``-p pytest_testviz.plugin``.
PLUGIN_ARGS: tuple[str, ...] = () if plugin_installed() else ("-p", "pytest_testviz.plugin")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the shared ``app`` and ``make_app`` (tests/conftest.py) build on this."""
    return f"sqlite:///{tmp_path / 'testviz.sqlite3'}"


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No TESTVIZ_* setting of the developer's shell or the CI leaks into a test session (nor
    GitHub's step summary file: the sessions would write theirs to it)."""
    for name in list(os.environ):
        if name.startswith("TESTVIZ_") or name in ("PYTEST_ADDOPTS", "GITHUB_STEP_SUMMARY"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries without urllib3's backoff sleeps: no test waits through real backoff."""
    monkeypatch.setattr("pytest_testviz.upload.BACKOFF", 0.0)


@dataclass
class Testviz:
    """Runs pytest sessions with the plugin in a ``pytester`` directory."""

    __test__ = False

    pytester: pytest.Pytester
    monkeypatch: pytest.MonkeyPatch

    @property
    def directory(self) -> Path:
        """The report directory of sessions run with ``dir_args``."""
        return self.pytester.path / "reports"

    @property
    def dir_args(self) -> tuple[str, ...]:
        return (f"--testviz-dir={self.directory}",)

    def run(self, *args: str) -> pytest.RunResult:
        """A session in this process (fast): the plugin, then ``args``.

        This process imported the plugin before the session starts, so pytest 9.2 and newer
        warn that they cannot rewrite its asserts; the plugin has none to rewrite."""
        quiet = ("-W", "ignore::pytest.PytestAssertRewriteWarning")
        return self.pytester.runpytest_inprocess(*PLUGIN_ARGS, *quiet, *args)

    def run_subprocess(self, *args: str) -> pytest.RunResult:
        """A session in a new interpreter (needed for xdist), with the checkout importable."""
        self.monkeypatch.setenv("PYTHONPATH", os.pathsep.join(_python_path()))
        return self.pytester.runpytest_subprocess(*PLUGIN_ARGS, *args, timeout=300)

    def pending(self) -> list[str]:
        """Names of the reports waiting in the directory."""
        return sorted(path.name for path in self.directory.glob("*.xml"))

    def sent(self) -> list[str]:
        return sorted(path.name for path in (self.directory / "sent").glob("*.xml"))


def _python_path() -> list[str]:
    existing = os.environ.get("PYTHONPATH", "")
    return [str(REPO), *(part for part in existing.split(os.pathsep) if part)]


@pytest.fixture
def testviz(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Testviz:
    return Testviz(pytester, monkeypatch)


# -- the server's view ----------------------------------------------------------------------

#: The app behind each live server's URL, so the helpers below can wait for its background
#: work: the plugin's upload is answered 202 and stored by a job worker.
_APPS: dict[str, Flask] = {}


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """``app`` served on 127.0.0.1, its URL registered for :func:`settled`, which runs the
    jobs in the test's own thread (a worker thread would import modules while an in-process
    pytest run swaps ``sys.modules``)."""
    with serving(app) as url:
        _APPS[url] = app
        try:
            yield url
        finally:
            del _APPS[url]


@pytest.fixture
def working_server(app: Flask) -> Iterator[str]:
    """``app`` served on 127.0.0.1 with a job worker thread beside it (as ``make serve`` runs
    it), so a queued upload is stored while its client waits: for ``testviz push`` and for
    sessions run with :meth:`Testviz.run_subprocess`, never in-process ones (see above)."""
    with serving(app, worker=True) as url:
        _APPS[url] = app
        try:
            yield url
        finally:
            del _APPS[url]


def settled(url: str) -> None:
    """Wait until the server at ``url`` has ingested and analysed everything it accepted."""
    drain(_APPS[url])


def server_runs(url: str) -> list[dict[str, Any]]:
    """Every run stored on the server, newest first (once queued uploads are stored)."""
    settled(url)
    response = requests.get(f"{url}/api/tests/runs", params={"per_page": 500}, timeout=30)
    response.raise_for_status()
    runs: list[dict[str, Any]] = response.json()["runs"]
    return runs


def server_run(url: str, run_id: str) -> dict[str, Any]:
    """One run with all its results."""
    settled(url)
    response = requests.get(f"{url}/api/tests/runs/{run_id}", timeout=30)
    response.raise_for_status()
    run: dict[str, Any] = response.json()
    return run


def only_run(url: str) -> dict[str, Any]:
    """The single run on the server (fails if there is not exactly one), with its results."""
    runs = server_runs(url)
    assert len(runs) == 1, [run["run_id"] for run in runs]
    return server_run(url, runs[0]["run_id"])


# -- servers that misbehave -------------------------------------------------------------------


@dataclass
class FakeServer:
    """A tiny HTTP server on 127.0.0.1 and the requests it received."""

    url: str
    requests: list[str] = field(default_factory=list)


def serve(
    handler: Callable[[http.server.BaseHTTPRequestHandler, FakeServer], None],
    release: threading.Event | None = None,
    tls: ssl.SSLContext | None = None,
) -> Iterator[FakeServer]:
    """Run a fake server until the generator is closed; ``tls`` makes it an https one."""
    fake: FakeServer

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            fake.requests.append(self.path)
            handler(self, fake)

        do_GET = do_POST

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    scheme = "https" if tls is not None else "http"
    fake = FakeServer(f"{scheme}://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        if release is not None:
            release.set()  # let hanging handlers end, or closing the server waits for them
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def answer_json(request: http.server.BaseHTTPRequestHandler, status: int, body: bytes) -> None:
    request.send_response(status)
    request.send_header("Content-Type", "application/json")
    request.send_header("Content-Length", str(len(body)))
    request.end_headers()
    request.wfile.write(body)


def _unavailable(request: http.server.BaseHTTPRequestHandler, fake: FakeServer) -> None:
    answer_json(request, 503, b'{"code": "unavailable", "message": "down for maintenance"}')


@pytest.fixture
def unavailable_server() -> Iterator[FakeServer]:
    """Answers every request with 503 Service Unavailable."""
    yield from serve(_unavailable)


@pytest.fixture
def redirecting_server() -> Iterator[FakeServer]:
    """Answers every request with 301 Moved Permanently to an https address."""

    def redirect(request: http.server.BaseHTTPRequestHandler, fake: FakeServer) -> None:
        request.send_response(301)
        request.send_header("Location", "https://testviz.example/api/tests/ingest")
        request.send_header("Content-Length", "0")
        request.end_headers()

    yield from serve(redirect)


@pytest.fixture
def deep_json_server() -> Iterator[FakeServer]:
    """Answers 200 with JSON nested deeper than Python's parser goes."""
    yield from serve(lambda request, fake: answer_json(request, 200, b"[" * 100_000))


@pytest.fixture
def silent_server() -> Iterator[FakeServer]:
    """Accepts connections and reads requests, but never answers until the test ends."""
    release = threading.Event()

    def hang(request: http.server.BaseHTTPRequestHandler, fake: FakeServer) -> None:
        release.wait(timeout=60)

    yield from serve(hang, release)


@pytest.fixture
def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: the port was bound, then released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
