"""Subtests under pytest-rerunfailures: an attempt's subtests are reported before its setup.

pytest-rerunfailures holds an attempt's setup, call and teardown reports back until the attempt
is over, while subtests are reported as they run: each attempt's subtests arrive between the
previous attempt's teardown and this attempt's setup.
"""

from __future__ import annotations

import pytest

from pytest_testviz.core import parse_junit_xml

from .conftest import Testviz

pytest.importorskip("pytest_rerunfailures")

SUBTESTS = """
import pathlib

def test_always(subtests):
    with subtests.test(msg="a"):
        assert 0, "boom"
    with subtests.test(msg="b"):
        pass

def test_second_time(subtests):
    tried = pathlib.Path(__file__).with_name("tried-once")
    with subtests.test(msg="a"):
        if not tried.exists():
            tried.write_text("yes")
            assert 0, "only the first time"
    with subtests.test(msg="b"):
        pass
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["plain", "xdist"])
def test_the_final_attempts_subtests_are_kept(testviz: Testviz, workers: list[str]) -> None:
    testviz.pytester.makepyfile(test_subtests=SUBTESTS)

    testviz.run(*testviz.dir_args, "--reruns", "2", *workers)

    (report,) = testviz.directory.glob("*.xml")
    results = {r.name: r for r in parse_junit_xml(report).results}
    always, second = results["test_always"], results["test_second_time"]
    assert (always.status, always.flaky) == ("failed", False)
    assert (always.subtests_failed, always.subtests_passed) == (1, 1)
    assert (always.message or "").startswith("AssertionError: boom")
    assert always.fingerprint is not None
    assert [a.message for a in always.attempts] == ["AssertionError: boom\nassert 0"] * 2
    assert (second.status, second.flaky) == ("passed", True)
    assert (second.subtests_failed, second.subtests_passed) == (0, 2)
    assert [a.message for a in second.attempts] == ["AssertionError: only the first time\nassert 0"]
