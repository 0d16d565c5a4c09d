"""``testviz parse``: a report as JSON, and bad input as one line on stderr with status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_testviz.cli import main
from pytest_testviz.core import test_id

from .helpers import case, junit, subprocess_env

RESULT_FIELDS = [
    "test_id",
    "name",
    "base_name",
    "params",
    "classname",
    "file",
    "line",
    "suite",
    "status",
    "flaky",
    "duration",
    "error_type",
    "message",
    "fingerprint",
    "tags",
    "owner",
    "subtests_failed",
    "subtests_passed",
]

REPORT = junit(
    case("test_add[1-2]", "tests.test_math.TestAdd", attrs='time="0.5"'),
    case("  spaced   name ", "tests.test_math", body='<failure message="assert 1 == 2"/>'),
    case("naïve ✓ [ü]", "Ünïcode suite", body='<skipped message="later"/>'),
    suite="math",
)


def run_parse(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["parse", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_parse_prints_run_totals_and_results(write_file, capsys) -> None:
    path = write_file(REPORT)

    code, out, err = run_parse(capsys, str(path))

    assert (code, err) == (0, "")
    assert out.count("\n") == 1  # compact by default
    data = json.loads(out)
    assert {"run", "totals", "results"} <= data.keys()
    assert data["totals"] == {
        "tests": 3,
        "passed": 1,
        "failed": 1,
        "errors": 0,
        "skipped": 1,
        "xfailed": 0,
        "xpassed": 0,
        "subtests_failed": 0,
        "subtests_passed": 0,
    }
    assert data["run"]["project"] == "default"
    assert data["run"]["source"] == "report.xml"
    assert [list(result) for result in data["results"]] == [RESULT_FIELDS] * 3

    first, second, third = data["results"]
    assert first["test_id"] == test_id("default", "tests.test_math.TestAdd", "test_add[1-2]")
    assert (first["base_name"], first["params"], first["file"]) == (
        "test_add",
        "1-2",
        "tests/test_math.py",
    )
    assert first["suite"] == ["math"]
    assert first["duration"] == 0.5
    assert second["status"] == "failed"
    assert second["message"] == "assert 1 == 2"
    assert len(second["fingerprint"]) == 16
    assert (third["status"], third["message"], third["fingerprint"]) == ("skipped", "later", None)


def test_names_are_exactly_as_in_the_xml(write_file, capsys) -> None:
    path = write_file(REPORT)

    _, out, _ = run_parse(capsys, str(path))

    results = json.loads(out)["results"]
    assert [(r["classname"], r["name"]) for r in results] == [
        ("tests.test_math.TestAdd", "test_add[1-2]"),
        ("tests.test_math", "  spaced   name "),
        ("Ünïcode suite", "naïve ✓ [ü]"),
    ]
    assert "naïve ✓ [ü]" in out  # not \u-escaped


def test_parse_options(write_file, capsys) -> None:
    path = write_file(REPORT)
    write_file(json.dumps({"project": "beside", "branch": "b1"}), "report.meta.json")
    explicit = write_file(json.dumps({"branch": "b2"}), "explicit.json")

    beside = json.loads(run_parse(capsys, str(path))[1])["run"]
    assert (beside["project"], beside["branch"]) == ("beside", "b1")

    meta = json.loads(run_parse(capsys, str(path), "--meta", str(explicit))[1])["run"]
    assert (meta["project"], meta["branch"]) == ("default", "b2")

    project = json.loads(run_parse(capsys, str(path), "--project", "p")[1])
    assert project["run"]["project"] == "p"
    assert project["results"][0]["test_id"] == test_id(
        "p", "tests.test_math.TestAdd", "test_add[1-2]"
    )

    ignored = json.loads(run_parse(capsys, str(path), "--no-sidecar")[1])["run"]
    assert (ignored["project"], ignored["branch"]) == ("default", None)

    code, out, _ = run_parse(capsys, str(path), "--indent")
    assert code == 0
    assert out.count("\n") > 10
    assert json.loads(out)["totals"]["tests"] == 3


@pytest.mark.parametrize(
    ("files", "args", "needle"),
    [
        ({"report.xml": b"<testsuites><testsuite>"}, ["{tmp}/report.xml"], "report.xml:1:"),
        ({"report.xml": b""}, ["{tmp}/report.xml"], "the report is empty"),
        ({"report.xml": b"<result/>"}, ["{tmp}/report.xml"], "root element is <result>"),
        ({}, ["{tmp}/missing.xml"], "cannot read the file"),
        (
            {"report.xml": REPORT, "report.meta.json": b'{"git_sha": "zz"}'},
            ["{tmp}/report.xml"],
            "invalid field 'git_sha'",
        ),
        (
            {"report.xml": REPORT},
            ["{tmp}/report.xml", "--meta", "{tmp}/nope.json"],
            "nope.json: cannot read the file",
        ),
    ],
    ids=["malformed", "empty", "wrong-root", "missing", "bad-sidecar", "missing-meta"],
)
def test_bad_input_is_one_line_on_stderr_and_status_2(
    tmp_path: Path, write_file, capsys, files: dict[str, bytes], args: list[str], needle: str
) -> None:
    for name, content in files.items():
        write_file(content, name)
    code, out, err = run_parse(capsys, *(arg.format(tmp=tmp_path) for arg in args))

    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("testviz parse: ")
    assert needle in err
    assert "Traceback" not in err


def _run_module(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest_testviz.cli", *args],
        cwd=cwd,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        encoding="utf-8",
        check=False,
    )


def test_exit_status_as_a_real_process(write_file, tmp_path: Path) -> None:
    good = write_file(REPORT)
    bad = write_file(b'<testsuites>\n<testcase name="a" classname="c">\n', "bad.xml")

    ok = _run_module("parse", str(good), cwd=tmp_path)
    failed = _run_module("parse", str(bad), cwd=tmp_path)

    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["totals"]["tests"] == 3
    assert failed.returncode == 2
    assert failed.stdout == ""
    assert failed.stderr.startswith(f"testviz parse: {bad}:")
    assert failed.stderr.count("\n") == 1
    assert "Traceback" not in failed.stderr


def test_usage_error_is_status_2(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["parse"])

    assert info.value.code == 2
    assert "report" in capsys.readouterr().err
