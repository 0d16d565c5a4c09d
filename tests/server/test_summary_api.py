"""Summaries of a run and of a CI build, their build page, and ``testviz summary`` against a
live server (SQLite and PostgreSQL).

Runs are sent through the real ingest endpoint: the build id comes the ways producers send
it (JSON field, sidecar, form field, query parameter, a queued upload).
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from flask import Flask

from pytest_testviz.cli import main

from ..support import AppFactory
from .helpers import case, drain, junit, serving

FAIL = '<failure message="AssertionError: assert 1 == 2">trace</failure>'
READ = "tok-read-5e1f"


class Builds:
    """Sends runs of project ``shop`` (with their build ids) and reads summaries back."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.client = app.test_client()

    def send(
        self,
        run_id: str,
        statuses: dict[str, str],
        *,
        build_id: str | None = None,
        branch: str | None = "main",
        project: str = "shop",
        flaky: tuple[str, ...] = (),
    ) -> None:
        results = [
            {
                "name": name,
                "classname": "tests.test_shop",
                "file": "tests/test_shop.py",
                "line": 10 + index,
                "status": status,
                "flaky": name in flaky,
                "error_type": "AssertionError" if status in ("failed", "error") else None,
                "message": f"assert {name}" if status in ("failed", "error") else None,
            }
            for index, (name, status) in enumerate(statuses.items())
        ]
        body: dict[str, Any] = {
            "run_id": run_id,
            "project": project,
            "branch": branch,
            "results": results,
        }
        if build_id is not None:
            body["build_id"] = build_id
        response = self.client.post("/api/tests/ingest", json=body)
        assert response.status_code == 200, response.get_json()

    def get(self, url: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.client.get(url, **kwargs)
        assert response.status_code == status, (url, response.get_data(as_text=True)[:500])
        return response.get_json() if url.startswith("/api/") else response.get_data(as_text=True)


@pytest.fixture
def builds(make_app: AppFactory) -> Builds:
    return Builds(make_app(analysis_in_background=False))


def names(section: dict[str, Any] | None) -> list[str]:
    assert section is not None
    return [test["name"] for test in section["tests"]]


# -- one run -------------------------------------------------------------------------------


def test_a_runs_summary_against_the_previous_run_of_its_branch(builds: Builds) -> None:
    builds.send("r1", {"a": "passed", "b": "failed", "c": "passed"})
    builds.send("other", {"a": "failed"}, branch="feature")  # another branch: not compared
    builds.send("r2", {"a": "failed", "b": "passed", "c": "passed", "d": "error"}, flaky=("c",))

    data = builds.get("/api/tests/runs/r2/summary")

    assert data["run_id"] == "r2"
    assert data["project"] == "shop"
    assert data["totals"]["tests"] == 4
    assert (data["totals"]["failed"], data["totals"]["errors"], data["flaky"]) == (1, 1, 1)
    assert data["base"] == {"run_id": "r1", "branch": "main", "build_id": None, "runs": 1}
    assert names(data["new_failures"]) == ["a"]  # d is new: nothing to compare it with
    assert names(data["fixed"]) == ["b"]
    assert names(data["failures"]) == ["a", "d"]
    assert names(data["flaky_tests"]) == ["c"]
    assert data["quarantined"] == {"count": 0, "tests": []}
    (new,) = data["new_failures"]["tests"]
    assert new["file"] == "tests/test_shop.py"
    assert new["line"] == 10
    assert new["message"] == "assert a"
    assert new["run_id"] == "r2"
    assert re.fullmatch(r"[0-9a-f]{64}", new["test_id"])
    assert sorted(group["count"] for group in data["failure_groups"]) == [1, 1]


def test_a_runs_summary_against_another_branch(builds: Builds) -> None:
    builds.send("main1", {"a": "passed", "b": "passed"})
    builds.send("feat1", {"a": "passed", "b": "passed"}, branch="feature")
    builds.send("feat2", {"a": "failed", "b": "failed"}, branch="feature")
    builds.send("main2", {"a": "failed", "b": "passed"})  # later than feat2: not its base

    against_branch = builds.get("/api/tests/runs/feat2/summary")
    against_main = builds.get("/api/tests/runs/feat2/summary", query_string={"base": "main"})

    assert against_branch["base"]["run_id"] == "feat1"
    assert against_main["base"]["run_id"] == "main1"
    assert names(against_main["new_failures"]) == ["a", "b"]


def test_the_first_run_has_nothing_to_compare_with(builds: Builds) -> None:
    builds.send("r1", {"a": "failed"})

    data = builds.get("/api/tests/runs/r1/summary")

    assert data["base"] is None
    assert data["new_failures"] is None
    assert data["fixed"] is None
    assert names(data["failures"]) == ["a"]


def test_bad_summary_requests_are_clear_errors(builds: Builds) -> None:
    builds.send("r1", {"a": "passed"})

    assert builds.get("/api/tests/runs/nope/summary", 404)["code"] == "not_found"
    missing = builds.get("/api/tests/runs/r1/summary", 404, query_string={"base": "nope"})
    assert missing["message"] == "no earlier run of branch 'nope' in project 'shop'"
    bad = builds.get("/api/tests/runs/r1/summary", 422, query_string={"base": "a\x00b"})
    assert bad["code"] == "invalid_request"


def test_long_lists_are_cut_and_counted(builds: Builds) -> None:
    builds.send("r1", {f"t{index:03}": "passed" for index in range(150)})
    builds.send("r2", {f"t{index:03}": "failed" for index in range(150)})

    data = builds.get("/api/tests/runs/r2/summary")

    assert data["new_failures"]["count"] == 150
    assert len(data["new_failures"]["tests"]) == 100
    assert names(data["new_failures"])[:2] == ["t000", "t001"]


# -- a build -------------------------------------------------------------------------------


def _two_builds(builds: Builds) -> None:
    """Build b1 and b2 of main, each two shards (a, b | c, d); b2 breaks c and mends a."""
    builds.send("b1-1", {"a": "failed", "b": "passed"}, build_id="b1")
    builds.send("b1-2", {"c": "passed", "d": "passed"}, build_id="b1")
    builds.send("b2-1", {"a": "passed", "b": "passed"}, build_id="b2")
    builds.send("b2-2", {"c": "failed", "d": "passed"}, build_id="b2", flaky=("d",))


def test_a_build_is_its_runs_and_their_totals(builds: Builds) -> None:
    _two_builds(builds)

    data = builds.get("/api/tests/builds/b2")

    assert data["build_id"] == "b2"
    assert data["project"] == "shop"
    assert [run["run_id"] for run in data["runs"]] == ["b2-1", "b2-2"]
    assert all(run["build_id"] == "b2" for run in data["runs"])
    assert data["totals"]["tests"] == 4
    assert data["totals"]["failed"] == 1
    assert data["flaky"] == 1
    assert data["branches"] == ["main"]


def test_a_builds_summary_is_against_the_whole_previous_build(builds: Builds) -> None:
    _two_builds(builds)

    data = builds.get("/api/tests/builds/b2/summary")

    assert data["run_id"] is None
    assert data["build_id"] == "b2"
    assert data["base"] == {"run_id": "b1-2", "branch": "main", "build_id": "b1", "runs": 2}
    assert names(data["new_failures"]) == ["c"]
    assert data["new_failures"]["tests"][0]["run_id"] == "b2-2"
    assert names(data["fixed"]) == ["a"]
    assert data["fixed"]["tests"][0]["run_id"] == "b2-1"
    assert names(data["flaky_tests"]) == ["d"]
    assert [run["run_id"] for run in data["runs"]] == ["b2-1", "b2-2"]


def test_a_shards_summary_is_against_the_previous_build_not_the_previous_shard(
    builds: Builds,
) -> None:
    _two_builds(builds)

    data = builds.get("/api/tests/runs/b2-2/summary")

    assert data["run_id"] == "b2-2"
    assert data["build_id"] == "b2"
    # The previous run of main is b2-1 (other tests, same build): b1's runs are the base.
    assert data["base"]["build_id"] == "b1"
    assert names(data["new_failures"]) == ["c"]


def test_a_build_id_may_hold_slashes(builds: Builds) -> None:
    """Jenkins' BUILD_TAG holds the job's folders: jenkins-org/shop/main-12."""
    builds.send("j1", {"a": "failed"}, build_id="jenkins-org/shop/main-12")

    data = builds.get("/api/tests/builds/jenkins-org%2Fshop%2Fmain-12")
    summary = builds.get("/api/tests/builds/jenkins-org/shop/main-12/summary")

    assert [run["run_id"] for run in data["runs"]] == ["j1"]
    assert summary["build_id"] == "jenkins-org/shop/main-12"
    assert names(summary["failures"]) == ["a"]


def test_a_build_id_shared_by_two_projects_needs_the_project(builds: Builds) -> None:
    builds.send("s1", {"a": "passed"}, build_id="42")
    builds.send("w1", {"a": "failed"}, build_id="42", project="web")

    ambiguous = builds.get("/api/tests/builds/42", 422)
    one = builds.get("/api/tests/builds/42", query_string={"project": "web"})

    assert ambiguous["code"] == "ambiguous_build"
    assert ambiguous["details"]["projects"] == ["shop", "web"]
    assert [run["run_id"] for run in one["runs"]] == ["w1"]
    assert builds.get("/api/tests/builds/42/summary", 422)["code"] == "ambiguous_build"


def test_unknown_builds_are_404(builds: Builds) -> None:
    builds.send("s1", {"a": "passed"}, build_id="42")

    assert builds.get("/api/tests/builds/43", 404)["code"] == "not_found"
    assert builds.get("/api/tests/builds/42", 404, query_string={"project": "web"})
    assert builds.get("/api/tests/builds/43/summary", 404)["code"] == "not_found"
    assert builds.get("/api/tests/builds/4/2/summary", 404)["message"] == "no runs of build '4/2'"
    assert builds.get("/api/tests/builds/" + "x" * 300, 404)["code"] == "not_found"


def test_a_bad_build_id_in_json_is_422(builds: Builds) -> None:
    body = {"project": "shop", "build_id": "a\nb", "results": []}

    response = builds.client.post("/api/tests/ingest", json=body)

    assert response.status_code == 422
    assert "build_id" in response.get_json()["message"]


# -- the build id from XML uploads ---------------------------------------------------------


def _multipart(builds: Builds, meta: dict[str, Any], queued: bool = False, **form: str) -> Any:
    data: dict[str, Any] = {
        "report": (io.BytesIO(junit(case("test_a"), case("test_b", body=FAIL))), "junit.xml"),
        "meta": (io.BytesIO(json.dumps({"schema_version": 1, **meta}).encode()), "m.json"),
        **form,
    }
    return builds.client.post(
        "/api/tests/ingest",
        data=data,
        content_type="multipart/form-data",
        headers={"Prefer": "respond-async"} if queued else {},
    )


def test_the_build_id_comes_from_the_sidecar_or_the_form(builds: Builds) -> None:
    sidecar = _multipart(builds, {"run_id": "x1", "project": "shop", "build_id": "side"})
    form = _multipart(builds, {"run_id": "x2", "project": "shop", "build_id": "side"}, build_id="f")

    assert (sidecar.status_code, form.status_code) == (200, 200)
    assert builds.get("/api/tests/runs/x1")["build_id"] == "side"
    assert builds.get("/api/tests/runs/x2")["build_id"] == "f"


def test_a_queued_upload_keeps_the_build_id_its_request_named(builds: Builds) -> None:
    response = _multipart(builds, {"run_id": "q1", "project": "shop"}, build_id="9-1", queued=True)

    assert response.status_code == 202
    drain(builds.app)
    assert [run["run_id"] for run in builds.get("/api/tests/builds/9-1")["runs"]] == ["q1"]


def test_an_xml_body_takes_the_build_id_from_the_query(builds: Builds) -> None:
    response = builds.client.post(
        "/api/tests/ingest",
        data=junit(case("test_a")),
        content_type="application/xml",
        query_string={"project": "shop", "build_id": "77"},
    )

    assert response.status_code == 200
    assert len(builds.get("/api/tests/builds/77")["runs"]) == 1


def test_a_bad_build_id_in_a_form_is_422(builds: Builds) -> None:
    response = _multipart(builds, {"project": "shop"}, build_id="x" * 201)

    assert response.status_code == 422
    assert response.get_json()["message"].startswith("invalid form field 'build_id'")


# -- reading, pages ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/tests/runs/r1/summary", "/api/tests/builds/b", "/api/tests/builds/b/summary"]
)
def test_summaries_need_a_read_token(make_app: AppFactory, path: str) -> None:
    builds = Builds(make_app(read_tokens=(READ,), analysis_in_background=False))
    builds.send("r1", {"a": "passed"}, build_id="b")

    assert builds.get(path, 401)["code"] == "unauthorized"
    builds.get(path, headers={"Authorization": f"Bearer {READ}"})


