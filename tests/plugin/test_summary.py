"""The plugin's summary: written to GitHub's step summary and to ``--testviz-summary``, from
the server's answer or, without one, from the run itself (and saying so); never changing
the exit status; written once under xdist; no cost to a run that does not ask for it."""

from __future__ import annotations

import json
import re

import pytest

from pytest_testviz.cli import main

from .conftest import FakeServer, Testviz, server_run

MIXED = """
import pytest

def test_passes():
    pass

def test_fails():
    assert 1 == 2, "totals | differ <b>"

@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    assert n == 1
"""


def _sections(text: str) -> int:
    """How many summaries ``text`` holds (each starts with one level-2 heading)."""
    return len(re.findall(r"^## ", text, re.M))


def test_summary_file_from_the_run_itself(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(test_mixed=MIXED)

    result = testviz.run("--testviz-summary=summary.md", *testviz.dir_args)

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    text = (testviz.pytester.path / "summary.md").read_text(encoding="utf-8")
    assert _sections(text) == 1
    assert "2 of 4 tests failed" in text
    assert "| 4 | 2 | 2 |" in text  # tests, passed, failed
    assert "### Failures (2)" in text
    assert "test\\_mixed\\:\\:test\\_fails: AssertionError\\: totals \\| differ &lt;b&gt;" in text
    assert "test\\_param\\[2\\]" in text
    assert "Not compared with an earlier run." in text
    assert "[!WARNING]" not in text  # no server was asked: nothing went wrong
    result.stdout.fnmatch_lines(["testviz: summary written to *summary.md"])


def test_summary_file_alone_switches_the_plugin_on(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(test_ok="def test_ok():\n    pass\n")
    testviz.monkeypatch.setenv("TESTVIZ_SUMMARY", "out/summary.md")
    (testviz.pytester.path / "out").mkdir()

    result = testviz.run()

    assert result.ret == pytest.ExitCode.OK
    text = (testviz.pytester.path / "out" / "summary.md").read_text(encoding="utf-8")
    assert ":white_check_mark:" in text
    assert "1 of 1 tests passed" in text


def test_summary_file_is_replaced(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(test_ok="def test_ok():\n    pass\n")
    target = testviz.pytester.path / "summary.md"
    target.write_text("an older summary\n", encoding="utf-8")

    testviz.run(f"--testviz-summary={target}", *testviz.dir_args)

    text = target.read_text(encoding="utf-8")
    assert "an older summary" not in text
    assert _sections(text) == 1


def test_github_step_summary_is_appended_to(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(test_mixed=MIXED)
    step = testviz.pytester.path / "step_summary.md"
    step.write_text("# Another tool's summary\n", encoding="utf-8")
    testviz.monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))

    result = testviz.run(*testviz.dir_args)

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    text = step.read_text(encoding="utf-8")
    assert text.startswith("# Another tool's summary\n\n## :x: ")
    assert "### Failures (2)" in text
    result.stdout.fnmatch_lines(["testviz: summary written to $GITHUB_STEP_SUMMARY"])


def test_github_step_summary_and_a_file_both(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(test_ok="def test_ok():\n    pass\n")
    step = testviz.pytester.path / "step_summary.md"
    testviz.monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))

    testviz.run("--testviz-summary=mine.md", *testviz.dir_args)

    mine = (testviz.pytester.path / "mine.md").read_text(encoding="utf-8")
    assert step.read_text(encoding="utf-8") == mine


def test_no_summary_where_githubs_limit_is_reached(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(test_ok="def test_ok():\n    pass\n")
    step = testviz.pytester.path / "step_summary.md"
    step.write_text("x" * (1024 * 1024 - 100), encoding="utf-8")
    testviz.monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))

    result = testviz.run(*testviz.dir_args)

    assert result.ret == pytest.ExitCode.OK
    assert step.stat().st_size == 1024 * 1024 - 100
    result.stdout.fnmatch_lines(["testviz: no summary written to $GITHUB_STEP_SUMMARY: *1 MiB*"])


def test_server_unreachable_summary_says_so(testviz: Testviz, closed_port_url: str) -> None:
    testviz.pytester.makepyfile(test_mixed=MIXED)

    result = testviz.run(
        f"--testviz-url={closed_port_url}", "--testviz-summary=summary.md", *testviz.dir_args
    )

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    text = (testviz.pytester.path / "summary.md").read_text(encoding="utf-8")
    assert "> [!WARNING]" in text
    assert "This run did not reach the server (cannot reach http\\://127.0.0.1" in text
    assert "this run's own results, not compared with earlier runs" in text
    assert "### Failures (2)" in text
    # Links to where the run will be, once it is sent (the report waits in the directory).
    assert f"({closed_port_url}/runs/" in text
    result.stdout.fnmatch_lines(["testviz: This run did not reach the server *"])


