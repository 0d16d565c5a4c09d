"""The visualizer's JSON API: overview, trends, run diff, test history, flaky tests, failure
groups and integrity signals. The pages (``views.py``) render the same data."""

from __future__ import annotations

from flask import Blueprint, current_app
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from . import flaky, history
from .api_read import get_run_or_404, run_summary
from .args import choice_arg, int_arg, text_arg
from .db import db
from .errors import APIError
from .models import TestDefinition
from .schemas import Page
from .schemas_history import (
    FlakyList,
    FlakyTest,
    GroupDetail,
    GroupList,
    Overview,
    ProjectList,
    RunDiff,
    SignalList,
    TestHistory,
    Trend,
)

bp = Blueprint("history", __name__)
api = "/api/tests"


def flaky_window() -> int:
    window: int = current_app.extensions["testviz"].settings.flaky_window
    return window


def project_arg() -> str | None:
    """The ``project`` asked for, else the project of the newest run."""
    return history.default_project(db.session, text_arg("project"))


@bp.get(f"{api}/projects")
def list_projects() -> ResponseReturnValue:
    return ProjectList(projects=history.projects(db.session)).model_dump(mode="json")


def overview_data() -> Overview:
    project = project_arg()
    if project is None:
        return Overview(
            project=None,
            projects=[],
            latest_by_branch=[],
            trend=[],
            failure_groups=[],
            flaky_count=0,
            env_specific_count=0,
            signals=[],
        )
    window = flaky_window()
    start = flaky.window_start(db.session, project, window)
    ranked = flaky.ranked(db.session, project, window)
    return Overview(
        project=project,
        projects=history.projects(db.session),
        latest_by_branch=[
            run_summary(run) for run in history.latest_by_branch(db.session, project)
        ],
        trend=history.trend(db.session, project, text_arg("branch")),
        failure_groups=history.failure_groups(
            db.session, project, order="runs", since_run_pk=start, per_page=5
        ).groups,
        flaky_count=len(ranked),
        env_specific_count=len(
            flaky.environment_specific(db.session, project, start, (pk for pk, _ in ranked))
        ),
        signals=history.recent_signals(db.session, project),
    )


@bp.get(f"{api}/overview")
def overview() -> ResponseReturnValue:
    """Projects, latest run per branch, trends, top failure groups, flaky count, signals."""
    return overview_data().model_dump(mode="json")


@bp.get(f"{api}/trends")
def trends() -> ResponseReturnValue:
    """Pass rate and duration of the latest runs (of one branch with ``branch``)."""
    project = project_arg()
    branch = text_arg("branch")
    limit = int_arg("limit", 100, 1000)
    points = history.trend(db.session, project, branch, limit) if project else []
    return Trend(project=project, branch=branch, points=points).model_dump(mode="json")


@bp.get(f"{api}/runs/<run_id>/diff")
def run_diff(run_id: str) -> ResponseReturnValue:
    """New failures, fixed tests, new and removed tests since the branch's previous run."""
    diff: RunDiff = history.run_diff(db.session, get_run_or_404(run_id))
    return diff.model_dump(mode="json")


def definition_or_404(test_id: str) -> TestDefinition:
    test = None
    if "\x00" not in test_id and len(test_id) <= 64:
        test = history.find_test(db.session, test_id, text_arg("project"))
    if test is None:
        raise APIError(404, "not_found", f"no test with test_id {test_id[:64]!r}")
    return test


def definition_history(test_id: str, per_page_default: int = 50) -> TestHistory:
    test = definition_or_404(test_id)
    return history.test_history(
        db.session,
        test,
        page=int_arg("page", 1, 1_000_000),
        per_page=int_arg("per_page", per_page_default, 1000),
        window=flaky_window(),
    )


@bp.get(f"{api}/tests/<test_id>")
def get_test(test_id: str) -> ResponseReturnValue:
    """One test: its definition, outcome history (newest first), failure groups, flakiness."""
    return definition_history(test_id).model_dump(mode="json")


