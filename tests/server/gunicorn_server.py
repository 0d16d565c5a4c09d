"""The server as production runs it: ``gunicorn 'server:create_app()'`` on 127.0.0.1.

:func:`running_gunicorn` starts gunicorn from this checkout with ``sys.executable`` (so the
same environment), waits until every worker has loaded the app and ``/healthz`` answers, and
always stops it: SIGTERM, then SIGKILL after a timeout. The concurrency tests and
``bench/ingest_bench.py`` both use it.

This file is also gunicorn's config file (``-c``). Gunicorn takes only the names it knows as
settings from it: ``post_worker_init``, which logs each worker's pid once the app is loaded
(how we know that every worker came up, not just one), and ``control_socket_disable``, so that
servers started side by side do not share gunicorn's (>= 25.1) one control socket in $HOME.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[2]
READY_LINE = "testviz worker ready pid="
_READY = re.compile(re.escape(READY_LINE) + r"(\d+)")


# -- gunicorn settings -------------------------------------------------------------------------

control_socket_disable = True


def post_worker_init(worker: Any) -> None:
    """The worker has loaded the app."""
    worker.log.info("%s%d", READY_LINE, worker.pid)


# -- starting and stopping ---------------------------------------------------------------------


class GunicornError(RuntimeError):
    """gunicorn did not come up, or not with every worker; the message carries its log."""


def free_port() -> int:
    """A port nobody listens on right now (there is a small window before gunicorn binds it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Gunicorn:
    """A running gunicorn: its base URL, master process and log file."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    workers: int

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def ready_pids(self) -> list[int]:
        """Pids of the workers that logged READY_LINE, in boot order, without repeats."""
        return list(dict.fromkeys(int(pid) for pid in _READY.findall(self.log())))

    def worker_pids(self) -> list[int]:
        """The master's live child processes (its workers)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return [pid for pid in self.ready_pids() if Path(f"/proc/{pid}").exists()]


def _fail(message: str, server: Gunicorn) -> GunicornError:
    return GunicornError(f"{message}\n--- gunicorn log ({server.log_path}) ---\n{server.log()}")


def _wait_ready(server: Gunicorn, deadline: float) -> None:
    """Until every worker has loaded the app and /healthz answers 200, or fail with the log."""
    healthy = False
    with requests.Session() as http:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise _fail(f"gunicorn exited with code {server.process.returncode}", server)
            if not healthy:
                try:
                    healthy = http.get(f"{server.url}/healthz", timeout=2).status_code == 200
                except requests.RequestException:
                    healthy = False
            if healthy and len(server.ready_pids()) >= server.workers:
                return
            time.sleep(0.1)
    raise _fail(
        f"gunicorn was not ready in time: /healthz ok={healthy}, "
        f"{len(server.ready_pids())} of {server.workers} workers loaded the app",
        server,
    )


def stop(process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGTERM (gunicorn's graceful shutdown), then SIGKILL the master and any leftover worker."""
    if process.poll() is None:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
        try:
            workers = [int(pid) for pid in children.read_text().split()]
        except OSError:
            workers = []
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
            for pid in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def running_gunicorn(
    database_url: str,
    *,
    workers: int = 4,
    env: Mapping[str, str] | None = None,
    log_dir: str | os.PathLike[str] | None = None,
    request_timeout: int = 120,
    ready_timeout: float = 60.0,
) -> Iterator[Gunicorn]:
    """Serve ``server:create_app()`` on ``database_url`` with ``workers`` sync workers.

    ``env`` adds to the environment (after the defaults, so it may override them);
    ``request_timeout`` is gunicorn's ``--timeout``, after which a busy worker is killed.
    """
    port = free_port()
    full_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "TESTVIZ_DATABASE_URL": database_url,
        "TESTVIZ_WATCH": "false",
        **(env or {}),
    }
    full_env.pop("TEST_RESULTS_DIR", None)
    command = [
        sys.executable, "-m", "gunicorn",
        "--config", str(Path(__file__).resolve()),
        "--chdir", str(REPO),
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--timeout", str(request_timeout),
        "--graceful-timeout", "10",
        "--log-level", "info",
        "server:create_app()",
    ]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="testviz-gunicorn-", dir=log_dir) as scratch:
        log_path = Path(scratch) / "gunicorn.log"
        with open(log_path, "wb") as log_file:
            process = subprocess.Popen(
                command, cwd=REPO, env=full_env, stdin=subprocess.DEVNULL,
                stdout=log_file, stderr=subprocess.STDOUT,
            )  # fmt: skip
        server = Gunicorn(f"http://127.0.0.1:{port}", process, log_path, workers)
        try:
            _wait_ready(server, time.monotonic() + ready_timeout)
            yield server
        finally:
            stop(process)


# -- job workers -------------------------------------------------------------------------------

#: What a ``flask worker`` logs once it runs (server/jobs/worker.py).
WORKER_READY = "worker started:"


@dataclass
class JobWorker:
    """A ``flask worker`` process and its log."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Until the worker has loaded the app and started its threads (it logs so)."""
        deadline = time.monotonic() + timeout
        while WORKER_READY not in self.log():
            if self.process.poll() is not None:
                raise GunicornError(f"the worker exited:\n{self.log()}")
            if time.monotonic() > deadline:
                raise GunicornError(f"the worker was not ready in time:\n{self.log()}")
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no job in hand is finished or released."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(30)


def start_worker(
    database_url: str,
    log_dir: str | os.PathLike[str],
    *,
    app: str = "server",
    args: tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
    name: str = "worker",
) -> JobWorker:
    """Start ``flask --app APP worker ARGS`` from this checkout on ``database_url``."""
    full_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        "TESTVIZ_DATABASE_URL": database_url,
        "TESTVIZ_WATCH": "false",
        **(env or {}),
    }
    full_env.pop("TEST_RESULTS_DIR", None)
    log_path = Path(log_dir) / f"{name}-{time.monotonic_ns()}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", app, "worker", *args],
            cwd=REPO, env=full_env, stdin=subprocess.DEVNULL,
            stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    return JobWorker(process, log_path)


@contextlib.contextmanager
def running_workers(
    database_url: str,
    count: int,
    log_dir: str | os.PathLike[str],
    *,
    ready: bool = True,
    **options: Any,
) -> Iterator[list[JobWorker]]:
    """``count`` worker processes (see :func:`start_worker`), each ready (with ``ready``),
    stopped (SIGTERM, then SIGKILL) afterwards."""
    workers = [
        start_worker(database_url, log_dir, name=f"worker{index}", **options)
        for index in range(count)
    ]
    try:
        if ready:
            for worker in workers:
                worker.wait_ready()
        yield workers
    finally:
        for worker in workers:
            stop(worker.process)
