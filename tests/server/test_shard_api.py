"""Durations and shard plans: ``GET /api/tests/durations``, ``POST /api/tests/shard-plans``.

On SQLite and PostgreSQL: the median of each test's last runs on the default branch, which
branch that is, one plan per build kept whatever happens to the durations afterwards (and
the same one for two jobs asking at once), and a clear 4xx for every bad request.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
import requests
from flask import Flask

from pytest_testviz.core.identity import test_id
from server.config import ConfigError, settings_from_env

from ..support import AppFactory

PROJECT = "shop"
CLASSNAME = "tests.test_cart"


def tid(name: str, project: str = PROJECT) -> str:
    return test_id(project, CLASSNAME, name)


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app(analysis_in_background=False)


def store_run(
    client: Any,
    durations: dict[str, float],
    *,
    branch: str | None = "main",
    project: str = PROJECT,
    status: str = "passed",
) -> None:
    """One run of ``project`` on ``branch`` with these tests and durations."""
    body: dict[str, Any] = {
        "project": project,
        "run_id": uuid.uuid4().hex,  # the same results twice are two runs
        "results": [
            {"name": name, "classname": CLASSNAME, "status": status, "duration": seconds}
            for name, seconds in durations.items()
        ],
    }
    if branch is not None:
        body["branch"] = branch
    response = client.post("/api/tests/ingest", json=body)
    assert response.status_code == 200, response.get_json()


def durations_of(client: Any, project: str = PROJECT, **query: str) -> dict[str, Any]:
    response = client.get("/api/tests/durations", query_string={"project": project, **query})
    assert response.status_code == 200, response.get_json()
    body: dict[str, Any] = response.get_json()
    return body


def plan_body(
    names: Sequence[str], total: int = 2, build: str = "build-1", **extra: Any
) -> dict[str, Any]:
    return {
        "project": PROJECT,
        "build_id": build,
        "total": total,
        "tests": [[tid(name)] for name in names],
        **extra,
    }


# -- durations -------------------------------------------------------------------------------


def test_the_median_of_each_tests_last_runs_on_the_default_branch(client: Any) -> None:
    store_run(client, {"test_a": 100.0, "test_old": 7.0})  # the oldest: past the last 5
    for seconds in (1.0, 2.0, 3.0, 50.0, 5.0):
        store_run(client, {"test_a": seconds, "test_b": seconds * 2})
    store_run(client, {"test_a": 99.0}, branch="feature")  # not the default branch
    store_run(client, {"test_a": 99.0, "test_skip": 99.0}, status="skipped")  # took no time

    body = durations_of(client)

    assert body["branch"] == "main"
    assert body["runs"] == 7
    assert body["per_test"] == 5
    assert body["durations"] == {
        tid("test_a"): 3.0,  # 1, 2, 3, 50, 5: one slow run does not move it
        tid("test_b"): 6.0,
        tid("test_old"): 7.0,  # its last run, however old, among the branch's latest runs
    }


def test_a_test_sharded_across_runs_keeps_its_history(client: Any) -> None:
    """With sharding each run holds some tests: the median is over each test's own runs."""
    for _ in range(3):
        store_run(client, {"test_a": 2.0})
        store_run(client, {"test_b": 4.0})

    assert durations_of(client)["durations"] == {tid("test_a"): 2.0, tid("test_b"): 4.0}


@pytest.mark.parametrize(
    ("branches", "configured", "expected"),
    [
        (["feature", "main", "master", "feature"], {}, "main"),
        (["feature", "master", "feature"], {}, "master"),
        (["b", "a", "b", "a", "c"], {}, "a"),  # the most runs; the first by name among equals
        (["main", "develop"], {PROJECT: "develop"}, "develop"),
        (["main"], {"other": "develop"}, "main"),
    ],
)
def test_the_default_branch(
    make_app: AppFactory, branches: list[str], configured: dict[str, str], expected: str
) -> None:
    client = make_app(analysis_in_background=False, default_branches=configured).test_client()
    for index, branch in enumerate(branches):
        store_run(client, {f"test_{index}": 1.0}, branch=branch)

    body = durations_of(client)

    assert body["branch"] == expected
    assert body["durations"] == {
        tid(f"test_{index}"): 1.0 for index, branch in enumerate(branches) if branch == expected
    }


