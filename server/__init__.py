"""The pytest-testviz server: ingest JUnit XML from any producer, keep every run's history.

Run it from a checkout with ``flask --app server run`` or ``gunicorn 'server:create_app()'``;
installed from a wheel, the same package is ``testviz_server``.
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Mapping
from typing import Any

import click
from flask import Flask

from .config import Settings, load_settings
from .ingest.analysis import Analyzer
from .storage.db import db
from .storage.engine import configure_engine, engine_options, upgrade_database
from .web.auth import TokenPolicy

log = logging.getLogger(__name__)


class TestvizState:
    """What the app holds for its lifetime: settings, the analyzer, the token policy, and
    the embedded job worker when one runs in this process (``TESTVIZ_EMBEDDED_WORKER``)."""

    __test__ = False

    def __init__(self, settings: Settings, analyzer: Analyzer) -> None:
        self.settings = settings
        self.analyzer = analyzer
        self.worker: Any = None
        self.tokens = TokenPolicy()

    def shutdown(self) -> None:
        """Stop the embedded worker, if any, letting the jobs in hand finish."""
        if self.worker is not None:
            self.worker.stop()
            self.worker = None


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; ``test_config`` overrides :class:`Settings` fields and Flask config."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder="web/templates",
        static_folder="web/static",
    )
    settings = load_settings(test_config, app.instance_path)
    if settings.database_url.startswith("sqlite:///") and "TESTVIZ_DATABASE_URL" not in os.environ:
        os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(settings.database_url),
        MAX_CONTENT_LENGTH=settings.max_upload_bytes,
        JSON_SORT_KEYS=False,
    )
    if test_config:
        app.config.update({k: v for k, v in test_config.items() if k.isupper()})

    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine)
        if settings.auto_migrate:
            upgrade_database(db.engine)

    state = TestvizState(settings, Analyzer(settings))
    app.extensions["testviz"] = state
    from . import cli
    from .web import app as web

    state.tokens = web.init_app(app, settings)
    cli.init_app(app)

    if _serving():
        if settings.embedded_worker:
            start_embedded_worker(app)
        if not app.testing:
            # Everything loaded so far lives as long as the process: keep the cyclic GC from
            # walking it again and again (a full collection took 135 ms under a page request).
            gc.collect()
            gc.freeze()
    return app


def _serving() -> bool:
    """True unless loaded for a ``flask`` subcommand other than ``run`` (worker, sync, ...)."""
    context = click.get_current_context(silent=True)
    return context is None or context.info_name == "run"


def start_embedded_worker(app: Flask) -> Any:
    """Run the jobs in a thread of this process (``make serve``, tests): the set-up-free
    default. Production runs ``flask worker`` processes instead."""
    from .jobs.worker import Worker

    state = testviz_state(app)
    if state.worker is None:
        state.worker = Worker(app, poll=0.5)
        state.worker.start()
    return state.worker


def testviz_state(app: Flask) -> TestvizState:
    state: TestvizState = app.extensions["testviz"]
    return state


__all__ = ["create_app", "db", "testviz_state"]
