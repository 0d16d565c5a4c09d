"""The visualizer's read API and pages over crafted histories (SQLite and PostgreSQL).

Each history is sent through the real ingest endpoint, so what ingest keeps up to date for
the pages (failure group membership, per-environment outcomes, flaky evidence) is tested too.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from ..support import AppFactory

SHA_A = "a" * 40
SHA_B = "b" * 40
SHA_C = "c" * 40


class History:
    """A client that sends runs of project ``shop`` and reads them back."""

    def __init__(self, app: Flask) -> None:
        self.client = app.test_client()

    def send(
        self,
        run_id: str,
        statuses: dict[str, str],
        *,
        sha: str | None = SHA_A,
        branch: str | None = "main",
        env: str | None = "py312-linux",
        flaky: tuple[str, ...] = (),
        source: dict[str, str] | None = None,
        project: str = "shop",
        message: str = "assert 1 == 2",
    ) -> dict[str, Any]:
        results = []
        for name, status in statuses.items():
            failing = status in ("failed", "error")
            results.append(
                {
                    "name": name,
                    "classname": "tests.test_shop",
                    "status": status,
                    "duration": 0.5 if name != "slow" else 9.0,
                    "flaky": name in flaky,
                    "error_type": "AssertionError" if failing else None,
                    "message": message if failing else None,
                    "text": f"def check():\n>   {message}\nE   AssertionError" if failing else None,
                    "source_hash": (source or {}).get(name),
                }
            )
        body: dict[str, Any] = {
            "run_id": run_id,
            "project": project,
            "git_sha": sha,
            "branch": branch,
            "env_fingerprint": env,
            "results": results,
        }
        response = self.client.post("/api/tests/ingest", json=body)
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["status"] == "created"
        return body

    def get(self, url: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.client.get(url, **kwargs)
        assert response.status_code == status, (url, response.get_data(as_text=True)[:500])
        return response.get_json() if url.startswith("/api/") else response.get_data(as_text=True)

    def test_id(self, run_id: str, name: str) -> str:
        results = self.get(f"/api/tests/runs/{run_id}", query_string={"q": name})["results"]
        (match,) = [r for r in results if r["name"] == name]
        test_id: str = match["test_id"]
        return test_id


@pytest.fixture
def history(make_app: AppFactory) -> History:
    return History(make_app(analysis_in_background=False))


def flaky_names(body: dict[str, Any]) -> list[str]:
    return [t["name"] for t in body["tests"]]


def test_pass_and_fail_on_the_same_sha_in_one_environment_is_flaky(history: History) -> None:
    history.send("r1", {"t_same": "passed", "t_ok": "passed"}, sha=SHA_A)
    history.send("r2", {"t_same": "failed", "t_ok": "passed"}, sha=SHA_A)

    body = history.get("/api/tests/flaky?project=shop")
    assert flaky_names(body) == ["t_same"]
    (test,) = body["tests"]
    assert test["same_sha"] == 1
    assert test["runs_in_window"] == 2
    assert test["score"] == 0.5
    kinds = {(e["kind"], e["run_id"]) for e in test["evidence"]}
    assert ("same_sha", "r2") in kinds
    same = next(e for e in test["evidence"] if e["kind"] == "same_sha")
    assert same["detail"] == {"other_run_id": "r1"}


def test_same_sha_in_different_environments_is_not_flaky(history: History) -> None:
    history.send("r1", {"t_env": "passed"}, sha=SHA_A, env="py312-linux")
    history.send("r2", {"t_env": "failed"}, sha=SHA_A, env="py312-macos")
    history.send("r3", {"t_env": "passed"}, sha=SHA_B, env="py312-linux")
    history.send("r4", {"t_env": "failed"}, sha=SHA_B, env="py312-macos")

    body = history.get("/api/tests/flaky?project=shop")
    assert body["tests"] == []
    (specific,) = body["env_specific"]
    assert specific["name"] == "t_env"
    assert specific["failing_envs"] == ["py312-macos"]
    assert specific["passing_envs"] == ["py312-linux"]

    detail = history.get(f"/api/tests/tests/{history.test_id('r4', 't_env')}")
    assert detail["flakiness"]["flaky"] is False
    assert detail["flakiness"]["environment_specific"] is True
    outcomes = {e["env"]: e["outcome"] for e in detail["flakiness"]["environments"]}
    assert outcomes == {"py312-linux": "pass", "py312-macos": "fail"}
    assert history.get("/api/tests/overview?project=shop")["env_specific_count"] == 1


def test_a_pass_after_reruns_is_flaky_evidence(history: History) -> None:
    history.send("r1", {"t_rerun": "passed", "t_ok": "passed"}, flaky=("t_rerun",))
    history.send("r2", {"t_rerun": "passed", "t_ok": "passed"}, sha=SHA_B)

    (test,) = history.get("/api/tests/flaky")["tests"]
    assert test["name"] == "t_rerun"
    assert (test["reruns"], test["flips"], test["same_sha"]) == (1, 0, 0)
    assert test["evidence"][0]["kind"] == "rerun"
    assert test["evidence"][0]["run_id"] == "r1"


def test_flips_make_a_test_flaky_only_from_three_on(history: History) -> None:
    shas = iter([SHA_A, SHA_B, SHA_C, "d" * 40, "e" * 40])
    for index, status in enumerate(["passed", "failed", "passed"]):
        history.send(f"r{index}", {"t_fixed": status, "t_flip": status}, sha=next(shas))
    assert history.get("/api/tests/flaky")["tests"] == []  # broke once and was fixed

    history.send("r3", {"t_fixed": "passed", "t_flip": "failed"}, sha=next(shas))
    (test,) = history.get("/api/tests/flaky")["tests"]
    assert test["name"] == "t_flip"
    assert test["flips"] == 3
    assert test["flip_rate"] == 0.75
    assert [e["detail"]["to"] for e in test["evidence"] if e["kind"] == "flip"] == [
        "fail",
        "pass",
        "fail",
    ]


def test_skips_do_not_count_as_flips(history: History) -> None:
    for index, status in enumerate(["passed", "skipped", "passed", "skipped", "passed"]):
        history.send(f"r{index}", {"t_skip": status}, sha=f"{index:x}" * 40)
    body = history.get("/api/tests/flaky")
    assert body["tests"] == []
    detail = history.get(f"/api/tests/tests/{history.test_id('r0', 't_skip')}")
    assert detail["flakiness"]["flips"] == 0


def test_flaky_window_counts_only_recent_runs(make_app: AppFactory) -> None:
    history = History(make_app(analysis_in_background=False, flaky_window=2))
    history.send("r1", {"t": "passed"}, flaky=("t",))
    history.send("r2", {"t": "passed"}, sha=SHA_B)
    history.send("r3", {"t": "passed"}, sha=SHA_C)
    body = history.get("/api/tests/flaky")
    assert body["window_runs"] == 2
    assert body["tests"] == []


def test_a_renamed_test_keeps_its_history_through_its_source_hash(history: History) -> None:
    history.send("r1", {"test_old": "passed", "test_other": "passed"}, source={"test_old": "h1"})
    history.send("r2", {"test_old": "failed", "test_other": "passed"}, source={"test_old": "h1"})
    history.send(
        "r3", {"test_new": "passed", "test_other": "passed"}, sha=SHA_B, source={"test_new": "h1"}
    )

    new_id = history.test_id("r3", "test_new")
    detail = history.get(f"/api/tests/tests/{new_id}")
    assert [linked["name"] for linked in detail["linked"]] == ["test_old"]
    assert [(h["run_id"], h["status"]) for h in detail["history"]] == [
        ("r3", "passed"),
        ("r2", "failed"),
        ("r1", "passed"),
    ]
    assert detail["history"][1]["test_id"] == history.test_id("r1", "test_old")
    assert detail["pagination"]["total"] == 3
    assert len(detail["failure_groups"]) == 1

    unrelated = history.get(f"/api/tests/tests/{history.test_id('r3', 'test_other')}")
    assert unrelated["linked"] == []


def test_parameters_sharing_a_source_hash_are_not_linked(history: History) -> None:
    source = {"test_p[1]": "h", "test_p[2]": "h"}
    history.send("r1", {"test_p[1]": "passed", "test_p[2]": "passed"}, source=source)
    history.send(
        "r2",
        {"test_q[1]": "passed", "test_q[2]": "passed"},
        sha=SHA_B,
        source={"test_q[1]": "h", "test_q[2]": "h"},
    )
    detail = history.get(f"/api/tests/tests/{history.test_id('r2', 'test_q[1]')}")
    assert [linked["name"] for linked in detail["linked"]] == ["test_p[1]"]
    together = history.get(f"/api/tests/tests/{history.test_id('r1', 'test_p[2]')}")
    assert [linked["name"] for linked in together["linked"]] == ["test_q[2]"]


def test_run_diff_against_the_previous_run_of_the_branch(history: History) -> None:
    history.send("m1", {"a": "passed", "b": "failed", "c": "passed", "gone": "passed"})
    history.send("f1", {"a": "failed"}, branch="feature")  # another branch: not compared
    history.send("m2", {"a": "failed", "b": "passed", "c": "passed", "new": "passed"}, sha=SHA_B)

    diff = history.get("/api/tests/runs/m2/diff")
    assert diff["previous_run_id"] == "m1"

    def names(section: str) -> list[str]:
        return [t["name"] for t in diff[section]["tests"]]

    assert names("new_failures") == ["a"]
    assert diff["new_failures"]["tests"][0]["previous_status"] == "passed"
    assert names("fixed") == ["b"]
    assert names("new_tests") == ["new"]
    assert names("removed_tests") == ["gone"]
    assert diff["removed_tests"]["count"] == 1

    first = history.get("/api/tests/runs/m1/diff")
    assert first["previous_run_id"] is None
    assert first["new_tests"]["count"] == 0


def test_run_detail_has_groups_slowest_and_filters(history: History) -> None:
    history.send("r1", {"a": "failed", "b": "failed", "slow": "passed", "c": "skipped"})
    detail = history.get("/api/tests/runs/r1?status=failed&per_page=1")
    assert detail["results_total"] == 2
    assert len(detail["results"]) == 1
    (group,) = detail["failure_groups"]
    assert group["count"] == 2
    assert detail["slowest"][0]["name"] == "slow"
    assert history.get("/api/tests/runs/r1?q=slo")["results_total"] == 1


def test_failure_groups_count_runs_tests_and_occurrences(history: History) -> None:
    history.send("r1", {"a": "failed", "b": "failed", "ok": "passed"})
    history.send("r2", {"a": "failed", "b": "passed", "ok": "passed"}, sha=SHA_B)
    history.send(
        "r3", {"a": "passed", "b": "passed", "ok": "failed"}, sha=SHA_C, message="KeyError: 'x'"
    )

    body = history.get("/api/tests/failure-groups?project=shop&order=occurrences")
    assert body["pagination"]["total"] == 2
    top = body["groups"][0]
    assert (top["occurrences"], top["runs_affected"], top["tests_affected"]) == (3, 2, 2)
    assert (top["first_run_id"], top["last_run_id"]) == ("r1", "r2")
    recent = history.get("/api/tests/failure-groups?order=recent")["groups"][0]
    assert recent["last_run_id"] == "r3"

    group = history.get(f"/api/tests/failure-groups/{top['fingerprint']}?project=shop")
    assert sorted((t["name"], t["occurrences"]) for t in group["tests"]) == [("a", 2), ("b", 1)]
    assert [o["run_id"] for o in group["recent"]] == ["r2", "r1", "r1"]
    assert "AssertionError" in group["example_text"]
    history.get("/api/tests/failure-groups/0000000000000000", status=404)


def test_overview_and_trends(history: History) -> None:
    history.send("m1", {"a": "passed", "b": "passed"})
    history.send("m2", {"a": "failed", "b": "passed", "c": "skipped"}, sha=SHA_B)
    history.send("f1", {"a": "passed"}, branch="feature", sha=SHA_C)
    history.send("x1", {"z": "passed"}, project="other")

    overview = history.get("/api/tests/overview?project=shop")
    assert [p["name"] for p in overview["projects"]] == ["other", "shop"]
    assert [r["run_id"] for r in overview["latest_by_branch"]] == ["f1", "m2"]
    assert [p["pass_rate"] for p in overview["trend"]] == [1.0, 0.5, 1.0]
    assert overview["failure_groups"][0]["occurrences"] == 1
    assert overview["flaky_count"] == 0
    assert any(s["kind"] == "test_count_drop" for s in overview["signals"]) is False

    trend = history.get("/api/tests/trends?project=shop&branch=main")
    assert [p["run_id"] for p in trend["points"]] == ["m1", "m2"]
    # Without a project the newest run's project is shown.
    assert history.get("/api/tests/overview")["project"] == "other"


def test_integrity_list_links_runs(history: History) -> None:
    history.send("r1", {f"t{i}": "passed" for i in range(10)})
    history.send("r2", {f"t{i}": "passed" for i in range(5)}, sha=SHA_B)
    body = history.get("/api/tests/integrity?project=shop")
    kinds = {s["kind"] for s in body["signals"]}
    assert {"tests_disappeared", "test_count_drop"} <= kinds
    drop = next(s for s in body["signals"] if s["kind"] == "test_count_drop")
    assert (drop["run_id"], drop["previous_run_id"]) == ("r2", "r1")
    only = history.get("/api/tests/integrity?kind=tests_disappeared")
    assert {s["kind"] for s in only["signals"]} == {"tests_disappeared"}
    page = history.get("/api/tests/integrity?per_page=1&page=2")
    assert page["pagination"]["page"] == 2
    assert len(page["signals"]) == 1


def test_test_history_paginates_newest_first(history: History) -> None:
    for index in range(5):
        history.send(f"r{index}", {"t": "passed"}, sha=f"{index + 1:x}" * 40)
    test_id = history.test_id("r0", "t")
    page = history.get(f"/api/tests/tests/{test_id}?per_page=2&page=2")
    assert [h["run_id"] for h in page["history"]] == ["r2", "r1"]
    assert page["pagination"] == {"page": 2, "per_page": 2, "total": 5}


@pytest.mark.parametrize(
    "url",
    [
        "/api/tests/runs/nope/diff",
        "/api/tests/tests/" + "0" * 64,
        "/api/tests/failure-groups/zz",
        "/runs/nope",
        "/tests/nope",
        "/failures/nope",
    ],
)
def test_unknown_ids_are_404(history: History, url: str) -> None:
    response = history.client.get(url)
    assert response.status_code == 404
    if url.startswith("/api/"):
        assert response.get_json()["code"] == "not_found"
    else:
        assert response.mimetype == "text/html"
        assert "<h1>404</h1>" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "url",
    [
        "/api/tests/flaky?page=0",
        "/api/tests/failure-groups?order=sideways",
        "/api/tests/runs?status=maybe",
        "/api/tests/trends?limit=x",
        "/runs?status=maybe",
    ],
)
def test_bad_query_parameters_are_422(history: History, url: str) -> None:
    history.send("r1", {"a": "passed"})
    assert history.client.get(url).status_code == 422


def test_first_visit_shows_how_to_send_a_run(history: History) -> None:
    page = history.get("/")
    assert "No test runs yet" in page
    assert "pytest --testviz-url=http://localhost" in page
    assert "testviz push --url http://localhost" in page
    assert "curl -X POST" in page
    for url in ("/runs", "/flaky", "/failures", "/integrity", "/api/tests/overview"):
        history.get(url)


def test_pages_render_every_view_and_escape_names(history: History) -> None:
    evil = "<script>alert(1)</script>"
    history.send("r1", {evil: "passed", "b": "passed"}, source={"b": "h"})
    history.send(
        "r2", {evil: "failed", "b": "passed"}, message="<img src=x onerror=alert(2)>"
    )  # same sha: flaky
    test_id = history.test_id("r2", evil)
    fingerprint = history.get("/api/tests/failure-groups")["groups"][0]["fingerprint"]
    pages = [
        "/",
        "/?project=shop",
        "/runs",
        "/runs?project=shop&branch=main&status=failed",
        "/runs/r2",
        "/runs/r2?status=failed&q=script",
        f"/tests/{test_id}",
        "/flaky",
        "/failures?order=runs",
        f"/failures/{fingerprint}",
        "/integrity",
    ]
    for url in pages:
        html = history.get(url)
        assert "<script>alert" not in html, url
        assert "<img src=x" not in html, url
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in history.get(f"/tests/{test_id}")
    assert "&lt;img src=x onerror=alert(2)&gt;" in history.get("/runs/r2")
    run_page = history.get("/runs/r2?status=failed")
    assert len(re.findall(r'<tr class="failed">', run_page)) == 1
    assert "<svg" in history.get("/")
    assert "<svg" in history.get(f"/tests/{test_id}")


def test_pages_are_html_and_link_only_to_this_server(history: History) -> None:
    history.send("r1", {"a": "passed"})
    html = history.get("/")
    assert re.findall(r'(?:src|href)="(?:https?:)?//', html) == []
    with history.client.get("/static/app.css") as css:  # a static file is streamed
        assert css.status_code == 200
        assert "url(" not in css.get_data(as_text=True)


def test_every_api_route_is_in_the_openapi_document(make_app: AppFactory) -> None:
    app = make_app(analysis_in_background=False)
    document = app.test_client().get("/api/openapi.json").get_json()
    routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/tests") or rule.rule == "/healthz"
    }
    assert routes == set(document["paths"])
    for path, operations in document["paths"].items():
        for operation in operations.values():
            refs = [
                content["schema"].get("$ref", "")
                for response in operation["responses"].values()
                for content in response.get("content", {}).values()
            ]
            for ref in refs:
                name = ref.rsplit("/", 1)[-1]
                assert not name or name in document["components"]["schemas"], (path, name)


def test_flips_are_counted_per_environment(history: History) -> None:
    number = 0
    for status in ("passed", "failed", "passed"):  # broke once, fixed, in three environments
        for env in ("e1", "e2", "e3"):
            number += 1
            history.send(f"r{number}", {"t": status}, sha=f"{number:040x}", env=env)
    assert history.get("/api/tests/flaky")["tests"] == []
    detail = history.get(f"/api/tests/tests/{history.test_id('r1', 't')}")
    assert detail["flakiness"]["flips"] == 6
    assert detail["flakiness"]["flaky"] is False


def test_a_failure_on_a_feature_branch_interleaved_with_main_is_not_a_flip(
    history: History,
) -> None:
    for index in range(4):
        history.send(f"m{index}", {"t": "passed"}, sha=f"{index + 1:x}" * 40, branch="main")
        history.send(f"f{index}", {"t": "failed"}, sha=f"{index + 6:x}" * 40, branch="broken")
    assert history.get("/api/tests/flaky")["tests"] == []
    detail = history.get(f"/api/tests/tests/{history.test_id('m0', 't')}")
    assert detail["flakiness"]["flips"] == 0


def test_a_flaky_test_is_not_also_listed_as_environment_specific(history: History) -> None:
    history.send("r1", {"t": "passed"}, sha=SHA_A, env="e1")
    history.send("r2", {"t": "failed"}, sha=SHA_A, env="e1")  # same sha, same env: flaky
    history.send("r3", {"t": "passed"}, sha=SHA_B, env="e2")
    body = history.get("/api/tests/flaky")
    assert flaky_names(body) == ["t"]
    assert body["env_specific"] == []
    assert history.get("/api/tests/overview")["env_specific_count"] == 0
