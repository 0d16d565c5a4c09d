"""A whole session with ``--testviz-url``: what reaches the server, the files, the summary."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from lxml import etree
from sqlalchemy import func, select

from pytest_testviz.core import parse_junit_xml
from pytest_testviz.spool import GITIGNORE
from server.storage.db import db
from server.storage.models import Run
from tests.server.helpers import serving

from .conftest import Testviz, only_run, server_runs

#: One of every outcome pytest has, as pytest's own JUnit writer reports them.
EVERY_OUTCOME = """
import pytest

def test_pass():
    pass

def test_fail():
    assert 1 == 2

def test_skip():
    pytest.skip("not today")

@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert False

@pytest.mark.xfail(reason="fixed already")
def test_xpass():
    pass

@pytest.mark.xfail(reason="must fail", strict=True)
def test_xpass_strict():
    pass

@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    assert n

class TestGroup:
    def test_method(self):
        pass

@pytest.fixture
def broken_setup():
    raise RuntimeError("setup broke")

def test_setup_error(broken_setup):
    pass

@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown broke")

def test_teardown_error(broken_teardown):
    pass

def test_fail_and_teardown_error(broken_teardown):
    assert 0
"""

EXPECTED = {
    ("test_outcomes", "test_pass"): "passed",
    ("test_outcomes", "test_fail"): "failed",
    ("test_outcomes", "test_skip"): "skipped",
    ("test_outcomes", "test_xfail"): "xfailed",
    ("test_outcomes", "test_xpass"): "xpassed",
    ("test_outcomes", "test_xpass_strict"): "failed",
    ("test_outcomes", "test_param[1]"): "passed",
    ("test_outcomes", "test_param[2]"): "passed",
    ("test_outcomes.TestGroup", "test_method"): "passed",
    ("test_outcomes", "test_setup_error"): "error",
    ("test_outcomes", "test_teardown_error"): "error",
    ("test_outcomes", "test_fail_and_teardown_error"): "failed",
}

XSD = Path(__file__).with_name("junit-10.xsd")

#: Output with what XML 1.0 cannot hold (ESC) and what it must escape.
OUTPUT = """
def test_output():
    import sys
    print("out \\x1b[0m <&> ]]>")
    sys.stderr.write("err")
"""


def test_every_outcome_reaches_the_server_once(testviz: Testviz, live_server: str) -> None:
    testviz.pytester.makepyfile(test_outcomes=EVERY_OUTCOME)

    result = testviz.run(f"--testviz-url={live_server}", *testviz.dir_args)

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=5, failed=3, skipped=1, xfailed=1, xpassed=1, errors=3)
    run = only_run(live_server)
    stored = {(r["classname"], r["name"]): r["status"] for r in run["results"]}
    assert stored == EXPECTED
    assert run["totals"] == {
        "tests": 12,
        "passed": 4,
        "failed": 3,
        "errors": 2,
        "skipped": 1,
        "xfailed": 1,
        "xpassed": 1,
        "subtests_failed": 0,
        "subtests_passed": 0,
    }
    # The server answered 202 once the upload was stored; its ingest thread did the rest.
    result.stdout.fnmatch_lines(
        [f"testviz: run {run['run_id']} queued: {live_server}/runs/{run['run_id']}"]
    )
    assert testviz.pending() == []
    assert testviz.sent() == [f"{run['run_id']}.xml"]
    assert (testviz.directory / "sent" / f"{run['run_id']}.meta.json").is_file()
    assert (testviz.directory / ".gitignore").read_text(encoding="utf-8") == GITIGNORE


SUBTESTS = """
import unittest

def test_sub(subtests):
    for i in range(4):
        with subtests.test(msg="case", i=i):
            assert i % 2 == 0, f"odd {i}"

def test_all_pass(subtests):
    with subtests.test(msg="only"):
        pass

