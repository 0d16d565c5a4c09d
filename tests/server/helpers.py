"""Small builders of JUnit XML for server tests, and the app served on loopback."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

from flask import Flask
from werkzeug.serving import make_server

from server import create_app
from server.db import db


@contextlib.contextmanager
def serving(app: Flask, *, dispose: bool = False) -> Iterator[str]:
    """``app`` on a real HTTP server on 127.0.0.1 (a free port), in a thread; yields its URL.

    With ``dispose``, the app's analyzer and database engine are shut down afterwards too.
    """
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
    (no background thread to wait for), disposed of afterwards."""
    app = create_app(
        {"database_url": database_url, "watch": False, "analysis_in_background": False}
    )
    with serving(app, dispose=True) as url:
        yield url


def junit(*cases: str, name: str = "suite", attrs: str = "") -> bytes:
    """A small JUnit report with the given <testcase> elements."""
    body = "".join(cases)
    return f'<testsuites><testsuite name="{name}" {attrs}>{body}</testsuite></testsuites>'.encode()


def case(name: str, classname: str = "tests.test_mod", body: str = "", time: str = "0.01") -> str:
    return f'<testcase classname="{classname}" name="{name}" time="{time}">{body}</testcase>'
