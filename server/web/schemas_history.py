"""Response bodies of the visualizer's read API: overview, history, flaky tests, groups, diffs.

The pages render these same models, so a page never shows what the JSON API would not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from .schemas import Page, RunGroup, RunSummary, SignalOut, Status, Totals


class ProjectOut(BaseModel):
    name: str
    runs: int
    last_run_id: str
    last_ingested_at: datetime


class ProjectList(BaseModel):
    projects: list[ProjectOut]


class TrendPoint(BaseModel):
    run_id: str
    branch: str | None
    ingested_at: datetime
    tests: int
    failed: int
    errors: int
    skipped: int
    xfailed: int
    xpassed: int
    #: (passed + xpassed) / (passed + xpassed + failed + errors): skips and xfails are left
    #: out; None when no test passed or failed.
    pass_rate: float | None
    duration: float


class Trend(BaseModel):
    project: str | None
    branch: str | None
    points: list[TrendPoint]


class GroupSummary(BaseModel):
    fingerprint: str
    project: str
    error_type: str | None
    example_message: str | None
    occurrences: int
    runs_affected: int
    tests_affected: int
    first_seen_at: datetime
    last_seen_at: datetime
    first_run_id: str | None
    last_run_id: str | None


class GroupList(BaseModel):
    project: str | None
    groups: list[GroupSummary]
    pagination: Page


class GroupTest(BaseModel):
    test_id: str
    name: str
    classname: str
    occurrences: int
    last_run_id: str | None


class GroupOccurrence(BaseModel):
    run_id: str
    branch: str | None
    ingested_at: datetime
    test_id: str
    name: str
    message: str | None


class GroupDetail(GroupSummary):
    example_text: str | None
    tests: list[GroupTest]
    recent: list[GroupOccurrence]


class SignalItem(SignalOut):
    run_id: str
    project: str


class SignalList(BaseModel):
    project: str | None
    signals: list[SignalItem]
    pagination: Page


class Evidence(BaseModel):
    kind: Literal["rerun", "same_sha", "flip"]
    run_id: str
    ingested_at: datetime
    detail: dict[str, Any]


class FlakyTest(BaseModel):
    test_id: str
    name: str
    classname: str
    file: str | None
    owner: str | None
    #: Runs with evidence / runs of the test, within the window.
    score: float
    runs_in_window: int
    evidenced_runs: int
    flips: int
    #: Flips per run of the test within the window.
    flip_rate: float
    reruns: int
    same_sha: int
    evidence: list[Evidence]


class EnvSpecific(BaseModel):
    test_id: str
    name: str
    classname: str
    failing_envs: list[str]
    passing_envs: list[str]


class FlakyList(BaseModel):
    project: str | None
    window_runs: int
    tests: list[FlakyTest]
    env_specific: list[EnvSpecific]
    pagination: Page


class EnvOutcome(BaseModel):
    env: str | None
    outcome: Literal["pass", "fail"]
    #: The run from which the test has had this outcome in this environment.
    since_run_id: str | None


class TestOut(BaseModel):
    __test__ = False

    test_id: str
    project: str
    name: str
    base_name: str
    params: str | None
    classname: str
    file: str | None
    line: int | None
    owner: str | None
    owner_source: str | None
    tags: list[str]
    markers: list[str]
    source_hash: str | None
    first_seen_at: datetime
    last_seen_at: datetime


class LinkedTest(BaseModel):
    test_id: str
    name: str
    first_seen_at: datetime
    last_seen_at: datetime


class HistoryPoint(BaseModel):
    run_id: str
    test_id: str
    branch: str | None
    git_sha: str | None
    env_fingerprint: str | None
    ingested_at: datetime
    status: Status
    flaky: bool
    duration: float
    fingerprint: str | None
    message: str | None
    #: The test's subtests by outcome in that run (0 and 0 without subtests).
    subtests_failed: int
    subtests_passed: int


class TestFailureGroup(BaseModel):
    __test__ = False

    fingerprint: str
    error_type: str | None
    example_message: str | None
    occurrences: int
    last_run_id: str | None


class TestFlakiness(BaseModel):
    __test__ = False

    flaky: bool
    score: float
    runs_in_window: int
    flips: int
    flip_rate: float
    reruns: int
    same_sha: int
    environment_specific: bool
    environments: list[EnvOutcome]
    evidence: list[Evidence]


class TestHistory(BaseModel):
    __test__ = False

    test: TestOut
    linked: list[LinkedTest]
    history: list[HistoryPoint]
    failure_groups: list[TestFailureGroup]
    flakiness: TestFlakiness
    pagination: Page


class DiffItem(BaseModel):
    test_id: str
    name: str
    classname: str
    status: Status | None
    previous_status: Status | None
    message: str | None


class DiffSection(BaseModel):
    count: int
    tests: list[DiffItem]


class RunDiff(BaseModel):
    run_id: str
    previous_run_id: str | None
    new_failures: DiffSection
    fixed: DiffSection
    new_tests: DiffSection
    removed_tests: DiffSection


class Overview(BaseModel):
    project: str | None
    projects: list[ProjectOut]
    latest_by_branch: list[RunSummary]
    trend: list[TrendPoint]
    failure_groups: list[GroupSummary]
    flaky_count: int
    env_specific_count: int
    signals: list[SignalItem]


class SummaryTest(BaseModel):
    """A test in a summary's list: enough to name it, link it and annotate its line."""

    __test__ = False

    test_id: str
    name: str
    classname: str
    file: str | None
    line: int | None
    status: Status
    message: str | None
    #: The run it is from (in a build, the job).
    run_id: str


class SummaryList(BaseModel):
    #: How many there are; ``tests`` holds the first of them.
    count: int
    tests: list[SummaryTest]


class SummaryBase(BaseModel):
    """What the new failures and fixed tests are against: a run, with its build's other
    runs when it was one job of a build."""

    run_id: str
    branch: str | None
    build_id: str | None
    runs: int


class BuildOut(BaseModel):
    """A CI build: its runs (jobs), oldest first, and their totals together."""

    build_id: str
    project: str
    runs: list[RunSummary]
    totals: Totals
    flaky: int
    #: The runs' durations added up (the time the jobs spent testing, not the wall clock).
    duration: float
    branches: list[str]


class SummaryOut(BaseModel):
    """A run's (or a build's) summary: what a CI job shows where people look."""

    project: str
    run_id: str | None
    build_id: str | None
    branch: str | None
    git_sha: str | None
    runs: list[RunSummary]
    totals: Totals
    flaky: int
    duration: float
    #: ``None``: nothing to compare with, and ``new_failures`` and ``fixed`` are ``None`` too.
    base: SummaryBase | None
    new_failures: SummaryList | None
    fixed: SummaryList | None
    failures: SummaryList
    #: Tests that failed and then passed on a rerun, in this run (build).
    flaky_tests: SummaryList
    #: Failures quarantine absorbed; empty until quarantine exists.
    quarantined: SummaryList
    failure_groups: list[RunGroup]
