"""Wires the web layer into the app: error answers, the on/off switch of the test API,
tokens, and the blueprints of the JSON API and the pages."""

from __future__ import annotations

from typing import IO

from flask import Flask, Request, current_app, request

from ..config import Settings
from . import api_history, api_ingest, api_read, api_shard, auth, pages
from .auth import TokenPolicy
from .errors import APIError, register_error_handlers


def init_app(app: Flask, settings: Settings) -> TokenPolicy:
    """Register everything that answers requests; returns the parsed token policy (a bad
    token entry is a ConfigError)."""
    app.request_class = UploadRequest
    register_error_handlers(app)
    app.before_request(_require_enabled)
    tokens = auth.init_app(app, settings.ingest_tokens, settings.read_tokens)
    app.register_blueprint(api_ingest.bp)
    app.register_blueprint(api_read.bp)
    app.register_blueprint(api_history.bp)
    app.register_blueprint(api_shard.bp)
    app.register_blueprint(pages.bp)
    return tokens


class UploadRequest(Request):
    """A request that closes every file its multipart parser opened when it is closed (Flask
    closes it at the end of the request). Werkzeug's parser drops the file of a part that never
    ends (an upload cut short, a missing closing boundary) without closing it."""

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        stream = super()._get_file_stream(
            total_content_length, content_type, filename, content_length
        )
        self.__dict__.setdefault("_file_streams", []).append(stream)
        return stream

    def close(self) -> None:
        try:
            super().close()
        finally:
            for stream in self.__dict__.pop("_file_streams", ()):
                stream.close()


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