def test_another_branch_can_be_asked_for(client: Any) -> None:
    store_run(client, {"test_a": 1.0})
    store_run(client, {"test_a": 8.0}, branch="release")

    body = durations_of(client, branch="release")

    assert body["branch"] == "release"
    assert body["durations"] == {tid("test_a"): 8.0}


def test_a_project_without_runs_has_no_durations(client: Any) -> None:
    store_run(client, {"test_a": 1.0}, branch=None)  # runs without a branch name none

    assert durations_of(client) == {
        "project": PROJECT,
        "branch": None,
        "runs": 0,
        "per_test": 5,
        "durations": {},
    }


def test_durations_need_a_project(client: Any) -> None:
    response = client.get("/api/tests/durations")

    assert response.status_code == 422
    assert response.get_json()["message"] == "missing query parameter 'project'"


# -- plans --------------------------------------------------------------------------------------


def test_a_plan_splits_by_duration(client: Any) -> None:
    store_run(client, {"test_slow": 30.0, **{f"test_{n}": 1.0 for n in range(6)}})

    response = client.post(
        "/api/tests/shard-plans", json=plan_body(["test_slow", *(f"test_{n}" for n in range(6))])
    )

    assert response.status_code == 201
    plan = response.get_json()
    assert plan["created"] is True
    assert plan["source"] == "durations"
    assert plan["branch"] == "main"
    assert plan["known"] == 7
    assert plan["parts"][0] == [tid("test_slow")]
    assert sorted(plan["parts"][1]) == sorted(tid(f"test_{n}") for n in range(6))
    assert plan["loads"] == [30.0, 6.0]


def test_the_plan_of_a_build_is_kept(client: Any) -> None:
    """Jobs that start after others uploaded their results still get the build's first plan."""
    names = ["test_slow", *(f"test_{n}" for n in range(6))]
    store_run(client, {"test_slow": 30.0, **{f"test_{n}": 1.0 for n in range(6)}})
    first = client.post("/api/tests/shard-plans", json=plan_body(names)).get_json()
    for _ in range(5):  # now test_0 is the slow one
        store_run(client, {"test_slow": 1.0, "test_0": 30.0})

    again = client.post("/api/tests/shard-plans", json=plan_body(names))
    other_build = client.post("/api/tests/shard-plans", json=plan_body(names, build="build-2"))

    assert again.status_code == 200
    kept = again.get_json()
    assert kept["created"] is False
    assert (kept["plan_id"], kept["parts"]) == (first["plan_id"], first["parts"])
    assert other_build.status_code == 201
    assert other_build.get_json()["parts"][0] == [tid("test_0")]


@pytest.mark.parametrize(
    "change",
    [
        {"total": 3},
        {"group": "module"},
        {"tests": [[tid("test_a")], [tid("test_b")]]},
    ],
)
def test_another_split_of_the_build_is_another_plan(client: Any, change: dict[str, Any]) -> None:
    first = client.post("/api/tests/shard-plans", json=plan_body(["test_a", "test_b", "test_c"]))
    second = client.post(
        "/api/tests/shard-plans", json={**plan_body(["test_a", "test_b", "test_c"]), **change}
    )

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.get_json()["plan_id"] != second.get_json()["plan_id"]


def test_the_order_of_the_collection_does_not_matter(client: Any) -> None:
    names = [f"test_{n}" for n in range(10)]
    first = client.post("/api/tests/shard-plans", json=plan_body(names)).get_json()

    again = client.post("/api/tests/shard-plans", json=plan_body(names[::-1])).get_json()

    assert again["plan_id"] == first["plan_id"]
    assert again["created"] is False


def test_without_durations_a_plan_splits_by_count(client: Any) -> None:
    response = client.post(
        "/api/tests/shard-plans", json=plan_body([f"test_{n}" for n in range(5)], total=2)
    )

    plan = response.get_json()
    assert plan["source"] == "count"
    assert plan["branch"] is None
    assert plan["known"] == 0
    assert sorted(len(part) for part in plan["parts"]) == [2, 3]


def test_a_group_is_placed_whole(client: Any) -> None:
    store_run(client, {f"test_{n}": 1.0 for n in range(6)})
    group = [tid(f"test_{n}") for n in range(4)]
    body = {**plan_body([]), "group": "module", "tests": [group, [tid("test_4")], [tid("test_5")]]}

    plan = client.post("/api/tests/shard-plans", json=body).get_json()

    assert plan["group"] == "module"
    assert sorted(group) in [sorted(part) for part in plan["parts"]]


