"""Small builders of JUnit XML for server tests, the app served on loopback, and draining
its job queue."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from flask import Flask
from werkzeug.serving import make_server

from server import create_app, start_embedded_worker
from server.jobs.queue import pending_count
from server.jobs.worker import Worker
from server.storage.db import db


def drain(app: Flask, timeout: float = 120.0) -> int:
    """Run every due job of ``app``'s database in this thread, and wait for jobs another
    worker (an embedded one) is running, until none is left; returns how many ran here."""
    worker = Worker(app, schedule=False, watch=False)
    deadline = time.monotonic() + timeout
    ran = 0
    while True:
        ran += worker.run_burst()
        with app.app_context():
            due, running = pending_count(db.session)
            db.session.remove()
        if not due and not running:
            return ran
        if time.monotonic() > deadline:
            raise AssertionError(f"jobs still pending after {timeout}s")
        if not due:
            time.sleep(0.05)


@contextlib.contextmanager
def serving(app: Flask, *, dispose: bool = False, worker: bool = False) -> Iterator[str]:
    """``app`` on a real HTTP server on 127.0.0.1 (a free port), in a thread; yields its URL.

    With ``worker``, a job worker runs beside it in a thread (as ``make serve`` runs one).
    With ``dispose``, the app's worker and database engine are shut down afterwards too.
    """
    if worker:
        start_embedded_worker(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        if dispose:
            app.extensions["testviz"].shutdown()
            with app.app_context():
                db.engine.dispose()


@contextlib.contextmanager
def serve(database_url: str) -> Iterator[str]:
    """The app on ``database_url`` served as by :func:`serving`, its analysis run inline
    and a job worker beside it (for queued uploads), disposed of afterwards."""
    app = create_app(
        {"database_url": database_url, "watch": False, "analysis_in_background": False}
    )
    with serving(app, dispose=True, worker=True) as url:
        yield url


def junit(*cases: str, name: str = "suite", attrs: str = "") -> bytes:
    """A small JUnit report with the given <testcase> elements."""
    body = "".join(cases)
    return f'<testsuites><testsuite name="{name}" {attrs}>{body}</testsuite></testsuites>'.encode()


def case(name: str, classname: str = "tests.test_mod", body: str = "", time: str = "0.01") -> str:
    return f'<testcase classname="{classname}" name="{name}" time="{time}">{body}</testcase>'
