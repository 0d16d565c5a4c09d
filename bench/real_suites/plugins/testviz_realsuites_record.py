"""What pytest itself said about every test: the judge that ``bench/real_suites.py`` holds
the stored run against.

Loaded with ``-p testviz_realsuites_record`` (this folder on ``PYTHONPATH``); writes JSON to
the path in ``TESTVIZ_REALSUITES_RECORD``. For each report it asks pytest's own
``pytest_report_teststatus`` hook for the category, exactly as the terminal reporter does
before it counts the report in the summary line, so the recording says what pytest says and
not what this file thinks. At the end it also writes the terminal reporter's own counts, so
the harness can check the recording against them.

Under pytest-xdist it records only on the controller: the workers' reports arrive there.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ENV = "TESTVIZ_REALSUITES_RECORD"
#: How much of a subtest's description (its message and keyword arguments) is kept.
DESCRIPTION_CHARS = 200
#: The subtest categories pytest-rerunfailures removes from the summary for a rerun attempt.
SUPERSEDED_CATEGORIES = ("failed", "subtests passed")


def _is_subtest(report: pytest.TestReport) -> bool:
    """pytest 9's ``SubtestReport`` (and pytest-subtests' ``SubTestReport``)."""
    return type(report).__name__ in ("SubtestReport", "SubTestReport")


def _subtest_description(report: pytest.TestReport) -> str:
    describe = getattr(report, "_sub_test_description", None)
    text = describe() if callable(describe) else ""
    return str(text)[:DESCRIPTION_CHARS]


class Recording:
    """Every report pytest logged, by node id, with the category pytest counted it under."""

    def __init__(self, config: pytest.Config, path: Path) -> None:
        self.config = config
        self.path = path
        self.tests: dict[str, dict[str, Any]] = {}
        #: Categories as this recording counted them (reports that count towards the summary).
        self.counts: Counter[str] = Counter()

    def _test(self, nodeid: str) -> dict[str, Any]:
        return self.tests.setdefault(nodeid, {"reports": [], "subtests": []})

    def _category(self, report: pytest.TestReport | pytest.CollectReport) -> str:
        status = self.config.hook.pytest_report_teststatus(report=report, config=self.config)
        return str(status[0]) if status else ""

    def _count(self, report: Any, category: str) -> None:
        if category and getattr(report, "count_towards_summary", True):
            self.counts[category] += 1

    # trylast: after the terminal reporter and the plugin under test, so that neither sees a
    # report this hook call has touched (pytest's subtests hook marks a test with failed
    # subtests failed while it answers).
    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        category = self._category(report)
        self._count(report, category)
        test = self._test(report.nodeid)
        if _is_subtest(report):
            outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
            test["subtests"].append([outcome, category, _subtest_description(report)])
        else:
            test["reports"].append([report.when, report.outcome, category])
            if category == "rerun":
                self._supersede_subtests(test)

    def _supersede_subtests(self, test: dict[str, Any]) -> None:
        """An attempt that will be run again: its subtests are not the test's any more.

        pytest-rerunfailures takes that attempt's failed and passed subtest reports back out
        of the terminal reporter's counts; so does the recording, and keeps them apart.
        """
        for subtest in test["subtests"]:
            if subtest[1] in SUPERSEDED_CATEGORIES:
                self.counts[subtest[1]] -= 1
        test.setdefault("superseded_subtests", []).extend(test["subtests"])
        test["subtests"] = []

    @pytest.hookimpl(trylast=True)
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # As the terminal reporter counts them: a failed collector is an error, a skipped one
        # (``pytest.skip(allow_module_level=True)``) a skip; a collected one is not a test.
        if report.failed:
            category = "error"
        elif report.skipped:
            category = "skipped"
        else:
            return
        self._count(report, category)
        self._test(report.nodeid)["reports"].append(["collect", report.outcome, category])

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        body = {
            "exitstatus": int(exitstatus),
            "tests": self.tests,
            "counts": {key: count for key, count in self.counts.items() if count},
            "terminal_counts": self._terminal_counts(),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(body), encoding="utf-8")

    def _terminal_counts(self) -> dict[str, int]:
        """The terminal reporter's own tally, as its summary line shows it."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        stats: dict[str, list[Any]] = getattr(reporter, "stats", {}) or {}
        return {
            key: sum(1 for item in items if getattr(item, "count_towards_summary", True))
            for key, items in stats.items()
            if key
        }


def pytest_configure(config: pytest.Config) -> None:
    path = os.environ.get(ENV)
    if not path or hasattr(config, "workerinput"):
        return  # not asked to record, or an xdist worker (the controller records)
    config.pluginmanager.register(Recording(config, Path(path)), "testviz-realsuites-record")