class TestUnit(unittest.TestCase):
    def test_u(self):
        for i in range(3):
            with self.subTest(i=i):
                self.assertEqual(i, 0)
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["plain", "xdist"])
def test_each_failed_subtest_is_kept_and_counted(
    testviz: Testviz, live_server: str, workers: list[str]
) -> None:
    testviz.pytester.makepyfile(test_subtests=SUBTESTS)

    result = testviz.run(f"--testviz-url={live_server}", *testviz.dir_args, *workers)

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    run = only_run(live_server)
    stored = {
        r["name"]: (r["status"], r["subtests_failed"], r["subtests_passed"]) for r in run["results"]
    }
    assert stored == {
        "test_sub": ("failed", 2, 2),
        "test_all_pass": ("passed", 0, 1),
        "test_u": ("failed", 2, 1),
    }
    (sub,) = [r for r in run["results"] if r["name"] == "test_sub"]
    assert sub["message"].splitlines()[0] == "AssertionError: odd 1"
    assert "AssertionError: odd 3" in sub["message"]
    assert "contains 2 failed subtests" not in sub["message"]
    totals = run["totals"]
    assert (totals["failed"], totals["passed"], totals["subtests_failed"]) == (2, 1, 4)
    assert totals["subtests_passed"] == 4


def test_an_older_server_that_ignores_prefer_answers_200(
    testviz: Testviz, make_app: Callable[..., Flask]
) -> None:
    """A server without the queue (or with TESTVIZ_ASYNC_INGEST=false) stores the run first."""
    testviz.pytester.makepyfile(test_outcomes=EVERY_OUTCOME)
    app = make_app(async_ingest=False)

    with serving(app) as url:
        result = testviz.run(f"--testviz-url={url}", *testviz.dir_args)

    result.stdout.fnmatch_lines(["testviz: run * created: http://127.0.0.1:*/runs/*"])
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Run)).scalar() == 1


