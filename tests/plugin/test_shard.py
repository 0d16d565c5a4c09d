"""``--testviz-shard=K/N``: the N parts run every selected test exactly once, the same inputs
give the same parts, and each fallback (cached durations, by count) says so."""

from __future__ import annotations

import http.server
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from pytest_testviz.build import build_id
from pytest_testviz.core import parse_junit_xml
from pytest_testviz.core.identity import test_id

from .conftest import FakeServer, Testviz, answer_json, serve

PROJECT = "shardproj"

SUITE = {
    "test_alpha": """
import pytest

@pytest.mark.parametrize("n", range(6))
def test_param(n):
    pass

class TestOne:
    def test_a(self):
        pass

    def test_b(self):
        pass

def test_heavy():
    pass
""",
    "test_beta": """
class TestTwo:
    def test_c(self):
        pass

    def test_d(self):
        pass

    def test_e(self):
        pass

def test_f():
    pass

def test_g():
    pass
""",
}
NODE_IDS = sorted(
    [
        *(f"test_alpha.py::test_param[{n}]" for n in range(6)),
        "test_alpha.py::TestOne::test_a",
        "test_alpha.py::TestOne::test_b",
        "test_alpha.py::test_heavy",
        "test_beta.py::TestTwo::test_c",
        "test_beta.py::TestTwo::test_d",
        "test_beta.py::TestTwo::test_e",
        "test_beta.py::test_f",
        "test_beta.py::test_g",
    ]
)
BUILD_VARIABLES = (
    "GITHUB_RUN_ID",
    "GITHUB_RUN_ATTEMPT",
    "CI_PIPELINE_ID",
    "BUILDKITE_BUILD_ID",
    "CIRCLE_WORKFLOW_ID",
    "BUILD_TAG",
)


@pytest.fixture(autouse=True)
def _outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    """No build id of the CI running these tests reaches the sessions under test."""
    for name in BUILD_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def the_id(nodeid: str) -> str:
    """The server's ``test_id`` of a test of :data:`SUITE` (docs/identity.md)."""
    path, _, rest = nodeid.partition("::")
    *classes, name = rest.split("::")
    return test_id(PROJECT, ".".join([path.removesuffix(".py"), *classes]), name)


def selected(result: pytest.RunResult) -> list[str]:
    """The node ids a ``--collect-only -q`` session lists."""
    return sorted(line for line in result.outlines if "::" in line and " " not in line)


def run_part(testviz: Testviz, part: str, *args: str) -> pytest.RunResult:
    result = testviz.run(
        "--collect-only", "-q", f"--testviz-project={PROJECT}", f"--testviz-shard={part}", *args
    )
    assert result.ret == pytest.ExitCode.OK, result.stdout.str() + result.stderr.str()
    return result


def parts_of(testviz: Testviz, total: int, *args: str) -> list[list[str]]:
    return [selected(run_part(testviz, f"{k}/{total}", *args)) for k in range(1, total + 1)]


def assert_a_partition(parts: list[list[str]], everything: list[str]) -> None:
    together = [nodeid for part in parts for nodeid in part]
    assert sorted(together) == sorted(everything)  # every test, none twice
    assert all(parts), parts  # and no part idle, with more tests than parts


# -- without a server: by count, or from the cache ------------------------------------------


@pytest.mark.parametrize("total", [1, 2, 3, 5])
def test_the_parts_are_the_collection_once(testviz: Testviz, total: int) -> None:
    testviz.pytester.makepyfile(**SUITE)

    parts = parts_of(testviz, total)

    assert_a_partition(parts, NODE_IDS)
    sizes = sorted(len(part) for part in parts)
    assert sizes[-1] - sizes[0] <= 1  # by count: as even as can be