def test_the_build_page_lists_its_runs_and_totals(builds: Builds) -> None:
    _two_builds(builds)
    builds.send("b3-1", {"a": "passed"}, build_id="<b>3</b>")

    page = builds.get("/builds/b2", query_string={"project": "shop"})
    run_page = builds.get("/runs/b2-1")
    odd = builds.get("/builds/%3Cb%3E3%3C%2Fb%3E")

    assert '<h1>Build <span class="mono">b2</span></h1>' in page
    assert "2 runs, 4 tests: 3 passed" in page
    assert 'href="/runs/b2-1"' in page
    assert 'href="/runs/b2-2"' in page
    assert 'href="/builds/b1?project=shop">build b1</a> (2 runs)' in page
    assert '<h3>New failures <span class="count">1</span></h3>' in page
    assert 'href="/builds/b2?project=shop">b2</a>' in run_page
    assert "&lt;b&gt;3&lt;/b&gt;" in odd
    assert "<b>3</b>" not in odd
    assert "<h1>404</h1>" in builds.get("/builds/nope", 404)


# -- testviz summary -----------------------------------------------------------------------


@pytest.fixture
def served(builds: Builds) -> Any:
    _two_builds(builds)
    builds.send("f1", {"a": "failed", "b": "passed"}, branch="feature")
    with serving(builds.app) as url:
        yield url


