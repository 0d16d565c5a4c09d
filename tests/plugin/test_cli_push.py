"""``testviz meta`` and ``testviz push``: a report from another producer, with a sidecar that
carries what JUnit XML cannot (project, git commit and branch)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_testviz.cli import main
from pytest_testviz.options import SERVER_URL

from .conftest import server_run, server_runs

#: What jest-junit writes: suites per file, names that repeat, no file attribute.
JEST = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="jest tests" tests="3" failures="1" errors="0" time="0.52">
  <testsuite name="cart" errors="0" failures="1" skipped="0" tests="3" time="0.5"
             timestamp="2024-05-01T10:00:00">
    <testcase classname="cart adds an item" name="cart adds an item" time="0.01"/>
    <testcase classname="cart adds an item" name="cart adds an item" time="0.02"/>
    <testcase classname="cart totals" name="cart totals" time="0.03">
      <failure message="expected 3, received 2">Error: expect(received).toBe(expected)
    at Object.&lt;anonymous&gt; (cart.test.js:12:5)</failure>
    </testcase>
  </testsuite>
</testsuites>
"""


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        [
            "git",
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.invalid",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


@pytest.fixture
def live_server(working_server: str) -> str:
    """``testviz push`` waits until the run is stored: a job worker runs beside the server."""
    return working_server


@pytest.fixture
def web(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory with a Jest report in it, the working directory of the test."""
    project = tmp_path / "web"
    project.mkdir()
    (project / "junit.xml").write_text(JEST, encoding="utf-8")
    monkeypatch.chdir(project)
    return project


def test_push_a_foreign_report_with_its_sidecar(
    web: Path, live_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["meta", "junit.xml", "--project", "web", "--producer", "jest 29"]) == 0
    assert capsys.readouterr().out == "junit.meta.json\n"
    sidecar = json.loads((web / "junit.meta.json").read_text(encoding="utf-8"))
    assert (sidecar["project"], sidecar["producer"]) == ("web", "jest 29")

    assert main(["push", "junit.xml", "--url", live_server]) == 0

    (summary,) = server_runs(live_server)
    run = server_run(live_server, summary["run_id"])
    assert run["project"] == "web"
    totals = {"tests": 3, "passed": 2, "failed": 1, "errors": 0, "skipped": 0}
    assert run["totals"] == {
        **totals,
        "xfailed": 0,
        "xpassed": 0,
        "subtests_failed": 0,
        "subtests_passed": 0,
    }
    assert sorted(r["name"] for r in run["results"]) == [
        "cart adds an item",
        "cart adds an item",  # Jest repeats a name: two tests, not a retry
        "cart totals",
    ]
    link = f"{live_server}/runs/{run['run_id']}"
    assert capsys.readouterr().out == f"junit.xml: run {run['run_id']} created: {link}\n"

    assert main(["push", "junit.xml", "--url", live_server]) == 0  # the same files again
    assert f"run {run['run_id']} skipped" in capsys.readouterr().out
    assert len(server_runs(live_server)) == 1


def test_push_with_an_unusual_file_name_and_project(
    web: Path, live_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Quotes, spaces and non-ASCII in the form's file name and fields reach the server whole."""
    odd = web / 'jest "nightly" résumé.xml'
    (web / "junit.xml").rename(odd)

    assert main(["push", str(odd), "--url", live_server, "--project", "café-web"]) == 0

    (run,) = server_runs(live_server)
    assert run["project"] == "café-web"
    assert run["totals"]["tests"] == 3
    assert "created" in capsys.readouterr().out


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_the_sidecar_carries_git_commit_and_branch(
    web: Path, live_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(web.parent))  # no user's git configuration
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    _git(web, "init", "-q")
    _git(web, "symbolic-ref", "HEAD", "refs/heads/feature/cart")
    (web / "cart.test.js").write_text("test('adds', () => {});\n", encoding="utf-8")
    _git(web, "add", "cart.test.js")
    _git(web, "commit", "-q", "-m", "cart tests")
    sha = _git(web, "rev-parse", "HEAD")

    assert main(["meta", "junit.xml", "--project", "web"]) == 0
    assert main(["push", "junit.xml", "--url", live_server]) == 0

    (run,) = server_runs(live_server)
    assert (run["git_sha"], run["branch"], run["project"]) == (sha, "feature/cart", "web")


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:99999",
        "file:///etc/hostname",
        "127.0.0.1:5000",
        "https://",
        "http://user:password@127.0.0.1:5000",
        "http://127.0.0.1:5000/?project=web",
        "http://127.0.0.1:5000/#runs",
    ],
)
def test_push_to_an_impossible_url_is_a_usage_error_naming_it(
    web: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["push", "junit.xml", "--url", url])

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    shown = url.replace("user:password@", "***@")
    assert f"argument --url: expected {SERVER_URL}, not {shown!r}" in err
    assert "password@127" not in err


def test_push_to_a_closed_port_names_the_url(
    web: Path, capsys: pytest.CaptureFixture[str], closed_port_url: str
) -> None:
    code = main(["push", "junit.xml", "--url", closed_port_url, "--timeout", "5"])

    assert code == 1
    err = capsys.readouterr().err
    assert f"cannot reach {closed_port_url}: connection refused" in err
    assert "cannot read" not in err  # the report was readable: the URL is what is wrong


def test_push_of_a_missing_report_is_a_usage_error(
    web: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["push", "nothing.xml", "--url", "http://127.0.0.1:9"])

    assert code == 2
    assert capsys.readouterr().err == "testviz push: nothing.xml: no such file\n"


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["push", "junit.xml", "--timeout", "nan"], "argument --timeout: expected a number"),
        (["push", "junit.xml", "--timeout", "0"], "argument --timeout: expected a number"),
        (["replay", ".", "--timeout", "-1"], "argument --timeout: expected a number"),
        (["replay", ".", "--keep", "-1"], "argument --keep: expected a whole number >= 0"),
    ],
)
def test_bad_numbers_are_usage_errors(
    web: Path, capsys: pytest.CaptureFixture[str], args: list[str], complaint: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--url", "http://127.0.0.1:9"])

    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert complaint in err
    assert "Traceback" not in err
