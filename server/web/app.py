"""Wires the web layer into the app: error answers, the on/off switch of the test API,
tokens, and the blueprints of the JSON API and the pages."""

from __future__ import annotations

from flask import Flask, current_app, request

from ..config import Settings
from . import api_history, api_ingest, api_read, api_shard, auth, pages
from .auth import TokenPolicy
from .errors import APIError, register_error_handlers


def init_app(app: Flask, settings: Settings) -> TokenPolicy:
    """Register everything that answers requests; returns the parsed token policy (a bad
    token entry is a ConfigError)."""
    register_error_handlers(app)
    app.before_request(_require_enabled)
    tokens = auth.init_app(app, settings.ingest_tokens, settings.read_tokens)
    app.register_blueprint(api_ingest.bp)
    app.register_blueprint(api_read.bp)
    app.register_blueprint(api_history.bp)
    app.register_blueprint(api_shard.bp)
    app.register_blueprint(pages.bp)
    return tokens


def _require_enabled() -> None:
    """With ``CCDASH_TEST_VISUALIZER_ENABLED=false`` the whole test API answers 503."""
    settings: Settings = current_app.extensions["testviz"].settings
    if request.path.startswith("/api/tests") and not settings.enabled:
        raise APIError(
            503,
            "disabled",
            "the test visualizer is turned off on this server "
            "(CCDASH_TEST_VISUALIZER_ENABLED=false)",
        )
