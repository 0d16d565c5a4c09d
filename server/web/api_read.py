"""The read API: runs, one run with its results, its integrity signals; health; OpenAPI."""

from __future__ import annotations

from flask import Blueprint, current_app
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from pytest_testviz import __version__

from ..history import service
from ..storage.db import db
from .args import choice_arg, paging, status_arg, text_arg
from .openapi import openapi_document
from .schemas import Health

bp = Blueprint("read", __name__)
api = "/api/tests"


@bp.get(f"{api}/runs")
def list_runs() -> ResponseReturnValue:
    """Runs, newest first; filter by project, branch and status (runs with failures)."""
    page, per_page = paging(50, 500)
    runs = service.run_list(
        db.session,
        project=text_arg("project"),
        branch=text_arg("branch"),
        status=choice_arg("status", service.RUN_STATUSES),
        page=page,
        per_page=per_page,
    )
    return runs.model_dump(mode="json")


@bp.get(f"{api}/runs/<run_id>")
def get_run(run_id: str) -> ResponseReturnValue:
    """One run: metadata, totals, failure groups, slowest tests, and its results."""
    run = service.get_run(db.session, run_id)
    page, per_page = paging(200, 100_000)
    detail = service.run_detail(
        db.session, run, status=status_arg(), search=text_arg("q"), page=page, per_page=per_page
    )
    return detail.model_dump(mode="json")


@bp.get(f"{api}/runs/<run_id>/integrity")
def get_integrity(run_id: str) -> ResponseReturnValue:
    """The integrity signals recorded for one run."""
    run = service.get_run(db.session, run_id)
    return service.run_integrity(db.session, run).model_dump(mode="json")


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Ready when the database answers."""
    db.session.execute(text("SELECT 1"))
    settings = current_app.extensions["testviz"].settings
    body = Health(
        status="ok", database=db.engine.dialect.name, enabled=settings.enabled, version=__version__
    )
    return body.model_dump()


@bp.get("/api/openapi.json")
def openapi() -> ResponseReturnValue:
    """The OpenAPI document of this API, generated from the pydantic models."""
    return openapi_document(__version__)
