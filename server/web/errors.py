"""One place that turns every error into a JSON body ``{"code", "message", "details"}`` (or,
on the pages, an HTML error page): the web layer's own :class:`APIError`, the services'
errors (:mod:`server.errors`), and Flask's HTTP errors."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from ..errors import IngestRejected, NotFound, ServiceError

log = logging.getLogger(__name__)


class APIError(Exception):
    """An error a client caused or must know about, with its HTTP status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers or {}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details or {}}


def _page(
    status: int, message: str, headers: dict[str, str] | None = None
) -> ResponseReturnValue | None:
    """An HTML error page for the visualizer's pages (the API always answers JSON)."""
    if request.blueprint != "pages":
        return None
    return render_template("error.html", status=status, message=message), status, headers or {}


def _api_error(error: APIError) -> ResponseReturnValue:
    page = _page(error.status, error.message, error.headers)
    if page is not None:
        return page
    return (
        jsonify(error_body(error.code, error.message, error.details)),
        error.status,
        error.headers,
    )


def _service_error(error: ServiceError) -> ResponseReturnValue:
    if isinstance(error, IngestRejected):
        status = error.status
    elif isinstance(error, NotFound):
        status = 404
    else:
        status = 422
    return _api_error(APIError(status, error.code, error.message, error.details))


def _http_error(error: HTTPException) -> ResponseReturnValue:
    code = (error.name or "error").lower().replace(" ", "_")
    status = error.code or 500
    message = error.description or error.name
    page = _page(status, message)
    if page is not None:
        return page
    if status == 413:
        code, message = "too_large", message or "the request body is too large"
    response = jsonify(error_body(code, message))
    response.status_code = status
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def _unexpected(error: Exception) -> ResponseReturnValue:
    log.exception("unexpected error while handling a request")
    page = _page(500, "The server failed; see its log.")
    if page is not None:
        return page
    return jsonify(error_body("internal_error", "the server failed; see its log")), 500


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(APIError, _api_error)
    app.register_error_handler(ServiceError, _service_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)


def invalid_body(exc: ValidationError) -> APIError:
    """A JSON body pydantic refused: 400 when it is not JSON, else 422 naming the fields."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        return APIError(400, "malformed_json", f"the body is not valid JSON: {first['msg']}")
    field = ".".join(str(part) for part in first["loc"]) or "(body)"
    details = {
        "errors": [
            {"field": ".".join(map(str, e["loc"])), "message": e["msg"]} for e in errors[:50]
        ]
    }
    return APIError(422, "invalid_request", f"invalid field {field!r}: {first['msg']}", details)
