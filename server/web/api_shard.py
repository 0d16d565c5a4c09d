"""Shard plans for ``pytest --testviz-shard=K/N``: recent durations, and one plan per build.

``GET /api/tests/durations`` is a read: a read token, or an ingest token for the project
(the plugin in CI holds only that). ``POST /api/tests/shard-plans`` stores a plan, under the
ingest token rules. Both identify tests by ``test_id`` (docs/identity.md).
"""

from __future__ import annotations

from flask import Blueprint, current_app, request
from flask.typing import ResponseReturnValue
from pydantic import ValidationError

from ..history.durations import PER_TEST, Durations, default_branch, recent_durations
from ..history.shard_plans import PlanRequest, plan_for
from ..storage.db import db
from ..storage.models import ShardPlan
from .args import text_arg
from .auth import check_ingest_token, check_project, check_reader_of
from .errors import APIError, invalid_body
from .schemas_shard import DurationsOut, ShardPlanOut, ShardPlanRequest

bp = Blueprint("shard", __name__, url_prefix="/api/tests")
#: A plan request's body at most: 100,000 test ids are about 7 MB of JSON.
MAX_BODY = 16 * 1024 * 1024


def _configured_defaults() -> dict[str, str]:
    branches: dict[str, str] = current_app.extensions["testviz"].settings.default_branches
    return branches


@bp.get("/durations")
def durations() -> ResponseReturnValue:
    """Each test's median duration over its last runs on the project's default branch."""
    project = text_arg("project")
    if project is None:
        raise APIError(
            422,
            "invalid_request",
            "missing query parameter 'project'",
            {"errors": [{"field": "project", "message": "required"}]},
        )
    # Who may read uploads' statuses may read durations: a read token, or (the plugin in CI
    # has only that) an ingest token for the project.
    check_reader_of(project)
    branch = text_arg("branch") or default_branch(db.session, project, _configured_defaults())
    found = recent_durations(db.session, project, branch)
    body = DurationsOut(
        project=project,
        branch=found.branch,
        runs=found.runs,
        per_test=PER_TEST,
        durations=found.durations,
    )
    return body.model_dump(mode="json")


def _plan_request() -> ShardPlanRequest:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise APIError(413, "too_large", f"a plan request is at most {MAX_BODY} bytes")
    body = request.get_data(cache=False)
    if len(body) > MAX_BODY:
        raise APIError(413, "too_large", f"a plan request is at most {MAX_BODY} bytes")
    try:
        return ShardPlanRequest.model_validate_json(body)
    except ValidationError as exc:
        raise invalid_body(exc) from None


def _plan_out(plan: ShardPlan, created: bool) -> ShardPlanOut:
    return ShardPlanOut(
        plan_id=str(plan.id),
        project=plan.project,
        build_id=plan.build_id,
        total=plan.total,
        group=plan.grouping or None,
        collection_hash=plan.collection_hash,
        parts=plan.parts,
        loads=plan.loads,
        source=plan.source,
        known=plan.known,
        branch=plan.branch,
        created=created,
        created_at=plan.created_at,
    )


@bp.post("/shard-plans")
def shard_plan() -> ResponseReturnValue:
    """The build's plan for this collection: made now by the first job, the same for all."""
    allowed = check_ingest_token()
    asked = _plan_request()
    check_project(allowed, asked.project)
    project = asked.project

    def durations() -> Durations:
        branch = default_branch(db.session, project, _configured_defaults())
        return recent_durations(db.session, project, branch)

    plan, created = plan_for(
        db.session,
        PlanRequest(project, asked.build_id, asked.total, asked.group, asked.tests),
        durations,
    )
    return _plan_out(plan, created).model_dump(mode="json"), 201 if created else 200