@pytest.mark.parametrize(
    "body", ["import a_module_that_does_not_exist\n", "def test_no():\n    assert False\n"]
)
def test_a_summary_that_cannot_be_written_leaves_the_exit_status(
    testviz: Testviz, body: str
) -> None:
    testviz.pytester.makepyfile(test_it=body)
    without = testviz.run()  # the plugin off

    result = testviz.run("--testviz-summary=no/such/dir/summary.md", *testviz.dir_args)

    assert result.ret == without.ret
    result.stdout.fnmatch_lines(
        ["testviz: could not write the summary to */no/such/dir/summary.md: No such file*"]
    )


def test_the_summary_never_changes_the_exit_status(testviz: Testviz, closed_port_url: str) -> None:
    testviz.pytester.makepyfile(test_ok="def test_ok():\n    pass\n")

    result = testviz.run(
        f"--testviz-url={closed_port_url}", "--testviz-summary=summary.md", *testviz.dir_args
    )

    assert result.ret == pytest.ExitCode.OK


def test_under_xdist_only_the_controller_writes(testviz: Testviz) -> None:
    pytest.importorskip("xdist")
    testviz.pytester.makepyfile(test_mixed=MIXED)
    step = testviz.pytester.path / "step_summary.md"
    testviz.monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))

    result = testviz.run_subprocess("-n", "2", "--testviz-summary=summary.md", *testviz.dir_args)

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    for path in (step, testviz.pytester.path / "summary.md"):
        text = path.read_text(encoding="utf-8")
        assert _sections(text) == 1
        assert "| 4 | 2 | 2 |" in text


def test_a_run_that_does_not_ask_does_not_load_the_summary(testviz: Testviz) -> None:
    testviz.pytester.makeconftest(
        """
        import sys

        def pytest_unconfigure(config):
            loaded = sorted(name for name in sys.modules if name.startswith("pytest_testviz.sum"))
            print("summary modules:", loaded)
        """
    )
    testviz.pytester.makepyfile(test_ok="def test_ok():\n    pass\n")

    quiet = testviz.run_subprocess("-s", *testviz.dir_args)
    asked = testviz.run_subprocess("-s", "--testviz-summary=s.md", *testviz.dir_args)

    quiet.stdout.fnmatch_lines(["summary modules: []"])
    asked.stdout.fnmatch_lines(["summary modules: [[]*'pytest_testviz.summary.job'*"])


def test_the_summary_is_the_servers_after_the_upload(testviz: Testviz, working_server: str) -> None:
    """Against the previous run of the branch: the second run's new failure and fixed test."""
    args = (f"--testviz-url={working_server}", "--testviz-summary=summary.md", *testviz.dir_args)
    testviz.pytester.makepyfile(test_it="def test_a():\n    pass\ndef test_b():\n    assert 0\n")
    testviz.run_subprocess(*args)
    testviz.pytester.makepyfile(test_it="def test_a():\n    assert 0\ndef test_b():\n    pass\n")

    result = testviz.run_subprocess(*args, "--testviz-build=ci-77")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    text = (testviz.pytester.path / "summary.md").read_text(encoding="utf-8")
    assert "[!WARNING]" not in text
    assert "Compared with run [" in text
    assert "### New failures (1)" in text
    assert "test\\_it\\:\\:test\\_a" in text
    assert "### Fixed (1)" in text
    assert f"one job of build [ci-77]({working_server}/builds/ci-77?project=" in text
    (run_id,) = [line for line in result.stdout.lines if line.startswith("testviz: run ")]
    run = server_run(working_server, run_id.split()[2])
    assert run["build_id"] == "ci-77"


def test_the_build_id_is_in_the_sidecar(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(test_ok="def test_ok():\n    pass\n")
    testviz.monkeypatch.setenv("GITHUB_RUN_ID", "9001")
    testviz.monkeypatch.setenv("GITHUB_RUN_ATTEMPT", "2")

    testviz.run(*testviz.dir_args)

    (meta,) = testviz.directory.glob("*.meta.json")
    assert json.loads(meta.read_text(encoding="utf-8"))["build_id"] == "9001-2"


# -- testviz summary: what it refuses ------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["r1", "--build", "b1", "--url", "http://x"], "give a RUN_ID or --build ID, not both"),
        (["--build", "a\x01b", "--url", "http://x"], "expected a printable id of 1 to 200"),
        (["r1", "--url", "ftp://x"], "expected an http:// or https:// URL"),
        (["r1", "--url", "http://x", "--format", "html"], "invalid choice: 'html'"),
        (["r1", "--url", "http://x", "--max-annotations", "-1"], "a whole number >= 0"),
        (["r1"], "the following arguments are required: --url"),
        (["  ", "--url", "http://x"], "expected a non-empty value"),
    ],
)
def test_cli_bad_input_is_a_usage_error(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["summary", *args])

    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_cli_unreachable_server_is_a_failure(
    closed_port_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["summary", "r1", "--url", closed_port_url, "--timeout", "5"])

    captured = capsys.readouterr()
    assert status == 1
    assert captured.out == ""
    assert captured.err == (
        f"testviz summary: cannot reach {closed_port_url}: connection refused\n"
    )


def test_cli_an_answer_that_is_not_a_summary_is_a_failure(
    deep_json_server: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["summary", "r1", "--url", deep_json_server.url])

    assert status == 1
    assert "the answer is not JSON" in capsys.readouterr().err