def flaky_data(per_page_default: int = 50) -> FlakyList:
    project = project_arg()
    window = flaky_window()
    page = int_arg("page", 1, 1_000_000)
    per_page = int_arg("per_page", per_page_default, 500)
    if project is None:
        return FlakyList(
            project=None,
            window_runs=window,
            tests=[],
            env_specific=[],
            pagination=Page(page=page, per_page=per_page, total=0),
        )
    start = flaky.window_start(db.session, project, window)
    ranked = flaky.ranked(db.session, project, window)
    shown = ranked[(page - 1) * per_page : page * per_page]
    definitions = {
        row.id: row
        for row in db.session.execute(
            select(
                TestDefinition.id,
                TestDefinition.test_id,
                TestDefinition.name,
                TestDefinition.classname,
                TestDefinition.file,
                TestDefinition.owner,
            ).where(TestDefinition.id.in_([pk for pk, _ in shown]))
        )
    }
    evidence = flaky.evidence_of(db.session, (pk for pk, _ in shown), start)
    tests = [
        FlakyTest(
            test_id=definitions[pk].test_id,
            name=definitions[pk].name,
            classname=definitions[pk].classname,
            file=definitions[pk].file,
            owner=definitions[pk].owner,
            score=tally.score,
            runs_in_window=tally.runs_in_window,
            evidenced_runs=tally.evidenced_runs,
            flips=tally.flips,
            flip_rate=tally.flip_rate,
            reruns=tally.reruns,
            same_sha=tally.same_sha,
            evidence=evidence.get(pk, []),
        )
        for pk, tally in shown
    ]
    return FlakyList(
        project=project,
        window_runs=window,
        tests=tests,
        env_specific=flaky.environment_specific(
            db.session, project, start, (pk for pk, _ in ranked)
        ),
        pagination=Page(page=page, per_page=per_page, total=len(ranked)),
    )


@bp.get(f"{api}/flaky")
def flaky_tests() -> ResponseReturnValue:
    """Flaky tests ranked by score, with their evidence; environment-specific tests apart."""
    return flaky_data().model_dump(mode="json")


def groups_data(per_page_default: int = 50) -> GroupList:
    return history.failure_groups(
        db.session,
        text_arg("project"),
        order=choice_arg("order", tuple(history.GROUP_ORDER), "recent") or "recent",
        page=int_arg("page", 1, 1_000_000),
        per_page=int_arg("per_page", per_page_default, 500),
    )


@bp.get(f"{api}/failure-groups")
def failure_groups() -> ResponseReturnValue:
    """Recurring failures by fingerprint; ``order`` is recent, occurrences or runs."""
    return groups_data().model_dump(mode="json")


def group_data(fingerprint: str) -> GroupDetail:
    group = None
    if "\x00" not in fingerprint and len(fingerprint) <= 16:
        group = history.find_group(db.session, fingerprint, text_arg("project"))
    if group is None:
        raise APIError(404, "not_found", f"no failure group {fingerprint[:16]!r}")
    return history.group_detail(db.session, group)


@bp.get(f"{api}/failure-groups/<fingerprint>")
def failure_group(fingerprint: str) -> ResponseReturnValue:
    """One failure group: the tests it hit, recent occurrences, an example traceback."""
    return group_data(fingerprint).model_dump(mode="json")


def signals_data(per_page_default: int = 50) -> SignalList:
    return history.signals(
        db.session,
        text_arg("project"),
        kind=text_arg("kind"),
        page=int_arg("page", 1, 1_000_000),
        per_page=int_arg("per_page", per_page_default, 500),
    )


@bp.get(f"{api}/integrity")
def integrity_signals() -> ResponseReturnValue:
    """Integrity signals of every run, newest first."""
    return signals_data().model_dump(mode="json")
