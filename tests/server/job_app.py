"""The server app with two job kinds for the worker tests, for ``flask --app
tests.server.job_app worker``.

``tests.sleep`` (payload ``{"marker": PATH, "seconds": S, "again": S2}``) appends
``start <job id> <attempt> <pid>`` to the marker file, sleeps ``S`` seconds on its first
attempt and ``S2`` on later ones, then appends ``end ...``. ``tests.count`` appends
``<job key> <pid>`` to its marker file: how the tests see that each job ran exactly once.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from typing import Any

from flask import Flask

from server import create_app as create_server_app
from server.jobs.handlers import register
from server.jobs.queue import ClaimedJob


def _append(path: str, line: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def sleep(app: Flask, job: ClaimedJob) -> timedelta | None:
    payload: dict[str, Any] = job.payload or {}
    marker = payload["marker"]
    _append(marker, f"start {job.id} {job.attempts} {os.getpid()}")
    time.sleep(payload["seconds"] if job.attempts == 1 else payload.get("again", 0))
    _append(marker, f"end {job.id} {job.attempts} {os.getpid()}")
    return None


def count(app: Flask, job: ClaimedJob) -> timedelta | None:
    _append((job.payload or {})["marker"], f"{job.key} {os.getpid()}")
    return None


register("tests.sleep", sleep)
register("tests.count", count)


def create_app() -> Flask:
    return create_server_app()
