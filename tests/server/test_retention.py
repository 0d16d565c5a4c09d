"""``prune --older-than``: old runs go, and what was counted from them is taken back."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from server.storage.db import db
from server.storage.models import (
    FailureGroup,
    FailureGroupTest,
    FlakyEvidence,
    IntegritySignal,
    QueuedUpload,
    Run,
    TestDefinition,
    TestResultRow,
)

from ..support import AppFactory
from .test_history import SHA_A, SHA_B, SHA_C, History


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app(analysis_in_background=False)


def age(app: Flask, run_id: str, days: int) -> None:
    with app.app_context():
        db.session.execute(
            update(Run)
            .where(Run.run_id == run_id)
            .values(ingested_at=datetime.now(timezone.utc) - timedelta(days=days))
        )
        db.session.commit()


def count(app: Flask, model: Any, *where: Any) -> int:
    with app.app_context():
        found: int = db.session.execute(
            select(func.count()).select_from(model).where(*where)
        ).scalar_one()
        return found


def seed(app: Flask) -> History:
    history = History(app)
    history.send("old1", {"a": "failed", "gone": "failed", "b": "passed"}, sha=SHA_A, message="old")
    history.send("old2", {"a": "failed", "gone": "passed", "b": "passed"}, sha=SHA_A, message="old")
    history.send("new1", {"a": "failed", "b": "passed"}, sha=SHA_B, message="old", flaky=("b",))
    history.send("new2", {"a": "passed", "b": "failed"}, sha=SHA_C, message="new")
    history.send("other", {"x": "failed"}, project="elsewhere", message="old")
    for run_id in ("old1", "old2", "other"):
        age(app, run_id, 100)
    return history


def test_prune_deletes_old_runs_and_keeps_aggregates_consistent(app: Flask) -> None:
    history = seed(app)
    result = app.test_cli_runner().invoke(
        args=["prune", "--older-than", "90d", "--project", "shop"]
    )
    assert result.exit_code == 0, result.output
    assert (
        "2 runs, 6 results, 1 test definitions, 0 failure groups and 0 upload records deleted"
        in result.output
    )

    assert count(app, Run) == 3  # new1, new2, and the other project's old run
    assert count(app, TestResultRow, TestResultRow.run_pk.not_in(select(Run.id))) == 0
    assert count(app, TestDefinition, TestDefinition.name == "gone") == 0
    assert count(app, FlakyEvidence, FlakyEvidence.run_pk.not_in(select(Run.id))) == 0
    assert count(app, IntegritySignal, IntegritySignal.run_pk.not_in(select(Run.id))) == 0

    with app.app_context():
        new1 = db.session.execute(select(Run).where(Run.run_id == "new1")).scalar_one()
        (old_group,) = db.session.execute(
            select(FailureGroup).where(
                FailureGroup.project == "shop", FailureGroup.first_run_pk == new1.id
            )
        ).scalars()
        # "old" failed a twice and gone once in old runs, a once in new1: only new1 is left.
        assert (old_group.occurrences, old_group.runs_affected) == (1, 1)
        assert old_group.last_run_pk == new1.id
        assert old_group.first_seen_at == new1.ingested_at
        members = db.session.execute(
            select(FailureGroupTest.occurrences, FailureGroupTest.first_run_pk).where(
                FailureGroupTest.fingerprint == old_group.fingerprint,
                FailureGroupTest.project == "shop",
            )
        ).all()
        assert members == [(1, new1.id)]
        a = db.session.execute(
            select(TestDefinition).where(
                TestDefinition.project == "shop", TestDefinition.name == "a"
            )
        ).scalar_one()
        assert a.first_run_pk == new1.id
        assert a.first_seen_at == new1.ingested_at
    # The other project's old run was not touched.
    assert count(app, FailureGroup, FailureGroup.project == "elsewhere") == 1

    groups = history.get("/api/tests/failure-groups?project=shop&order=occurrences")["groups"]
    assert sorted((g["occurrences"], g["runs_affected"], g["tests_affected"]) for g in groups) == [
        (1, 1, 1),
        (1, 1, 1),
    ]
    for url in ("/", "/flaky", "/failures", "/integrity", "/runs"):
        history.get(url)
    history.get(f"/tests/{history.test_id('new2', 'a')}")


def test_a_group_seen_only_in_pruned_runs_is_deleted(app: Flask) -> None:
    seed(app)
    result = app.test_cli_runner().invoke(args=["prune", "--older-than", "90d"])
    assert result.exit_code == 0, result.output
    assert "3 runs" in result.output
    assert count(app, FailureGroup, FailureGroup.project == "elsewhere") == 0
    assert count(app, TestDefinition, TestDefinition.project == "elsewhere") == 0


def test_dry_run_deletes_nothing(app: Flask) -> None:
    seed(app)
    result = app.test_cli_runner().invoke(args=["prune", "--older-than", "12w", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "would delete 3 runs and 7 results" in result.output
    assert count(app, Run) == 5


def test_nothing_old_enough_deletes_nothing(app: Flask) -> None:
    seed(app)
    result = app.test_cli_runner().invoke(args=["prune", "--older-than", "200d"])
    assert result.exit_code == 0
    assert "0 runs" in result.output
    assert count(app, Run) == 5


@pytest.mark.parametrize("value", ["90", "d", "-3d", "1y", "9999999d", ""])
def test_a_bad_age_is_a_clear_usage_error(app: Flask, value: str) -> None:
    result = app.test_cli_runner().invoke(args=["prune", "--older-than", value])
    assert result.exit_code == 2
    assert "--older-than" in result.output
    assert "Traceback" not in result.output


def test_finished_upload_records_go_with_the_old_runs(app: Flask) -> None:
    """Queued uploads leave a small record behind (and a failed one its bytes): pruned by
    when they finished; with --project, those the project's request named or its runs."""
    seed(app)
    now = datetime.now(timezone.utc)
    with app.app_context():
        db.session.add_all(
            [
                QueuedUpload(
                    state=state,
                    received_at=now,
                    project=project,
                    run_id=run_id,
                    attempts=1,
                    finished_at=now - timedelta(days=days),
                )
                for state, project, run_id, days in [
                    ("done", None, "old1", 100),  # the sidecar named project "shop"
                    ("failed", "elsewhere", None, 100),
                    ("done", None, "new2", 1),  # recent
                    ("queued", None, None, 100),  # not finished: never pruned
                ]
            ]
        )
        db.session.commit()
    runner = app.test_cli_runner()

    dry = runner.invoke(args=["prune", "--older-than", "90d", "--dry-run"])
    assert "and 2 upload records" in dry.output
    shop = runner.invoke(args=["prune", "--older-than", "90d", "--project", "shop"])
    assert "and 1 upload records deleted" in shop.output, shop.output
    rest = runner.invoke(args=["prune", "--older-than", "90d"])
    assert "and 1 upload records deleted" in rest.output, rest.output

    assert count(app, QueuedUpload) == 2
    assert count(app, QueuedUpload, QueuedUpload.state == "queued") == 1