def test_two_jobs_asking_at_once_get_the_same_plan(live_server: str) -> None:
    body = plan_body([f"test_{n}" for n in range(200)], total=4)
    barrier = threading.Barrier(2)
    answers: list[requests.Response] = []

    def ask() -> None:
        barrier.wait()
        answers.append(requests.post(f"{live_server}/api/tests/shard-plans", json=body, timeout=60))

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(answer.status_code for answer in answers) == [200, 201]
    plans = [answer.json() for answer in answers]
    assert sorted(plan["created"] for plan in plans) == [False, True]
    assert plans[0]["plan_id"] == plans[1]["plan_id"]
    assert plans[0]["parts"] == plans[1]["parts"]


# -- bad requests -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"total": 0}, "total"),
        ({"total": 1001}, "total"),
        ({"total": "two"}, "total"),
        ({"build_id": ""}, "build_id"),
        ({"build_id": "a\nb"}, "build_id"),
        ({"project": ""}, "project"),
        ({"group": "file"}, "group"),
        ({"tests": []}, "tests"),
        ({"tests": [[]]}, "tests.0"),
        ({"tests": [["not-a-test-id"]]}, "tests.0.0"),
        ({"tests": "abc"}, "tests"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_a_bad_plan_request_is_422_naming_the_field(
    client: Any, change: dict[str, Any], field: str
) -> None:
    response = client.post("/api/tests/shard-plans", json={**plan_body(["test_a"]), **change})

    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "invalid_request"
    assert body["message"].startswith(f"invalid field {field!r}")


def test_a_nul_in_the_project_is_422(client: Any) -> None:
    """PostgreSQL cannot store it: refused before it gets there."""
    response = client.post("/api/tests/shard-plans", json={**plan_body(["a"]), "project": "a\0b"})

    assert response.status_code == 422


def test_a_plan_request_that_is_not_json_is_400(client: Any) -> None:
    response = client.post(
        "/api/tests/shard-plans", data=b"{not json", content_type="application/json"
    )

    assert response.status_code == 400
    assert response.get_json()["code"] == "malformed_json"


# -- tokens ---------------------------------------------------------------------------------------


def test_plans_follow_the_ingest_token_rules(make_app: AppFactory) -> None:
    client = make_app(
        ingest_tokens=("any-tok", "other:other-tok"), read_tokens=("read-tok",)
    ).test_client()
    body = plan_body(["test_a", "test_b"])

    def post(token: str | None) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        status: int = client.post("/api/tests/shard-plans", json=body, headers=headers).status_code
        return status

    assert post(None) == 401
    assert post("read-tok") == 401  # reading is not storing
    assert post("other-tok") == 403  # another project's
    assert post("any-tok") == 201


def test_durations_take_a_read_token_or_the_projects_ingest_token(make_app: AppFactory) -> None:
    client = make_app(
        ingest_tokens=(f"{PROJECT}:shop-tok", "other:other-tok"),
        read_tokens=("read-tok",),
    ).test_client()

    def get(token: str | None) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = client.get(
            "/api/tests/durations", query_string={"project": PROJECT}, headers=headers
        )
        status: int = response.status_code
        return status

    assert get(None) == 401
    assert get("read-tok") == 200
    assert get("shop-tok") == 200  # the plugin in CI holds only its ingest token
    assert get("other-tok") == 403
    assert get("wrong") == 401


def test_the_openapi_document_lists_both(client: Any) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]

    assert set(paths["/api/tests/durations"]) == {"get"}
    assert set(paths["/api/tests/shard-plans"]) == {"post"}


# -- settings -----------------------------------------------------------------------------------


def test_default_branches_come_from_the_environment(tmp_path: Any) -> None:
    env = {"TESTVIZ_DEFAULT_BRANCHES": "shop:develop, org:billing:trunk"}

    settings = settings_from_env(env, str(tmp_path))

    assert settings.default_branches == {"shop": "develop", "org:billing": "trunk"}


@pytest.mark.parametrize("entry", ["shop", "shop:", ":develop"])
def test_a_bad_default_branch_entry_is_a_config_error(tmp_path: Any, entry: str) -> None:
    with pytest.raises(ConfigError, match="TESTVIZ_DEFAULT_BRANCHES entry #1"):
        settings_from_env({"TESTVIZ_DEFAULT_BRANCHES": entry}, str(tmp_path))
