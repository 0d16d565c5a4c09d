"""pytest-rerunfailures: a test that passes on a rerun is flaky, one that never passes is not."""

from __future__ import annotations

import pytest

from pytest_testviz.core import parse_junit_xml

from .conftest import Testviz, only_run

pytest.importorskip("pytest_rerunfailures")

FLAKY = """
import pathlib

def test_flaky():
    tried = pathlib.Path(__file__).with_name("tried-once")
    if not tried.exists():
        tried.write_text("yes")
        assert False, "the first attempt fails"

def test_broken():
    assert False, "every attempt fails"

def test_steady():
    pass
"""


def test_reruns_are_one_test_with_attempts(testviz: Testviz, live_server: str) -> None:
    testviz.pytester.makepyfile(test_flaky=FLAKY)

    result = testviz.run(f"--testviz-url={live_server}", *testviz.dir_args, "--reruns", "2")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert result.parseoutcomes() == {"failed": 1, "passed": 2, "rerun": 3}
    (sent,) = (testviz.directory / "sent").glob("*.xml")
    written = {r.name: r for r in parse_junit_xml(sent).results}
    assert set(written) == {"test_flaky", "test_broken", "test_steady"}
    flaky, broken = written["test_flaky"], written["test_broken"]
    assert (flaky.status, flaky.flaky) == ("passed", True)
    assert [a.status for a in flaky.attempts] == ["failed"]
    assert "the first attempt fails" in (flaky.attempts[0].message or "")
    assert (broken.status, broken.flaky) == ("failed", False)
    assert "every attempt fails" in (broken.message or "")
    assert (written["test_steady"].status, written["test_steady"].flaky) == ("passed", False)

    run = only_run(live_server)
    stored = {r["name"]: (r["status"], r["flaky"]) for r in run["results"]}
    assert stored == {
        "test_flaky": ("passed", True),
        "test_broken": ("failed", False),
        "test_steady": ("passed", False),
    }
    assert run["flaky"] == 1


PHASES = """
import pathlib

import pytest

def first_time(name):
    tried = pathlib.Path(__file__).with_name(name)
    if tried.exists():
        return False
    tried.write_text("yes")
    return True

@pytest.fixture
def breaks_in_teardown():
    yield
    raise RuntimeError("teardown broke")

@pytest.fixture
def setup_breaks_once():
    if first_time("setup-tried"):
        raise RuntimeError("setup broke once")

def test_fails_and_breaks_teardown(breaks_in_teardown):
    assert False, "the call fails every time"

def test_setup_flaky(setup_breaks_once):
    pass

def test_always_errors_in_teardown(breaks_in_teardown):
    pass
"""


def test_reruns_of_setup_and_teardown_failures(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(test_phases=PHASES)

    result = testviz.run(*testviz.dir_args, "--reruns", "1")

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    (report,) = testviz.directory.glob("*.xml")
    written = {r.name: r for r in parse_junit_xml(report).results}
    assert {name: (r.status, r.flaky) for name, r in written.items()} == {
        "test_fails_and_breaks_teardown": ("failed", False),
        "test_setup_flaky": ("passed", True),
        "test_always_errors_in_teardown": ("error", False),
    }
    # One earlier attempt each: a failed call and its broken teardown are one attempt.
    assert {name: len(r.attempts) for name, r in written.items()} == {
        "test_fails_and_breaks_teardown": 1,
        "test_setup_flaky": 1,
        "test_always_errors_in_teardown": 1,
    }
    assert "setup broke once" in (written["test_setup_flaky"].attempts[0].message or "")