def test_cli_prints_a_runs_summary(
    served: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TESTVIZ_URL", raising=False)

    status = main(["summary", "b2-2", "--url", served, "--format", "text"])

    out = capsys.readouterr().out
    assert status == 0
    assert out.startswith("shop · run b2-2: 1 of 2 tests failed\n")
    assert f"{served}/runs/b2-2\n" in out
    assert "Compared with build b1 (2 runs) on branch main." in out
    assert "New failures (1):\n  tests.test_shop::c: assert c\n" in out


def test_cli_summarises_a_build_in_markdown(
    served: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["summary", "--build", "b2", "--url", served, "--project", "shop"])

    out = capsys.readouterr().out
    assert status == 0
    assert out.startswith(f"## :x: [shop · build b2]({served}/builds/b2?project=shop): ")
    assert "### New failures (1)" in out
    assert f" in run [b2-2]({served}/runs/b2-2)" in out
    assert "### Runs (2)" in out


def test_cli_without_a_run_id_takes_the_latest_run(
    served: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["summary", "--url", served, "--project", "shop", "--base", "main"])

    out = capsys.readouterr().out
    assert status == 0
    assert "shop · run f1" in out
    assert "Compared with build" in out  # main's latest: b2's runs


def test_cli_annotates_new_failures(served: str, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["summary", "b2-2", "--url", served, "--format", "github"])

    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert lines[0].startswith(
        "::error file=tests/test_shop.py,line=10,title=New failure%3A tests.test_shop%3A%3Ac::"
        "assert c%0A"
    )
    assert lines[1].startswith("::notice title=testviz::")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "no run with run_id 'nope'"),
        (["--build", "nope"], "no runs of build 'nope'"),
        (["b2-2", "--base", "nope"], "no earlier run of branch 'nope'"),
        (["--project", "nope"], "has no runs of project 'nope' yet"),
    ],
)
def test_cli_names_what_the_server_does_not_have(
    served: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    status = main(["summary", *args, "--url", served])

    assert status == 2
    assert message in capsys.readouterr().err


def test_cli_with_a_read_token(make_app: AppFactory, capsys: pytest.CaptureFixture[str]) -> None:
    builds = Builds(make_app(read_tokens=(READ,), analysis_in_background=False))
    builds.send("r1", {"a": "passed"})
    with serving(builds.app) as url:
        refused = main(["summary", "r1", "--url", url])
        err = capsys.readouterr().err
        allowed = main(["summary", "r1", "--url", url, "--token", READ])

    assert refused == 2
    assert "HTTP 401" in err
    assert "TESTVIZ_READ_TOKEN" in err
    assert allowed == 0


@pytest.mark.parametrize("path", ["/api/tests/runs/r1/summary", "/api/tests/builds/b/summary"])
def test_an_ingest_token_reads_summaries_of_its_own_project(
    make_app: AppFactory, path: str
) -> None:
    app = make_app(
        read_tokens=(READ,),
        ingest_tokens=("shop:shop-ci", "other:other-ci"),
        analysis_in_background=False,
    )
    client = app.test_client()
    body = {"run_id": "r1", "project": "shop", "build_id": "b", "results": []}
    sent = client.post("/api/tests/ingest", json=body, headers=_bearer("shop-ci"))
    assert sent.status_code == 200, sent.get_json()

    assert client.get(path, headers=_bearer("shop-ci")).status_code == 200
    other = client.get(path, headers=_bearer("other-ci"))
    assert (other.status_code, other.get_json()["code"]) == (403, "forbidden")
    # Only summaries: the rest of the read API still wants a read token.
    assert client.get("/api/tests/builds/b", headers=_bearer("shop-ci")).status_code == 401


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
