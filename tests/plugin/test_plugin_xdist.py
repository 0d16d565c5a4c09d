"""pytest-xdist: one upload from the controller, one run id shared with every worker."""

from __future__ import annotations

import json

import pytest

from .conftest import Testviz, only_run

pytest.importorskip("xdist")

SPREAD = """
import json
import os
import pathlib

import pytest

def record(name, run_id):
    out = pathlib.Path(__file__).parent / "seen"
    out.mkdir(exist_ok=True)
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    (out / name).write_text(json.dumps({"worker": worker, "run_id": run_id}))

@pytest.mark.parametrize("n", range(8))
def test_spread(n, testviz_run_id):
    record(f"spread-{n}", testviz_run_id)

@pytest.mark.testviz(owner="team-payments", tags=("checkout",))
def test_owned(testviz_run_id):
    record("owned", testviz_run_id)

def test_fails(testviz_run_id):
    record("fails", testviz_run_id)
    assert False
"""


def test_one_upload_and_one_run_id(testviz: Testviz, live_server: str) -> None:
    testviz.pytester.makepyfile(test_spread=SPREAD)

    result = testviz.run_subprocess("-n", "2", f"--testviz-url={live_server}", *testviz.dir_args)

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    run = only_run(live_server)  # one upload: the controller's
    names = sorted(r["name"] for r in run["results"])
    assert names == sorted([*(f"test_spread[{n}]" for n in range(8)), "test_owned", "test_fails"])
    assert run["totals"]["failed"] == 1
    seen = [
        json.loads(path.read_text(encoding="utf-8"))
        for path in (testviz.pytester.path / "seen").iterdir()
    ]
    assert len(seen) == 10
    assert {entry["worker"] for entry in seen} <= {"gw0", "gw1"}
    assert {entry["run_id"] for entry in seen} == {run["run_id"]}
    (owned,) = [r for r in run["results"] if r["name"] == "test_owned"]
    assert owned["owner"] == "team-payments"  # metadata attached on a worker reaches the server
    assert "checkout" in owned["tags"]
    assert testviz.sent() == [f"{run['run_id']}.xml"]
    assert result.stdout.str().count("testviz: run ") == 1


def test_a_collection_error_under_xdist_is_one_result(testviz: Testviz, live_server: str) -> None:
    testviz.pytester.makepyfile(
        test_broken="import a_module_that_does_not_exist\n",
        test_fine="def test_fine():\n    pass\n",
    )

    result = testviz.run_subprocess("-n", "2", f"--testviz-url={live_server}", *testviz.dir_args)

    assert result.ret == pytest.ExitCode.TESTS_FAILED  # xdist runs the rest, as without us
    results = only_run(live_server)["results"]
    # Every worker collects, and fails on, the module: still one result.
    assert sorted((r["name"], r["status"]) for r in results) == [
        ("test_broken", "error"),
        ("test_fine", "passed"),
    ]
