"""The report directory: reports wait there while the server is down, ``testviz replay`` or
the next session sends them, sent ones are pruned to ``keep``, pending ones never are."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from pytest_testviz.cli import main

from .conftest import Testviz, server_runs

PASSING = "def test_one():\n    pass\n"
FAILING = "def test_one():\n    assert False\n"


def _run_id(result: pytest.RunResult) -> str:
    """The run id the summary line names."""
    (line,) = [line for line in result.stdout.lines if line.startswith("testviz: ")]
    return line.split("run ", 1)[1].split()[0].rstrip(":")


def test_server_down_then_replay(
    testviz: Testviz, closed_port_url: str, live_server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    testviz.pytester.makepyfile(test_one=FAILING)

    result = testviz.run(f"--testviz-url={closed_port_url}", *testviz.dir_args)

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output
    run_id = _run_id(result)
    assert testviz.pending() == [f"{run_id}.xml"]
    assert (testviz.directory / f"{run_id}.meta.json").is_file()
    result.stdout.fnmatch_lines(
        [
            f"testviz: could not send run {run_id}: "
            f"cannot reach {closed_port_url}: connection refused; *"
            f"send it later with: testviz replay {testviz.directory} --url {closed_port_url}"
        ]
    )

    capsys.readouterr()  # the session's own output
    assert main(["replay", str(testviz.directory), "--url", live_server]) == 0
    assert capsys.readouterr().out == f"replayed 1 of 1 reports from {testviz.directory}\n"
    assert testviz.pending() == []
    assert testviz.sent() == [f"{run_id}.xml"]

    assert main(["replay", str(testviz.directory), "--url", live_server]) == 0
    assert capsys.readouterr().out == f"nothing to replay in {testviz.directory}\n"
    (run,) = server_runs(live_server)
    assert run["run_id"] == run_id
    assert run["totals"]["failed"] == 1


def test_the_next_session_sends_the_backlog_first(
    testviz: Testviz, closed_port_url: str, live_server: str
) -> None:
    testviz.pytester.makepyfile(test_one=PASSING)
    earlier = _run_id(testviz.run(f"--testviz-url={closed_port_url}", *testviz.dir_args))
    assert testviz.pending() == [f"{earlier}.xml"]

    result = testviz.run(f"--testviz-url={live_server}", *testviz.dir_args)

    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["testviz: sent 1 earlier report(s) that were waiting"])
    later = [line for line in result.stdout.lines if line.startswith("testviz: run ")]
    assert len(later) == 1
    current = later[0].split()[2]
    newest_first = [run["run_id"] for run in server_runs(live_server)]
    assert newest_first == [current, earlier]
    assert testviz.pending() == []
    assert testviz.sent() == sorted([f"{earlier}.xml", f"{current}.xml"])


def test_a_refused_report_does_not_block_the_backlog(
    testviz: Testviz, closed_port_url: str, live_server: str
) -> None:
    testviz.pytester.makepyfile(test_one=PASSING)
    earlier = _run_id(testviz.run(f"--testviz-url={closed_port_url}", *testviz.dir_args))
    refused = testviz.directory / "0-not-a-report.xml"
    refused.write_text("this is not XML", encoding="utf-8")
    written = (testviz.directory / f"{earlier}.xml").stat().st_mtime_ns
    os.utime(refused, ns=(written - 10**9, written - 10**9))  # the oldest: tried first

    result = testviz.run(f"--testviz-url={live_server}", *testviz.dir_args)

    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["testviz: sent 1 earlier report(s) that were waiting"])
    assert earlier in {run["run_id"] for run in server_runs(live_server)}
    assert len(server_runs(live_server)) == 2
    assert testviz.pending() == [refused.name]  # kept: a person has to look at it


def test_sent_reports_are_pruned_to_keep(testviz: Testviz, live_server: str) -> None:
    testviz.pytester.makepyfile(test_one=PASSING)

    run_ids = [
        _run_id(testviz.run(f"--testviz-url={live_server}", *testviz.dir_args, "--testviz-keep=2"))
        for _ in range(3)
    ]

    assert len(server_runs(live_server)) == 3
    assert testviz.sent() == sorted(f"{run_id}.xml" for run_id in run_ids[1:])
    sidecars = sorted(path.name for path in (testviz.directory / "sent").glob("*.meta.json"))
    assert sidecars == sorted(f"{run_id}.meta.json" for run_id in run_ids[1:])


def test_pending_reports_are_never_pruned(testviz: Testviz, closed_port_url: str) -> None:
    testviz.pytester.makepyfile(test_one=PASSING)

    for _ in range(3):
        testviz.run(f"--testviz-url={closed_port_url}", *testviz.dir_args, "--testviz-keep=0")

    assert len(testviz.pending()) == 3
    assert len(list(testviz.directory.glob("*.meta.json"))) == 3


def test_replay_with_keep_zero_keeps_nothing_sent(
    testviz: Testviz, closed_port_url: str, live_server: str
) -> None:
    testviz.pytester.makepyfile(test_one=PASSING)
    testviz.run(f"--testviz-url={closed_port_url}", *testviz.dir_args)

    code = main(["replay", str(testviz.directory), "--url", live_server, "--keep", "0"])

    assert code == 0
    assert (testviz.pending(), testviz.sent()) == ([], [])
    assert len(server_runs(live_server)) == 1


def test_replay_of_a_missing_directory_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere"

    code = main(["replay", str(missing), "--url", "http://127.0.0.1:9"])

    assert code == 2
    assert capsys.readouterr().err == f"testviz replay: {missing}: not a directory\n"


def test_the_directory_is_ignored_by_git(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(test_one=PASSING)
    testviz.run(*testviz.dir_args)
    text = (testviz.directory / ".gitignore").read_text(encoding="utf-8")
    assert [line for line in text.splitlines() if line and not line.startswith("#")] == ["*"]
    if shutil.which("git") is None:
        pytest.skip("git is not installed: checked the .gitignore's content only")
    subprocess.run(["git", "init", "-q", str(testviz.pytester.path)], check=True)

    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=testviz.pytester.path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert "test_one.py" in status  # git sees the project's files...
    assert "reports/" not in status  # ...and none of the directory's, its .gitignore included


def test_an_unusable_directory_is_reported_not_raised(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(test_one=FAILING)
    testviz.directory.write_text("a file, not a directory", encoding="utf-8")

    result = testviz.run(*testviz.dir_args)

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    result.stdout.fnmatch_lines([f"testviz: could not write the report to {testviz.directory}: *"])


def test_reports_are_written_with_the_umasks_mode(testviz: Testviz) -> None:
    """As pytest's --junitxml writes them: not 0o600, which a container running as root
    would leave unreadable on the host's mounted volume."""
    testviz.pytester.makepyfile(test_one=PASSING)
    old = os.umask(0o022)
    try:
        testviz.run(*testviz.dir_args)
    finally:
        os.umask(old)

    (pending,) = testviz.pending()
    report = testviz.directory / pending
    for path in (report, report.with_name(pending.removesuffix(".xml") + ".meta.json")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    assert not [p.name for p in testviz.directory.iterdir() if p.name.endswith(".tmp")]
