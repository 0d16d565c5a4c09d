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
from flask import Flask, current_app, request

from . import auth
from .analysis import Analyzer
from .auth import TokenPolicy
from .config import Settings, load_settings
from .database import configure_engine, engine_options, upgrade_database
from .db import db
from .errors import APIError, register_error_handlers
from .uploads import UploadQueue

log = logging.getLogger(__name__)


class TestvizState:
    """What the app holds for its lifetime: settings, the background queues (analysis, queued
    uploads), the directory watcher."""

    __test__ = False

    def __init__(self, settings: Settings, analyzer: Analyzer, uploads: UploadQueue) -> None:
        self.settings = settings
        self.analyzer = analyzer
        self.uploads = uploads
        self.watcher: Any = None
        self.tokens = TokenPolicy()

    def shutdown(self) -> None:
        """Stop the watcher and the background threads, letting work in hand finish."""
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        self.uploads.shutdown()
        self.analyzer.shutdown()


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app; ``test_config`` overrides :class:`Settings` fields and Flask config."""
    app = Flask(__name__, instance_relative_config=True)
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

    analyzer = Analyzer(app, settings)
    state = TestvizState(settings, analyzer, UploadQueue(app, settings, analyzer))
    app.extensions["testviz"] = state
    register_error_handlers(app)
    app.before_request(_require_enabled)
    state.tokens = auth.init_app(app, settings.ingest_tokens, settings.read_tokens)

    from . import api_history, api_ingest, api_read, cli, views

    app.register_blueprint(api_ingest.bp)
    app.register_blueprint(api_read.bp)
    app.register_blueprint(api_history.bp)
    app.register_blueprint(views.bp)
    cli.init_app(app)

    if _serving():
        _start_background(app, state)
        if not app.testing:
            # Everything loaded so far lives as long as the process: keep the cyclic GC from
            # walking it again and again (a full collection took 135 ms under a page request).
            gc.collect()
            gc.freeze()
    return app


def _require_enabled() -> None:
    """With ``CCDASH_TEST_VISUALIZER_ENABLED=false`` the whole test API answers 503."""
    if request.path.startswith("/api/tests") and not testviz_state(current_app).settings.enabled:
        raise APIError(
            503,
            "disabled",
            "the test visualizer is turned off on this server "
            "(CCDASH_TEST_VISUALIZER_ENABLED=false)",
        )


def _serving() -> bool:
    """True unless loaded for a ``flask`` subcommand other than ``run`` (init-db, sync, ...)."""
    context = click.get_current_context(silent=True)
    return context is None or context.info_name == "run"


def _start_background(app: Flask, state: TestvizState) -> None:
    queued = state.uploads.resume_pending()
    if queued:
        log.info("resuming the ingest of %d queued uploads", queued)
    state.uploads.start_sweeper()
    pending = state.analyzer.resume_pending()
    if pending:
        log.info("resuming analysis of %d runs", pending)
    state.analyzer.start_sweeper()
    if state.settings.results_dir and state.settings.watch:
        from .sync import DirectoryWatcher

        state.watcher = DirectoryWatcher(app, state.settings.results_dir)
        state.watcher.start()


def testviz_state(app: Flask) -> TestvizState:
    state: TestvizState = app.extensions["testviz"]
    return state


__all__ = ["create_app", "db", "testviz_state"]
