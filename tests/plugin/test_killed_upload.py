"""SIGKILL a pytest session while its plugin uploads: the report stays pending, and replays.

The plugin writes the report and its sidecar to the spool before sending them, so a session
killed mid-upload loses nothing. "Mid-upload" is observed, not timed: the session is killed
once a server that never answers has received the whole request.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_testviz.cli import main as cli_main

from .conftest import PLUGIN_ARGS, REPO, server_run

WAIT = 300.0  # seconds before a wait that should end in a few gives up (not a measurement)

PROJECT_TESTS = """
import pytest

@pytest.mark.parametrize("n", range(50))
def test_many(n):
    assert n % 7
"""


class HangingServer:
    """Accepts one upload, reads it to its last byte, and never answers."""

    def __init__(self) -> None:
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen()
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.received = threading.Event()
        self.request = b""
        self._connection: socket.socket | None = None
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _read(self, connection: socket.socket, data: bytes, done: bytes | int) -> bytes | None:
        while (done not in data) if isinstance(done, bytes) else (len(data) < done):
            chunk = connection.recv(65536)
            if not chunk:
                return None
            data += chunk
        return data

    def _serve(self) -> None:
        try:
            connection, _ = self.listener.accept()
        except OSError:
            return
        self._connection = connection
        data = self._read(connection, b"", b"\r\n\r\n")
        if data is None:
            return
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        whole = self._read(connection, body, length)
        if whole is None:
            return
        self.request = head + b"\r\n\r\n" + whole
        self.received.set()  # ... and say nothing

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self.listener.close()
        self._thread.join(timeout=10)


@pytest.fixture
def hanging_server() -> Iterator[HangingServer]:
    server = HangingServer()
    try:
        yield server
    finally:
        server.close()


def test_a_session_killed_mid_upload_leaves_the_report_pending_and_replay_sends_it(
    tmp_path: Path, hanging_server: HangingServer, live_server: str
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_many.py").write_text(PROJECT_TESTS, encoding="utf-8")
    spool = tmp_path / "spool"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    command = [
        sys.executable, "-m", "pytest", *PLUGIN_ARGS, "-p", "no:cacheprovider", "-q",
        f"--testviz-url={hanging_server.url}", f"--testviz-dir={spool}",
        "--testviz-timeout=600", "--testviz-project=killed",
    ]  # fmt: skip
    session = subprocess.Popen(
        command, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + WAIT
        while not hanging_server.received.wait(0.05):
            assert session.poll() is None, "the session ended before its upload arrived"
            assert time.monotonic() < deadline, "gave up waiting for the upload"
    finally:
        session.kill()
        output = session.communicate(timeout=60)[0].decode(errors="replace")
    assert session.returncode == -signal.SIGKILL, output
    assert hanging_server.request.startswith(b"POST /api/tests/ingest ")

    (pending,) = sorted(path.name for path in spool.glob("*.xml"))
    run_id = pending.removesuffix(".xml")
    assert run_id.encode() in hanging_server.request  # the upload in flight was this report
    assert (spool / f"{run_id}.meta.json").is_file()
    assert not list((spool / "sent").glob("*.xml"))

    assert cli_main(["replay", str(spool), "--url", live_server]) == 0

    assert not list(spool.glob("*.xml"))
    assert [path.name for path in (spool / "sent").glob("*.xml")] == [pending]
    run = server_run(live_server, run_id)  # replay does not wait for the worker
    assert run["project"] == "killed"
    assert (run["totals"]["tests"], run["totals"]["failed"]) == (50, 8)
