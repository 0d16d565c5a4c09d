"""The read API: runs, one run with its results, its integrity signals; health; OpenAPI."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, current_app, request
from flask.typing import ResponseReturnValue
from sqlalchemy import func, or_, select, text

from pytest_testviz import __version__

from .db import db
from .errors import APIError
from .models import IntegritySignal, Run, TestDefinition, TestResultRow
from .openapi import openapi_document
from .schemas import (
    DeclaredTotals,
    Health,
    IntegrityOut,
    Page,
    ResultOut,
    RunDetail,
    RunList,
    RunSummary,
    SignalOut,
    SignalTest,
    Totals,
)

bp = Blueprint("read", __name__)
api = "/api/tests"
STATUSES = ("passed", "failed", "error", "skipped")


def _int_arg(name: str, default: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12 or int(raw) < 1:
        raise APIError(
            422, "invalid_request", f"invalid query parameter {name!r}: a whole number >= 1"
        )
    return min(int(raw), maximum)


def _text_arg(name: str) -> str | None:
    """A free-text query parameter; one with a NUL character cannot match anything stored."""
    value = request.args.get(name) or None
    if value is not None and ("\x00" in value or len(value) > 1024):
        raise APIError(422, "invalid_request", f"invalid query parameter {name!r}")
    return value


def _status_arg() -> str | None:
    status = request.args.get("status") or None
    if status is not None and status not in STATUSES:
        raise APIError(
            422,
            "invalid_request",
            f"invalid query parameter 'status': one of {', '.join(STATUSES)}",
        )
    return status


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
        ),
        flaky=run.flaky,
        mapping_state=run.mapping_state,
        integrity_state=run.integrity_state,
    )


def _get_run(run_id: str) -> Run:
    if "\x00" in run_id or len(run_id) > 128:
        raise APIError(404, "not_found", "no run with that run_id")
    run = db.session.execute(select(Run).where(Run.run_id == run_id)).scalar_one_or_none()
    if run is None:
        raise APIError(404, "not_found", f"no run with run_id {run_id!r}")
    return run


@bp.get(f"{api}/runs")
def list_runs() -> ResponseReturnValue:
    """Runs, newest first; filter by project, branch and status (runs with failures)."""
    page = _int_arg("page", 1, 1_000_000)
    per_page = _int_arg("per_page", 50, 500)
    query = select(Run)
    if project := _text_arg("project"):
        query = query.where(Run.project == project)
    if branch := _text_arg("branch"):
        query = query.where(Run.branch == branch)
    status = request.args.get("status")
    if status == "failed":
        query = query.where(or_(Run.failed > 0, Run.errors > 0))
    elif status == "passed":
        query = query.where(Run.failed == 0, Run.errors == 0)
    elif status:
        raise APIError(422, "invalid_request", "invalid query parameter 'status': passed or failed")
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    runs = db.session.execute(
        query.order_by(Run.id.desc()).limit(per_page).offset((page - 1) * per_page)
    ).scalars()
    body = RunList(
        runs=[run_summary(run) for run in runs],
        pagination=Page(page=page, per_page=per_page, total=total),
    )
    return body.model_dump(mode="json")


def result_out(row: Any) -> ResultOut:
    return ResultOut(
        test_id=row.test_id,
        name=row.name,
        base_name=row.base_name,
        params=row.params,
        classname=row.classname,
        file=row.file,
        line=row.line,
        suite=json.loads(row.suite) if row.suite else [],
        status=row.status,
        flaky=row.flaky,
        duration=row.duration,
        error_type=row.error_type,
        message=row.message,
        fingerprint=row.fingerprint,
        tags=row.tags or [],
        owner=row.owner,
    )


RESULT_COLUMNS = (
    TestDefinition.test_id,
    TestDefinition.name,
    TestDefinition.base_name,
    TestDefinition.params,
    TestDefinition.classname,
    TestDefinition.file,
    TestDefinition.line,
    TestDefinition.suite,
    TestDefinition.tags,
    TestDefinition.owner,
    TestResultRow.status,
    TestResultRow.flaky,
    TestResultRow.duration,
    TestResultRow.error_type,
    TestResultRow.message,
    TestResultRow.fingerprint,
)


@bp.get(f"{api}/runs/<run_id>")
def get_run(run_id: str) -> ResponseReturnValue:
    """One run: metadata, totals, and its results (filter by status, search by name)."""
    run = _get_run(run_id)
    page = _int_arg("page", 1, 1_000_000)
    per_page = _int_arg("per_page", 1000, 100_000)
    query = (
        select(*RESULT_COLUMNS)
        .join(TestDefinition, TestDefinition.id == TestResultRow.definition_pk)
        .where(TestResultRow.run_pk == run.id)
    )
    if status := _status_arg():
        query = query.where(TestResultRow.status == status)
    if search := _text_arg("q"):
        query = query.where(TestDefinition.name.contains(search, autoescape=True))
    rows = db.session.execute(
        query.order_by(TestResultRow.id).limit(per_page).offset((page - 1) * per_page)
    )
    summary = run_summary(run)
    detail = RunDetail(
        **summary.model_dump(),
        env=run.env or {},
        declared_totals=DeclaredTotals(
            tests=run.declared_tests,
            failures=run.declared_failures,
            errors=run.declared_errors,
            skipped=run.declared_skipped,
        ),
        testcases=run.testcases,
        results=[result_out(row) for row in rows],
    )
    return detail.model_dump(mode="json")


@bp.get(f"{api}/runs/<run_id>/integrity")
def get_integrity(run_id: str) -> ResponseReturnValue:
    """The integrity signals recorded for one run."""
    run = _get_run(run_id)
    signals = (
        db.session.execute(
            select(IntegritySignal)
            .where(IntegritySignal.run_pk == run.id)
            .order_by(IntegritySignal.id)
        )
        .scalars()
        .all()
    )
    previous_ids = {
        pk: run_id
        for pk, run_id in db.session.execute(
            select(Run.id, Run.run_id).where(
                Run.id.in_({s.previous_run_pk for s in signals if s.previous_run_pk})
            )
        )
    }
    body = IntegrityOut(
        run_id=run.run_id,
        integrity_state=run.integrity_state,
        mapping_state=run.mapping_state,
        signals=[
            SignalOut(
                kind=s.kind,
                severity=s.severity,
                message=s.message,
                session_id=s.session_id,
                previous_run_id=previous_ids.get(s.previous_run_pk) if s.previous_run_pk else None,
                test_count=s.test_count,
                tests=[SignalTest(**t) for t in s.tests or []],
                created_at=s.created_at,
            )
            for s in signals
        ],
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
