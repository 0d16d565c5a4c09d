"""The read API: runs, one run with its results, its integrity signals; health; OpenAPI."""

from __future__ import annotations

from flask import Blueprint, current_app
from flask.typing import ResponseReturnValue
from sqlalchemy import func, or_, select, text

from pytest_testviz import __version__

from . import history
from .args import choice_arg, int_arg, status_arg, text_arg
from .db import db
from .errors import APIError
from .models import IntegritySignal, Run
from .openapi import openapi_document
from .schemas import (
    DeclaredTotals,
    Health,
    IntegrityOut,
    Page,
    RunDetail,
    RunList,
    RunSummary,
    SignalOut,
    Totals,
)

bp = Blueprint("read", __name__)
api = "/api/tests"


def run_summary(run: Run) -> RunSummary:
    return RunSummary(
        run_id=run.run_id,
        project=run.project,
        branch=run.branch,
        git_sha=run.git_sha,
        session_id=run.session_id,
        env_fingerprint=run.env_fingerprint,
        hostname=run.hostname,
        source=run.source,
        started_at=run.started_at,
        finished_at=run.finished_at,
        ingested_at=run.ingested_at,
        duration=run.duration,
        totals=Totals(
            tests=run.tests,
            passed=run.passed,
            failed=run.failed,
            errors=run.errors,
            skipped=run.skipped,
            xfailed=run.xfailed,
            xpassed=run.xpassed,
            subtests_failed=run.subtests_failed,
            subtests_passed=run.subtests_passed,
        ),
        flaky=run.flaky,
        mapping_state=run.mapping_state,
        integrity_state=run.integrity_state,
    )


def run_id_can_exist(run_id: str) -> bool:
    """False for an id no run has: longer than the column, or with a NUL (which PostgreSQL
    refuses in a query)."""
    return "\x00" not in run_id and len(run_id) <= 128


def get_run_or_404(run_id: str) -> Run:
    if not run_id_can_exist(run_id):
        raise APIError(404, "not_found", "no run with that run_id")
    run = db.session.execute(select(Run).where(Run.run_id == run_id)).scalar_one_or_none()
    if run is None:
        raise APIError(404, "not_found", f"no run with run_id {run_id!r}")
    return run


@bp.get(f"{api}/runs")
def list_runs() -> ResponseReturnValue:
    """Runs, newest first; filter by project, branch and status (runs with failures)."""
    return run_list().model_dump(mode="json")


def run_list(per_page_default: int = 50) -> RunList:
    page = int_arg("page", 1, 1_000_000)
    per_page = int_arg("per_page", per_page_default, 500)
    query = select(Run)
    if project := text_arg("project"):
        query = query.where(Run.project == project)
    if branch := text_arg("branch"):
        query = query.where(Run.branch == branch)
    status = choice_arg("status", ("passed", "failed"))
    if status == "failed":
        query = query.where(or_(Run.failed > 0, Run.errors > 0))
    elif status == "passed":
        query = query.where(Run.failed == 0, Run.errors == 0)
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    runs = db.session.execute(
        query.order_by(Run.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).scalars()
    return RunList(
        runs=[run_summary(run) for run in runs],
        pagination=Page(page=page, per_page=per_page, total=total),
    )


@bp.get(f"{api}/runs/<run_id>")
def get_run(run_id: str) -> ResponseReturnValue:
    """One run: metadata, totals, failure groups, slowest tests, and its results."""
    return run_detail(get_run_or_404(run_id), per_page_default=200).model_dump(mode="json")


def run_detail(run: Run, per_page_default: int) -> RunDetail:
    page = int_arg("page", 1, 1_000_000)
    per_page = int_arg("per_page", per_page_default, 100_000)
    results, total = history.run_results(
        db.session, run, status=status_arg(), search=text_arg("q"), page=page, per_page=per_page
    )
    previous = history.previous_run(db.session, run)
    summary = run_summary(run)
    return RunDetail(
        **summary.model_dump(),
        env=run.env or {},
        declared_totals=DeclaredTotals(
            tests=run.declared_tests,
            failures=run.declared_failures,
            errors=run.declared_errors,
            skipped=run.declared_skipped,
        ),
        testcases=run.testcases,
        results=results,
        results_total=total,
        failure_groups=history.run_groups(db.session, run),
        slowest=history.slowest(db.session, run),
        previous_run_id=previous.run_id if previous else None,
    )


@bp.get(f"{api}/runs/<run_id>/integrity")
def get_integrity(run_id: str) -> ResponseReturnValue:
    """The integrity signals recorded for one run."""
    run = get_run_or_404(run_id)
    signals = list(
        db.session.execute(
            select(IntegritySignal)
            .where(IntegritySignal.run_pk == run.id)
            .order_by(IntegritySignal.id)
        ).scalars()
    )
    ids = history.signal_run_ids(db.session, signals)
    body = IntegrityOut(
        run_id=run.run_id,
        integrity_state=run.integrity_state,
        mapping_state=run.mapping_state,
        signals=[SignalOut(**history.signal_fields(s, ids)) for s in signals],
    )
    return body.model_dump(mode="json")


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