def test_the_same_inputs_give_the_same_parts_in_any_order(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(**SUITE)
    first = parts_of(testviz, 3)
    # A plugin that reverses the collection (as pytest-randomly shuffles it) changes nothing.
    testviz.pytester.makeconftest(
        "def pytest_collection_modifyitems(items):\n    items.reverse()\n"
    )

    assert parts_of(testviz, 3) == first


def test_without_durations_it_splits_by_count_and_says_so(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(**SUITE)

    result = testviz.run(f"--testviz-project={PROJECT}", "--testviz-shard=2/3")

    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=5, deselected=9)
    lines = [line for line in result.outlines if line.startswith("testviz: shard")]
    assert lines == [
        "testviz: shard 2/3: 5 of 14 tests; split by count: no durations (no --testviz-url, "
        f"no cache in {testviz.pytester.path / '.testviz'})"
    ]


@pytest.mark.parametrize("xdist", [False, True])
def test_a_part_left_empty_is_not_a_failed_job(testviz: Testviz, xdist: bool) -> None:
    testviz.pytester.makepyfile(test_two="def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    args = (f"--testviz-project={PROJECT}", "-p", "no:randomly")

    results = [
        testviz.run_subprocess("-n", "2", *args, f"--testviz-shard={k}/3")
        if xdist
        else testviz.run(*args, f"--testviz-shard={k}/3")
        for k in (1, 2, 3)
    ]

    assert [result.ret for result in results] == [pytest.ExitCode.OK] * 3
    ran = sorted(result.parseoutcomes().get("passed", 0) for result in results)
    assert ran == [0, 1, 1]


def test_it_splits_what_k_selected(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(**SUITE)
    chosen = [nodeid for nodeid in NODE_IDS if "param" not in nodeid]

    parts = parts_of(testviz, 2, "-k", "not param")

    assert_a_partition(parts, chosen)
    assert sorted(len(part) for part in parts) == [4, 4]


def test_it_splits_what_lf_selected(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(
        test_flaky="import pytest\n\n@pytest.mark.parametrize('n', range(6))\n"
        "def test_n(n):\n    assert n % 2\n"
    )
    assert testviz.run().ret == pytest.ExitCode.TESTS_FAILED  # n = 0, 2, 4 fail
    failed = [f"test_flaky.py::test_n[{n}]" for n in (0, 2, 4)]

    parts = parts_of(testviz, 2, "--lf")

    assert_a_partition(parts, failed)


@pytest.mark.parametrize(
    ("group", "together"),
    [
        ("module", [["test_alpha.py"], ["test_beta.py"]]),
        ("class", [["test_alpha.py::TestOne"], ["test_beta.py::TestTwo"]]),
    ],
)
def test_a_group_stays_in_one_part(testviz: Testviz, group: str, together: list[list[str]]) -> None:
    testviz.pytester.makepyfile(**SUITE)

    parts = parts_of(testviz, 2, f"--testviz-shard-group={group}")

    assert_a_partition(parts, NODE_IDS)
    for (prefix,) in together:
        holding = [part for part in parts if any(n.startswith(prefix + "::") for n in part)]
        assert len(holding) == 1, (prefix, parts)


def test_the_group_option_comes_from_the_ini_file(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(**SUITE)
    testviz.pytester.makeini("[pytest]\ntestviz_shard_group = module\n")

    parts = parts_of(testviz, 2)

    # A module each: 9 tests and 5.
    assert sorted(len(part) for part in parts) == [5, 9]


def test_the_cache_is_used_offline_and_says_so(testviz: Testviz, closed_port_url: str) -> None:
    testviz.pytester.makepyfile(**SUITE)
    cache = testviz.pytester.path / ".testviz" / "durations.json"
    cache.parent.mkdir()
    durations = {the_id(nodeid): 1.0 for nodeid in NODE_IDS}
    durations[the_id("test_alpha.py::test_heavy")] = 30.0
    cache.write_text(
        json.dumps(
            {
                "version": 1,
                "project": PROJECT,
                "fetched": "2026-01-02T03:04:05+00:00",
                "durations": durations,
            }
        ),
        encoding="utf-8",
    )

    first = run_part(testviz, "1/2", f"--testviz-url={closed_port_url}")

    # 30 s alone against 13 tests of 1 s: the slow test is a part by itself.
    assert selected(first) == ["test_alpha.py::test_heavy"]
    first.stdout.fnmatch_lines(
        [
            "testviz: shard 1/2: 1 of 14 tests, about 30 s; split by the durations cached at "
            f"2026-01-02T03:04:05+00:00; cannot reach {closed_port_url}: connection refused"
        ]
    )
    assert_a_partition(
        [selected(first), selected(run_part(testviz, "2/2", f"--testviz-url={closed_port_url}"))],
        NODE_IDS,
    )


def test_a_cache_of_another_project_is_not_used(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(**SUITE)
    cache = testviz.pytester.path / ".testviz" / "durations.json"
    cache.parent.mkdir()
    heavy = {the_id("test_alpha.py::test_heavy"): 30.0}
    cache.write_text(
        json.dumps({"version": 1, "project": "other", "durations": heavy}), encoding="utf-8"
    )

    result = run_part(testviz, "1/2")

    assert len(selected(result)) == 7
    result.stdout.fnmatch_lines(["*split by count: no durations*"])


# -- with a server -----------------------------------------------------------------------------


class DurationsServer:
    """A fake testviz server: durations for GET, a fixed plan (or none) for POST."""

    def __init__(self, durations: dict[str, float], plan: dict[str, Any] | None) -> None:
        self.durations = durations
        self.plan = plan

    def __call__(self, request: http.server.BaseHTTPRequestHandler, fake: FakeServer) -> None:
        if request.command == "GET" and request.path.startswith("/api/tests/durations?"):
            body = {"project": PROJECT, "branch": "main", "runs": 5, "durations": self.durations}
            answer_json(request, 200, json.dumps(body).encode())
        elif request.command == "POST" and request.path == "/api/tests/shard-plans":
            if self.plan is None:
                answer_json(request, 404, b'{"code": "not_found", "message": "no such route"}')
            else:
                answer_json(request, 201, json.dumps(self.plan).encode())
        else:
            answer_json(request, 404, b"{}")


HEAVY = {the_id(nodeid): 1.0 for nodeid in NODE_IDS} | {the_id("test_alpha.py::test_heavy"): 30.0}


@pytest.fixture
def durations_server() -> Iterator[FakeServer]:
    yield from serve(DurationsServer(HEAVY, None))


def test_the_servers_durations_are_used_and_cached(
    testviz: Testviz, durations_server: FakeServer
) -> None:
    testviz.pytester.makepyfile(**SUITE)
    url = f"--testviz-url={durations_server.url}"

    first = run_part(testviz, "1/2", url)

    assert selected(first) == ["test_alpha.py::test_heavy"]
    first.stdout.fnmatch_lines(
        [
            "testviz: shard 1/2: 1 of 14 tests, about 30 s; split by the server's durations "
            "(branch main); no CI build id, so not shared with other jobs (--testviz-build)"
        ]
    )
    assert durations_server.requests == [f"/api/tests/durations?project={PROJECT}"]
    cached = json.loads((testviz.pytester.path / ".testviz" / "durations.json").read_text())
    assert cached["project"] == PROJECT
    assert cached["durations"] == HEAVY


def test_the_test_ids_are_the_servers(testviz: Testviz, durations_server: FakeServer) -> None:
    """The ids durations are looked up by are those the server reads from the plugin's report."""
    testviz.pytester.makepyfile(**SUITE)
    testviz.run(f"--testviz-project={PROJECT}", *testviz.dir_args)
    (report,) = testviz.directory.glob("*.xml")
    parsed = parse_junit_xml(report.read_bytes(), project=PROJECT)

    assert sorted(result.test_id for result in parsed.results) == sorted(HEAVY)


def test_the_servers_plan_for_the_build_wins(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(**SUITE)
    # Not what the durations would give: the job must run the server's part, as the others do.
    parts = [[the_id(n) for n in NODE_IDS if "param" in n], []]
    parts[1] = [the_id(n) for n in NODE_IDS if "param" not in n]
    plan = {
        "plan_id": "p1",
        "parts": parts,
        "loads": [6.0, 8.0],
        "source": "durations",
        "known": 14,
        "created": False,
    }

    for fake in serve(DurationsServer(HEAVY, plan)):
        result = run_part(testviz, "1/2", f"--testviz-url={fake.url}", "--testviz-build=b-7")

        assert selected(result) == [n for n in NODE_IDS if "param" in n]
        result.stdout.fnmatch_lines(
            [
                "testviz: shard 1/2: 6 of 14 tests, about 6 s; the server's plan for build b-7 "
                "(made by an earlier job)"
            ]
        )
        assert fake.requests == [
            f"/api/tests/durations?project={PROJECT}",
            "/api/tests/shard-plans",
        ]


def test_a_plan_that_does_not_fit_the_collection_is_not_used(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(**SUITE)
    plan = {"plan_id": "p1", "parts": [[the_id(NODE_IDS[0])], []], "created": True}

    for fake in serve(DurationsServer(HEAVY, plan)):
        result = run_part(testviz, "1/2", f"--testviz-url={fake.url}", "--testviz-build=b-7")

        assert selected(result) == ["test_alpha.py::test_heavy"]  # planned here, by durations
        result.stdout.fnmatch_lines(
            [
                "*split by the server's durations (branch main); the server's plan: the plan "
                f"{fake.url} answered does not split this collection"
            ]
        )


def test_a_server_without_plans_falls_back_to_its_durations(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(**SUITE)

    for fake in serve(DurationsServer(HEAVY, None)):
        result = run_part(testviz, "2/2", f"--testviz-url={fake.url}", "--testviz-build=b-7")

        assert len(selected(result)) == 13
        result.stdout.fnmatch_lines(["*; the server's plan: * answered HTTP 404: no such route"])


# -- xdist ---------------------------------------------------------------------------------------


def test_under_xdist_the_workers_run_the_controllers_part(
    testviz: Testviz, durations_server: FakeServer
) -> None:
    pytest.importorskip("xdist")
    record = (
        "import os, pathlib\n\n"
        "def pytest_runtest_logreport(report):\n"
        "    if report.when == 'call':\n"
        "        out = pathlib.Path(__file__).parent / 'ran'\n"
        "        out.mkdir(exist_ok=True)\n"
        "        (out / report.nodeid.replace('/', '_')).write_text(report.nodeid)\n"
    )
    testviz.pytester.makeconftest(record)
    testviz.pytester.makepyfile(**SUITE)
    ran: list[list[str]] = []
    for part in ("1/2", "2/2"):
        result = testviz.run_subprocess(
            "-n",
            "2",
            f"--testviz-project={PROJECT}",
            f"--testviz-shard={part}",
            f"--testviz-url={durations_server.url}",
        )
        assert result.ret == pytest.ExitCode.OK, result.stdout.str()
        out = testviz.pytester.path / "ran"
        ran.append(sorted(path.read_text() for path in out.iterdir()))
        for path in out.iterdir():
            path.unlink()
        assert result.stdout.str().count("testviz: shard ") == 1

    assert ran[0] == ["test_alpha.py::test_heavy"]
    assert_a_partition(ran, NODE_IDS)
    # One worker planned; the other took its part: the server was asked once per job.
    asked = [path for path in durations_server.requests if path.startswith("/api/tests/dur")]
    assert asked == [f"/api/tests/durations?project={PROJECT}"] * 2


# -- bad values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--testviz-shard=0/2"], "Invalid testviz_shard '0/2' from the command line*K/N*"),
        (["--testviz-shard=3/2"], "Invalid testviz_shard '3/2'*"),
        (["--testviz-shard=2"], "Invalid testviz_shard '2'*"),
        (["--testviz-shard=a/b"], "Invalid testviz_shard 'a/b'*"),
        (["--testviz-shard=1/0"], "Invalid testviz_shard '1/0'*"),
        (["--testviz-shard=1/2", "--testviz-shard-group=file"], "*expected module or class"),
        (["--testviz-shard=1/2", "--testviz-build=a\tb"], "Invalid testviz_build*"),
    ],
)
def test_a_bad_value_is_a_usage_error(testviz: Testviz, args: list[str], message: str) -> None:
    testviz.pytester.makepyfile(**SUITE)

    result = testviz.run(*args)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])


def test_a_bad_value_from_the_environment_names_it(
    testviz: Testviz, monkeypatch: pytest.MonkeyPatch
) -> None:
    testviz.pytester.makepyfile(**SUITE)
    monkeypatch.setenv("TESTVIZ_SHARD", "5/4")

    result = testviz.run()

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: Invalid testviz_shard '5/4' from the TESTVIZ_SHARD *"])


# -- the build id --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "explicit", "expected"),
    [
        ({}, None, None),
        ({"GITHUB_RUN_ID": "123", "GITHUB_RUN_ATTEMPT": "2"}, None, "123-2"),
        ({"GITHUB_RUN_ID": "123"}, None, "123-1"),
        ({"CI_PIPELINE_ID": "77", "CI_JOB_ID": "78"}, None, "77"),
        ({"BUILDKITE_BUILD_ID": "0190-ab"}, None, "0190-ab"),
        ({"CIRCLE_WORKFLOW_ID": "wf-1", "CIRCLE_BUILD_NUM": "9"}, None, "wf-1"),
        ({"BUILD_TAG": "jenkins-app-42"}, None, "jenkins-app-42"),
        ({"GITHUB_RUN_ID": "123", "CI_PIPELINE_ID": "77"}, None, "123-1"),
        ({"GITHUB_RUN_ID": "123"}, " mine ", "mine"),
        ({"BUILD_TAG": "x" * 201}, None, None),  # not an id: dropped, the run goes on
        ({"BUILD_TAG": "a\nb"}, None, None),
    ],
)
def test_the_build_id(env: dict[str, str], explicit: str | None, expected: str | None) -> None:
    assert build_id(env, explicit) == expected


@pytest.mark.parametrize("explicit", ["x" * 201, "a\nb"])
def test_a_bad_explicit_build_id_is_an_error(explicit: str) -> None:
    with pytest.raises(ValueError, match="printable characters"):
        build_id({}, explicit)


def test_the_ci_build_id_keys_the_servers_plan(
    testviz: Testviz, monkeypatch: pytest.MonkeyPatch, live_server: str
) -> None:
    """Without --testviz-build, the CI's own build id (here GitHub's run id and attempt)."""
    testviz.pytester.makepyfile(**SUITE)
    monkeypatch.setenv("GITHUB_RUN_ID", "555")
    monkeypatch.setenv("GITHUB_RUN_ATTEMPT", "3")

    first = run_part(testviz, "1/2", f"--testviz-url={live_server}")
    second = run_part(testviz, "2/2", f"--testviz-url={live_server}")

    first.stdout.fnmatch_lines(["*; the server's plan for build 555-3 (made now, by count: *"])
    second.stdout.fnmatch_lines(["*; the server's plan for build 555-3 (made by an earlier job*"])
    assert_a_partition([selected(first), selected(second)], NODE_IDS)


# -- with the real server ---------------------------------------------------------------------


def seed(url: str, durations: dict[str, float], runs: int = 3) -> None:
    """Runs of :data:`PROJECT` on main with these durations (by node id), as JSON uploads."""
    for _ in range(runs):
        results: list[dict[str, Any]] = []
        for nodeid, seconds in durations.items():
            path, _, rest = nodeid.partition("::")
            *classes, name = rest.split("::")
            classname = ".".join([path.removesuffix(".py"), *classes])
            results.append(
                {"name": name, "classname": classname, "status": "passed", "duration": seconds}
            )
        body: dict[str, Any] = {
            "project": PROJECT,
            "branch": "main",
            "run_id": uuid.uuid4().hex,
            "results": results,
        }
        response = requests.post(f"{url}/api/tests/ingest", json=body, timeout=30)
        assert response.status_code == 200, response.text


def test_the_jobs_of_a_build_share_the_servers_plan(testviz: Testviz, live_server: str) -> None:
    testviz.pytester.makepyfile(**SUITE)
    seed(live_server, {nodeid: 1.0 for nodeid in NODE_IDS} | {"test_alpha.py::test_heavy": 30.0})
    job = ("--testviz-build=gh-1", f"--testviz-url={live_server}")

    first = run_part(testviz, "1/2", *job)
    # Before the second job starts, the durations change: test_f is the slow one now.
    seed(live_server, {"test_beta.py::test_f": 60.0}, runs=5)
    second = run_part(testviz, "2/2", *job)

    assert selected(first) == ["test_alpha.py::test_heavy"]
    first.stdout.fnmatch_lines(["*; the server's plan for build gh-1 (made now)"])
    second.stdout.fnmatch_lines(["*; the server's plan for build gh-1 (made by an earlier job)"])
    assert_a_partition([selected(first), selected(second)], NODE_IDS)
    # A job of another build plans from the new durations.
    other = run_part(testviz, "1/2", "--testviz-build=gh-2", f"--testviz-url={live_server}")
    assert selected(other) == ["test_beta.py::test_f"]