def test_fail_then_teardown_error_is_one_failed_test(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(test_outcomes=EVERY_OUTCOME)

    testviz.run(*testviz.dir_args, "-k", "fail_and_teardown")

    (report,) = testviz.directory.glob("*.xml")
    (test,) = parse_junit_xml(report).results
    assert (test.name, test.status) == ("test_fail_and_teardown_error", "failed")
    assert "teardown broke" in (test.system_err or "")  # kept, outside the fingerprint


def test_the_report_is_valid_junit(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(
        test_outcomes=EVERY_OUTCOME + OUTPUT,
        test_subtests=SUBTESTS,
        test_broken="import a_module_that_does_not_exist\n",
        test_skipped="import pytest\n\npytest.skip('elsewhere', allow_module_level=True)\n",
    )
    schema = etree.XMLSchema(etree.parse(str(XSD)))

    testviz.run(*testviz.dir_args, "--continue-on-collection-errors")

    (report,) = testviz.directory.glob("*.xml")
    document = etree.parse(str(report), etree.XMLParser(resolve_entities=False, no_network=True))
    schema.assertValid(document)
    suite = document.getroot().find("testsuite")
    assert suite is not None
    assert suite.get("tests") == str(len(suite.findall("testcase"))) == "18"
    (sub,) = suite.findall("testcase[@name='test_sub']")
    assert [f.get("message") for f in sub.findall("failure")] == [
        "AssertionError: odd 1\nassert (1 % 2) == 0",
        "AssertionError: odd 3\nassert (3 % 2) == 0",
    ]
    (xfail,) = suite.findall("testcase[@name='test_xfail']/skipped")
    assert (xfail.get("type"), xfail.get("message")) == ("pytest.xfail", "known bug")
    (output,) = suite.findall("testcase[@name='test_output']")
    assert output.findtext("system-out") == "out #x1B[0m <&> ]]>\n"
    assert output.findtext("system-err") == "err"


def test_a_directory_without_url_writes_the_report_only(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(test_one="def test_one():\n    pass\n")

    result = testviz.run(*testviz.dir_args)

    assert result.ret == pytest.ExitCode.OK
    (pending,) = testviz.pending()
    result.stdout.fnmatch_lines([f"testviz: report written to {testviz.directory / pending}"])
    assert testviz.sent() == []


def test_a_module_that_fails_to_import_is_an_error_result(
    testviz: Testviz, live_server: str
) -> None:
    testviz.pytester.makepyfile(
        test_broken="import a_module_that_does_not_exist\n\ndef test_never():\n    pass\n",
        test_fine="def test_fine():\n    pass\n",
    )

    result = testviz.run(f"--testviz-url={live_server}", *testviz.dir_args)

    assert result.ret == pytest.ExitCode.INTERRUPTED  # pytest's own verdict, unchanged
    run = only_run(live_server)
    (error,) = run["results"]
    assert (error["classname"], error["name"], error["status"]) == ("", "test_broken", "error")
    assert error["message"] == "collection failure"  # worded as pytest's --junitxml words it
    (sent,) = (testviz.directory / "sent").glob("*.xml")
    (parsed,) = parse_junit_xml(sent).results
    assert "a_module_that_does_not_exist" in (parsed.text or "")  # the traceback says why


def test_collection_errors_and_tests_together(testviz: Testviz, live_server: str) -> None:
    testviz.pytester.makepyfile(
        test_broken="raise RuntimeError('cannot even import')\n",
        test_fine="def test_fine():\n    pass\n",
    )

    result = testviz.run(
        f"--testviz-url={live_server}", *testviz.dir_args, "--continue-on-collection-errors"
    )

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    stored = {r["name"]: r["status"] for r in only_run(live_server)["results"]}
    assert stored == {"test_broken": "error", "test_fine": "passed"}


def test_collect_only_sends_and_writes_nothing(testviz: Testviz, live_server: str) -> None:
    """IDEs run ``--collect-only`` on every save: that is not a test run."""
    testviz.pytester.makepyfile(test_one="def test_one():\n    pass\n")

    result = testviz.run(f"--testviz-url={live_server}", *testviz.dir_args, "--collect-only")

    assert result.ret == pytest.ExitCode.OK
    assert server_runs(live_server) == []
    assert testviz.pending() == testviz.sent() == []
    assert "testviz:" not in result.stdout.str()


def test_captured_output_is_kept_up_to_max_output(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(
        test_loud='def test_loud():\n    print("x" * 500)\n\ndef test_quiet():\n    print("hi")\n'
    )

    testviz.run(*testviz.dir_args, "--testviz-max-output=100")

    (report,) = testviz.directory.glob("*.xml")
    out = {r.name: r.system_out for r in parse_junit_xml(report).results}
    assert out["test_quiet"] == "hi\n"
    assert out["test_loud"] is not None
    assert out["test_loud"].startswith("x" * 100 + "\n[testviz: 401 more characters cut]")


def test_a_module_skipped_whole_is_a_skipped_result(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(
        test_needs="import pytest\n\npytest.importorskip('a_module_that_is_not_installed')\n"
    )

    result = testviz.run(*testviz.dir_args)

    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    (report,) = testviz.directory.glob("*.xml")
    (skipped,) = parse_junit_xml(report).results
    assert (skipped.classname, skipped.name, skipped.status) == ("", "test_needs", "skipped")
    assert "a_module_that_is_not_installed" in (skipped.message or "")


MARKED = """
import pytest

@pytest.mark.testviz(owner="team-search", tags="ranking")
def test_one_tag():
    pass

@pytest.mark.testviz(tags=("ranking", "api"))
@pytest.mark.smoke
@pytest.mark.parametrize("n", [1])
def test_tags_and_markers(n):
    assert n == 1
"""


def test_owner_tags_and_markers_reach_the_sidecar(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(test_marked=MARKED)
    testviz.pytester.makeini("[pytest]\nmarkers =\n    smoke: quick checks\n")

    testviz.run(*testviz.dir_args)

    (report,) = testviz.directory.glob("*.xml")
    results = {r.name: r for r in parse_junit_xml(report).results}
    one, many = results["test_one_tag"], results["test_tags_and_markers[1]"]
    assert (one.owner, one.tags) == ("team-search", ["ranking"])
    assert many.tags == ["api", "ranking", "smoke"]  # runner markers (parametrize) are no tags
    assert many.markers == ["parametrize", "smoke", "testviz"]
    assert one.source_hash is not None
    assert many.source_hash is not None
    assert one.source_hash != many.source_hash  # the bodies differ
