"""The visualizer's JSON API: overview, trends, run diff, test history, flaky tests, failure
groups and integrity signals. The pages (``pages.py``) render the same services' data."""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from ..history import queries, service, summary
from ..storage.db import db
from .args import flaky_window, group_order, int_arg, paging, text_arg
from .auth import check_reader_of
from .schemas_history import ProjectList

bp = Blueprint("history", __name__)
api = "/api/tests"


@bp.get(f"{api}/projects")
def list_projects() -> ResponseReturnValue:
    return ProjectList(projects=queries.projects(db.session)).model_dump(mode="json")


@bp.get(f"{api}/overview")
def overview() -> ResponseReturnValue:
    """Projects, latest run per branch, trends, top failure groups, flaky count, signals."""
    data = service.overview(
        db.session, project=text_arg("project"), branch=text_arg("branch"), window=flaky_window()
    )
    return data.model_dump(mode="json")


@bp.get(f"{api}/trends")
def trends() -> ResponseReturnValue:
    """Pass rate and duration of the latest runs (of one branch with ``branch``)."""
    data = service.trends(
        db.session,
        project=text_arg("project"),
        branch=text_arg("branch"),
        limit=int_arg("limit", 100, 1000),
    )
    return data.model_dump(mode="json")


@bp.get(f"{api}/runs/<run_id>/diff")
def run_diff(run_id: str) -> ResponseReturnValue:
    """New failures, fixed tests, new and removed tests since the branch's previous run."""
    run = service.get_run(db.session, run_id)
    return queries.run_diff(db.session, run).model_dump(mode="json")


@bp.get(f"{api}/runs/<run_id>/summary")
def run_summary(run_id: str) -> ResponseReturnValue:
    """Totals, new failures and fixed tests against the previous run of the branch (or
    ``base``'s latest), flaky tests, top failure groups: what a CI job shows."""
    run = service.get_run(db.session, run_id)
    check_reader_of(run.project)
    return summary.run_summary_of(db.session, run, text_arg("base")).model_dump(mode="json")


@bp.get(f"{api}/builds/<path:build_id>")
def get_build(build_id: str) -> ResponseReturnValue:
    """A CI build: its runs (jobs) and their totals together."""
    return summary.build(db.session, build_id, text_arg("project")).model_dump(mode="json")


@bp.get(f"{api}/builds/<path:build_id>/summary")
def build_summary(build_id: str) -> ResponseReturnValue:
    """A CI build's runs summarised together, against the previous build of the branch."""
    data = summary.build_summary(db.session, build_id, text_arg("project"), text_arg("base"))
    check_reader_of(data.project)
    return data.model_dump(mode="json")


@bp.get(f"{api}/tests/<test_id>")
def get_test(test_id: str) -> ResponseReturnValue:
    """One test: its definition, outcome history (newest first), failure groups, flakiness."""
    project = text_arg("project")
    page, per_page = paging(50, 1000)
    data = service.test_history(
        db.session, test_id, project=project, page=page, per_page=per_page, window=flaky_window()
    )
    return data.model_dump(mode="json")


@bp.get(f"{api}/flaky")
def flaky_tests() -> ResponseReturnValue:
    """Flaky tests ranked by score, with their evidence; environment-specific tests apart."""
    project = text_arg("project")
    page, per_page = paging(50, 500)
    data = service.flaky_list(
        db.session, project=project, window=flaky_window(), page=page, per_page=per_page
    )
    return data.model_dump(mode="json")


@bp.get(f"{api}/failure-groups")
def failure_groups() -> ResponseReturnValue:
    """Recurring failures by fingerprint; ``order`` is recent, occurrences or runs."""
    project, order = text_arg("project"), group_order()
    page, per_page = paging(50, 500)
    data = queries.failure_groups(db.session, project, order=order, page=page, per_page=per_page)
    return data.model_dump(mode="json")


@bp.get(f"{api}/failure-groups/<fingerprint>")
def failure_group(fingerprint: str) -> ResponseReturnValue:
    """One failure group: the tests it hit, recent occurrences, an example traceback."""
    data = service.failure_group(db.session, fingerprint, text_arg("project"))
    return data.model_dump(mode="json")


@bp.get(f"{api}/integrity")
def integrity_signals() -> ResponseReturnValue:
    """Integrity signals of every run, newest first."""
    project, kind = text_arg("project"), text_arg("kind")
    page, per_page = paging(50, 500)
    data = queries.signals(db.session, project, kind=kind, page=page, per_page=per_page)
    return data.model_dump(mode="json")
