"""Visualizer benchmark (issue 5, "Speed at scale"): every page and API endpoint on a big history.

Seeds a SQLite database with a realistic, deterministic history -- by default 1,000 runs of
a 5,000-test suite (about 5 million results) plus a small second project -- through the
server's own ingest service (``ingest_run``, then the post-ingest analysis -- owner mapping and
the integrity check -- run by ``--analysers`` other processes while the next runs are
ingested, as the server's background analysis does). Then it serves that database with
``gunicorn 'server:create_app()'`` (one sync worker, on 127.0.0.1, in a child process) and
requests every visualizer page and every GET operation of the served OpenAPI document
repeatedly, with parameters picked from the data, and prints p50 and p95 per endpoint.

Target (from the issue): p95 under 200 ms for every endpoint, on SQLite, on this machine. A
missed target is printed, never asserted: the script always exits 0.

    python bench/visualizer_bench.py                       # seed if needed, then measure
    python bench/visualizer_bench.py --runs 60 --tests 800 --db bench/out/viz-small.sqlite
    python bench/visualizer_bench.py --seed-only           # only make sure the database exists
    python bench/visualizer_bench.py --repeat 50 --json bench/out/viz.json

The database (``--db``, default ``bench/out/viz.sqlite``) is kept. A later run reuses it when
the seed parameters stored in ``<db>.json`` beside it match (``--runs``, ``--tests``,
``--seed``, the generator version, and the schema: the migration head and a hash of the
models' tables), with a warning when the server's code has changed since. An interrupted
seeding is resumed; different parameters (or ``--reseed``) start a new one.

The history (per project: runs in time order on branches, commits and environments):

* ``acme-shop``: ``--runs`` runs of about ``--tests`` tests in ~``tests/20`` classes/modules,
  parametrised functions (``test_x[a-1]``) sharing a ``source_hash``; the suite grows by ~8 %
  over the history (new functions) and loses a few (removed functions); a handful of tests
  are renamed (new name, same ``source_hash``, the old name disappears); one run on ``main``
  loses 12 % of its tests (a collection problem), so the integrity check's count-drop fires.
* ``acme-cli``: a small project (``runs/20`` runs of ``tests/20`` tests), so that the
  ``project`` filter has something to filter out.
* branches: ``main`` (about 75 % of the runs) and up to 20 feature branches, each a short burst
  of runs; git shas advance per commit, and about one commit in four is run 2-3 times (a
  re-run, or another environment of the matrix).
* environments: ``py3.12-linux`` (60 %), ``py3.11-linux`` (25 %), ``py3.12-macos`` (15 %),
  each with an ``env`` dict.
* outcomes: about 1 % of the tests fail per run (0.93 % at full size), mostly in
  regressions that hit a cluster of related tests for a few to 25 runs (on ``main``, or on
  one feature branch), drawn from 40
  recurring failure kinds (assertions, KeyError, timeouts, refused connections, missing files,
  AttributeError, dict diffs, fixture errors in setup) whose incidental details (addresses,
  temporary paths, durations, pids) vary from run to run while the fingerprint recurs; a
  couple of tests always fail; 0.5 % of the tests are flaky -- failing at random in 20 % of
  the runs, or passing only after a rerun (``flaky``, status passed) -- five tests fail only
  under one environment; about 3 % are skipped (some only on macOS). Durations are lognormal
  per test, with 1 % slow tests (2-30 s).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import math
import os
import platform
import random
import signal
import sqlite3
import sys
import time
import traceback
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(1, str(REPO))  # the checkout's server/, pytest_testviz/ and tests/

import requests  # noqa: E402
from _gen import _LAYERS, _NOUNS, _PACKAGES, _PARAM_WORDS, _SKIP_REASONS, _VERBS  # noqa: E402
from _stats import percentile  # noqa: E402
from ingest_bench import cpu_seconds, vm_hwm_mib  # noqa: E402

from pytest_testviz.core import Attempt, DeclaredTotals, Report, RunInfo, TestResult, Totals  # noqa: E402
from pytest_testviz.core import test_id as make_test_id  # noqa: E402
from pytest_testviz.core.report import build_result  # noqa: E402
from tests.server.gunicorn_server import Gunicorn, running_gunicorn  # noqa: E402

#: Bump when the generated history changes: a database seeded by another version is redone.
GENERATOR_VERSION = 1
TARGET_MS = 200.0
MAIN_PROJECT = "acme-shop"
SIDE_PROJECT = "acme-cli"
ENVS: dict[str, dict[str, str]] = {
    "py3.12-linux": {"python": "3.12.7", "os": "linux", "arch": "x86_64", "image": "ubuntu-24.04"},
    "py3.11-linux": {"python": "3.11.10", "os": "linux", "arch": "x86_64", "image": "ubuntu-22.04"},
    "py3.12-macos": {"python": "3.12.7", "os": "darwin", "arch": "arm64", "image": "macos-14"},
}
ENV_WEIGHTS = (0.60, 0.25, 0.15)
MACOS = "py3.12-macos"
HISTORY_START = datetime(2026, 8, 31, 6, 0, tzinfo=timezone.utc)
HISTORY_DAYS = 90
#: Subjects of the 40 recurring failure kinds (8 shapes x 5 subjects).
KIND_NOUNS = ("order", "invoice", "session", "cache", "webhook")
KIND_PORTS = (5432, 6379, 8080, 9200, 11211)
SHAPES = 8
ERROR_SHAPE = 7  # a fixture failing in setup: status "error"
RENAME_SUFFIXES = ("_roundtrip", "_happy_path", "_when_valid", "_basic", "_end_to_end")
HTTP_TIMEOUT = 120.0
MIB = 1024 * 1024


# -- the planned history ------------------------------------------------------------------------


@dataclass(slots=True)
class TestSpec:
    """One test of a project's suite over the whole history."""

    __test__ = False

    classname: str
    cls: str  # the class, "" for a module-level function
    name: str
    base: str  # the function's name (shared by its parameter sets)
    file: str
    line: int
    suite: tuple[str, ...]
    source_hash: str
    markers: list[str]
    median: float  # seconds
    born: int = 0  # first run index (of its project) that has it
    dies: int | None = None  # first run index that no longer has it
    renamed_at: int | None = None
    new_name: str | None = None
    role: str = "normal"  # normal, flaky, rerun, env, skip, skip_env, chronic
    env: str | None = None  # for the roles env and skip_env
    kind: int = 0  # its failure kind when it fails on its own (chronic, env, flaky)

    def active(self, index: int) -> bool:
        return self.born <= index and (self.dies is None or index < self.dies)

    def name_at(self, index: int) -> str:
        if self.renamed_at is not None and index >= self.renamed_at and self.new_name:
            return self.new_name
        return self.name


@dataclass(frozen=True, slots=True)
class RunSpec:
    project: str
    index: int  # in its project's history, 0 = oldest
    run_id: str
    branch: str
    sha: str
    env: str
    started: datetime
    hostname: str


@dataclass(frozen=True, slots=True)
class Episode:
    """A regression: ``members`` fail with ``kind`` in runs ``start <= index < end`` (of one
    branch, or of every branch when ``branch`` is None)."""

    start: int
    end: int
    branch: str | None
    members: tuple[int, ...]
    kind: int


@dataclass
class ProjectPlan:
    project: str
    seed: str
    tests: list[TestSpec]
    runs: list[RunSpec]
    episodes: list[Episode]
    drop_index: int | None
    dropped: frozenset[int]
    codeowners: str
    branches: list[str]
    by_function: dict[str, list[int]] = field(default_factory=dict)
    #: The first build_result of each test's pass (or skip), copied for later runs.
    templates: dict[tuple[int, str, str], tuple[Any, ...]] = field(default_factory=dict)

    def failing(self, run: RunSpec) -> dict[int, int]:
        """Test index -> failure kind, for the regressions that hit ``run``."""
        hit: dict[int, int] = {}
        for episode in self.episodes:
            if episode.start <= run.index < episode.end and episode.branch in (None, run.branch):
                for member in episode.members:
                    hit.setdefault(member, episode.kind)
        return hit


def _hash(*parts: object) -> str:
    return hashlib.sha1("\0".join(map(str, parts)).encode()).hexdigest()


def _params(rng: random.Random, count: int) -> list[str]:
    style = rng.randrange(4)
    if style == 0:
        return [f"param-{k}" for k in range(count)]
    if style == 1:
        words = rng.sample(_PARAM_WORDS, min(count, len(_PARAM_WORDS)))
        return [f"{w}-{k}" for k, w in enumerate(words)] + [
            f"a-{k}" for k in range(len(words), count)
        ]
    if style == 2:
        return [f"{chr(97 + k % 26)}-{k + 1}" for k in range(count)]
    return [f"{k + 1}-{(k * 7) % 10}-{k * 3 + 1}" for k in range(count)]


def plan_suite(rng: random.Random, n_tests: int, runs: int, seed: str) -> list[TestSpec]:
    """~``n_tests`` tests on average over ``runs`` runs: 96.5 % from the start, ~8 % added over
    time, ~0.5 % removed (whole functions)."""
    n_classes = max(2, round(n_tests / 20))
    classnames: list[tuple[str, str, str, tuple[str, ...]]] = []  # classname, cls, file, suite
    serial = 0
    while len(classnames) < n_classes:
        serial += 1
        layer = rng.choice(_LAYERS)
        package = f"tests.{layer}.{rng.choice(_PACKAGES)}"
        module = f"{package}.test_{rng.choice(_NOUNS)}_{rng.choice(_VERBS)}_{serial}"
        file = module.replace(".", "/") + ".py"
        for _ in range(rng.choice((1, 1, 2, 2, 3))):
            cls = f"Test{rng.choice(_NOUNS).title()}{rng.choice(_VERBS).title()}"
            classname = f"{module}.{cls}" if rng.random() < 0.8 else module
            if all(c[0] != classname for c in classnames):
                classnames.append((classname, cls if classname != module else "", file, (package,)))
    base_target = round(n_tests * 0.965)
    growth_target = round(n_tests * 0.08)
    tests: list[TestSpec] = []
    used: dict[str, set[str]] = {}
    line = 10
    while len(tests) < base_target + growth_target:
        classname, cls, file, suite = rng.choice(classnames)
        names = used.setdefault(classname, set())
        base = f"test_{rng.choice(_VERBS)}_{rng.choice(_NOUNS)}"
        while base in names:
            base = f"{base}_{len(names)}"
        names.add(base)
        roll = rng.random()
        count = 1 if roll < 0.6 else rng.randint(2, 4) if roll < 0.85 else rng.randint(5, 12)
        params = [""] if count == 1 else _params(rng, count)
        born = 0 if len(tests) < base_target else rng.randint(1, max(1, runs - 1))
        source_hash = _hash(seed, classname, base)[:16]
        median = min(60.0, rng.lognormvariate(math.log(0.03), 1.0))
        slow = rng.random() < 0.01
        if slow:
            median = rng.uniform(2, 30)
        markers = [m for m, on in (("parametrize", count > 1), ("slow", slow)) if on]
        if ".integration." in classname:
            markers.append("integration")
        line += rng.randint(8, 40)
        for param in params:
            tests.append(
                TestSpec(
                    classname=classname,
                    cls=cls,
                    name=f"{base}[{param}]" if param else base,
                    base=base,
                    file=file,
                    line=line % 2000,
                    suite=suite,
                    source_hash=source_hash,
                    markers=markers,
                    median=median,
                    born=born,
                )
            )
    return tests


def assign_roles(rng: random.Random, tests: list[TestSpec], n_tests: int, runs: int) -> None:
    """Removed functions, renamed tests, and the tests with a behaviour of their own."""
    by_function: dict[str, list[int]] = {}
    for index, spec in enumerate(tests):
        by_function.setdefault(spec.source_hash, []).append(index)
    functions = [h for h, members in by_function.items() if tests[members[0]].born == 0]
    rng.shuffle(functions)
    removed = 0
    while removed < n_tests * 0.005 and functions and runs > 3:
        members = by_function[functions.pop()]
        dies = rng.randint(max(1, runs // 10), max(2, runs * 19 // 20))
        for member in members:
            tests[member].dies = dies
        removed += len(members)
    singles = [h for h in functions if len(by_function[h]) == 1]
    for source_hash in singles[: max(2, n_tests // 600)] if runs > 3 else []:
        spec = tests[by_function[source_hash][0]]
        spec.renamed_at = rng.randint(max(1, runs // 5), max(2, runs * 9 // 10))
        spec.new_name = spec.base + rng.choice(RENAME_SUFFIXES)
        spec.role = "renamed"
    plain = [
        i
        for i, spec in enumerate(tests)
        if spec.born == 0 and spec.dies is None and spec.role == "normal"
    ]
    rng.shuffle(plain)
    quotas = (
        ("flaky", max(1, round(n_tests * 0.003))),
        ("rerun", max(1, round(n_tests * 0.002))),
        ("env", min(5, max(1, n_tests // 100))),
        ("chronic", max(1, n_tests // 2500)),
        ("skip", round(n_tests * 0.027)),
        ("skip_env", round(n_tests * 0.005)),
    )
    for role, quota in quotas:
        for _ in range(quota):
            if not plain:
                break
            spec = tests[plain.pop()]
            spec.role = role
            spec.kind = rng.randrange(SHAPES * len(KIND_NOUNS))
            if role in ("flaky", "rerun"):  # timing trouble: timeouts, refused connections
                spec.kind = rng.choice((2, 3)) * len(KIND_NOUNS) + rng.randrange(len(KIND_NOUNS))
            if role == "env":
                spec.env = rng.choice((MACOS, MACOS, "py3.11-linux"))
            if role == "skip_env":
                spec.env = MACOS


def plan_runs(
    rng: random.Random, project: str, runs: int, n_branches: int, seed: str
) -> tuple[list[RunSpec], list[str]]:
    """The project's runs in time order: branch, commit, environment, start time."""
    labels = ["main"] * runs
    branches = []
    for b in range(n_branches):
        branches.append(f"feature/{rng.choice(_NOUNS)}-{rng.choice(_VERBS)}-{b + 1}")
    feature_runs = round(runs * 0.25)
    for branch in branches:
        count = max(1, feature_runs // max(1, n_branches) + rng.randint(-2, 2))
        span = min(runs, 3 * count + 2)
        start = rng.randint(0, max(0, runs - span))
        free = [i for i in range(start, start + span) if labels[i] == "main" and i > 0]
        for i in sorted(rng.sample(free, min(count, len(free)))):
            labels[i] = branch
    step = timedelta(days=HISTORY_DAYS) / max(1, runs)
    commits: dict[str, int] = {}
    last: dict[str, tuple[str, int, str]] = {}  # branch -> sha, runs of it, env
    specs = []
    envs = list(ENVS)
    for index, branch in enumerate(labels):
        env = rng.choices(envs, ENV_WEIGHTS)[0]
        previous = last.get(branch)
        if previous and previous[1] < 3 and rng.random() < 0.25:
            sha, count = previous[0], previous[1] + 1  # the same commit again
            if rng.random() < 0.4:
                env = previous[2]  # a plain re-run
        else:
            commits[branch] = commits.get(branch, 0) + 1
            sha, count = _hash(seed, project, branch, commits[branch]), 1
        last[branch] = (sha, count, env)
        started = HISTORY_START + step * index + timedelta(seconds=rng.randint(0, 600))
        specs.append(
            RunSpec(
                project=project,
                index=index,
                run_id=f"bench-{_hash(seed, project, index)[:24]}",
                branch=branch,
                sha=sha,
                env=env,
                started=started,
                hostname=f"ci-runner-{rng.randint(1, 12):02d}",
            )
        )
    return specs, branches


def plan_episodes(
    rng: random.Random, tests: list[TestSpec], runs: list[RunSpec], n_tests: int
) -> list[Episode]:
    """Regressions on main (seen by every branch while they last) and on feature branches."""
    order = sorted(
        (i for i, spec in enumerate(tests) if spec.role in ("normal", "renamed")),
        key=lambda i: (tests[i].classname, i),
    )
    kinds = SHAPES * len(KIND_NOUNS)
    episodes: list[Episode] = []

    def cluster(size: int) -> tuple[int, ...]:
        start = rng.randrange(max(1, len(order) - size))
        return tuple(order[start : start + size])

    big = max(1, round(n_tests * 0.011))
    for run in runs:
        if run.branch == "main" and rng.random() < 0.17:
            episodes.append(
                Episode(
                    run.index, run.index + rng.randint(2, 25), None, cluster(rng.randint(1, big)),
                    rng.randrange(kinds),
                )
            )  # fmt: skip
    firsts: dict[str, list[int]] = {}
    for run in runs:
        if run.branch != "main":
            firsts.setdefault(run.branch, []).append(run.index)
    for branch, indexes in firsts.items():
        if rng.random() < 0.7:
            fixed = indexes[min(len(indexes) - 1, rng.randint(0, 3))] + 1
            size = rng.randint(1, max(1, round(n_tests * 0.004)))
            episodes.append(Episode(indexes[0], fixed, branch, cluster(size), rng.randrange(kinds)))
    return episodes


def plan_project(project: str, runs: int, n_tests: int, n_branches: int, seed: int) -> ProjectPlan:
    key = f"{seed}:{project}"
    rng = random.Random(key)
    tests = plan_suite(rng, n_tests, runs, key)
    assign_roles(rng, tests, n_tests, runs)
    run_specs, branches = plan_runs(rng, project, runs, n_branches, key)
    episodes = plan_episodes(rng, tests, run_specs, n_tests)
    drop_index: int | None = None
    dropped: frozenset[int] = frozenset()
    if runs >= 10:
        drop_index = next((r.index for r in run_specs[runs * 3 // 5 :] if r.branch == "main"), None)
        order = sorted(range(len(tests)), key=lambda i: (tests[i].classname, i))
        start = rng.randrange(len(order))
        size = math.ceil(len(order) * 0.12)
        dropped = frozenset((order + order)[start : start + size])
    codeowners = "\n".join(
        [
            "# generated by bench/visualizer_bench.py",
            "/tests/ @acme/qa",
            "/tests/unit/ @acme/core",
            "/tests/integration/ @acme/platform",
            *(f"/tests/*/{p}/ @acme/{p}-team" for p in _PACKAGES[::3]),
        ]
    )
    plan = ProjectPlan(
        project, key, tests, run_specs, episodes, drop_index, dropped, codeowners, branches
    )
    for index, spec in enumerate(tests):
        plan.by_function.setdefault(spec.source_hash, []).append(index)
    return plan


def plan_history(runs: int, n_tests: int, seed: int) -> tuple[list[ProjectPlan], list[RunSpec]]:
    """Both projects, and every run of both in the order they are ingested (by start time)."""
    main = plan_project(MAIN_PROJECT, runs, n_tests, min(20, max(1, runs // 40)), seed)
    side = plan_project(SIDE_PROJECT, max(3, runs // 20), max(20, n_tests // 20), 1, seed)
    schedule = sorted([*main.runs, *side.runs], key=lambda r: (r.started, r.project))
    return [main, side], schedule


# -- one run's report -----------------------------------------------------------------------------


def _addr(rng: random.Random) -> str:
    return f"0x7f{rng.getrandbits(40):010x}"


def failure(kind: int, rng: random.Random, spec: TestSpec, name: str) -> tuple[str, str, str, str]:
    """(status, error_type, message, traceback) of failure kind ``kind`` for this test.

    The incidental parts (addresses, temporary paths, durations, pids, line numbers in the
    traceback) change from run to run; the fingerprint does not.
    """
    shape, subject = divmod(kind, len(KIND_NOUNS))
    noun = KIND_NOUNS[subject]
    title = noun.title()
    cls = spec.cls
    head = [f"self = <{spec.classname} object at {_addr(rng)}>", ""] if cls else []
    head.append(f"    def {spec.base}({'self' if cls else ''}):")
    where = f"{spec.file}:{spec.line + rng.randint(2, 30)}"
    app = f"src/app/{noun}s"
    if shape == 0:
        got, want = 3 + subject, 10 + 7 * subject
        message = (
            f"assert {got} == {want}\n +  where {got} = <{title} object at {_addr(rng)}>.total"
        )
        body = [
            f"        {noun} = make_{noun}(items={rng.randint(1, 9)})",
            f">       assert {noun}.total == {want}",
            f"E       assert {got} == {want}",
            f"E        +  where {got} = <{title} object at {_addr(rng)}>.total",
        ]
        return (
            "failed",
            "AssertionError",
            message,
            "\n".join([*head, *body, "", f"{where}: AssertionError"]),
        )
    if shape == 1:
        message = f"KeyError: '{noun}_id'"
        body = [
            f">       record = load_{noun}(store, {rng.randint(1, 9999)})",
            "",
            f"{app}/store.py:{rng.randint(20, 400)}: in load_{noun}",
            f"    return rows[key]['{noun}_id']",
            f"E   KeyError: '{noun}_id'",
        ]
        return "failed", "KeyError", message, "\n".join([*head, *body, "", f"{where}: KeyError"])
    if shape == 2:
        secs = f"{rng.uniform(5, 30):.2f}s"
        message = f"TimeoutError: {noun} worker did not finish after {secs}"
        body = [
            f">       wait_for({noun}_worker, timeout=5)",
            "",
            f"{app}/jobs.py:{rng.randint(20, 400)}: in wait_for",
            '    raise TimeoutError(f"{name} worker did not finish after {elapsed:.2f}s")',
            f"E   TimeoutError: {noun} worker did not finish after {secs}",
        ]
        return (
            "failed",
            "TimeoutError",
            message,
            "\n".join([*head, *body, "", f"{where}: TimeoutError"]),
        )
    if shape == 3:
        port = KIND_PORTS[subject]
        message = f"ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', {port})"
        body = [
            f">       client = {noun}_client(port={port})",
            "",
            f"{app}/client.py:{rng.randint(20, 400)}: in {noun}_client",
            "    sock = socket.create_connection(address, timeout)",
            "/usr/lib/python3.12/socket.py:852: in create_connection",
            "    raise exceptions[0]",
            f"E   {message}",
        ]
        return "failed", "ConnectionRefusedError", message, "\n".join([*head, *body])
    if shape == 4:
        tmp = f"/tmp/pytest-of-runner/pytest-{rng.randint(1, 900)}/{spec.base[:30]}0"
        message = f"FileNotFoundError: [Errno 2] No such file or directory: '{tmp}/{noun}.yaml'"
        body = [
            f">       config = load_config(tmp_path / '{noun}.yaml')",
            "",
            f"src/app/config.py:{rng.randint(20, 200)}: in load_config",
            "    with open(path, encoding='utf-8') as handle:",
            f"E   {message}",
        ]
        return (
            "failed",
            "FileNotFoundError",
            message,
            "\n".join([f"tmp_path = PosixPath('{tmp}')", *head, *body]),
        )
    if shape == 5:
        message = f"AttributeError: 'NoneType' object has no attribute '{noun}_id'"
        body = [
            f"        found = find_{noun}(name='missing-{rng.randint(1, 99)}')",
            f">       assert found.{noun}_id",
            f"E       {message}",
        ]
        return (
            "failed",
            "AttributeError",
            message,
            "\n".join([*head, *body, "", f"{where}: AttributeError"]),
        )
    if shape == 6:
        a, b = subject + 1, subject + 11
        compared = f"{{'id': 1, '{noun}': {a}}} == {{'id': 1, '{noun}': {b}}}"
        message = (
            f"AssertionError: assert {compared}\n  Omitting 1 identical items, use -vv to show\n"
            f"  Differing items:\n  {{'{noun}': {a}}} != {{'{noun}': {b}}}\n"
            "  Use -v to get more diff"
        )
        body = [
            f">       assert serialize({noun}) == {{'id': 1, '{noun}': {b}}}",
            f"E       AssertionError: assert {compared}",
            "E         Omitting 1 identical items, use -vv to show",
            "E         Differing items:",
            f"E         {{'{noun}': {a}}} != {{'{noun}': {b}}}",
        ]
        return (
            "failed",
            "AssertionError",
            message,
            "\n".join([*head, *body, "", f"{where}: AssertionError"]),
        )
    reason = f"RuntimeError: {noun} database is locked (pid {rng.randint(100, 60000)})"
    message = f'failed on setup with "{reason}"'
    text = "\n".join(
        [
            f"file {spec.file}, line {spec.line}",
            f"  def {spec.base}({'self, ' if cls else ''}{noun}_db):",
            f"conftest.py:{rng.randint(10, 120)}: in {noun}_db",
            f"    yield from open_{noun}_db(tmp_path_factory)",
            f"src/app/db.py:{rng.randint(10, 300)}: in open_{noun}_db",
            "    raise RuntimeError(message)",
            f"E   {reason}",
        ]
    )
    return "error", "RuntimeError", message, text


_FIELDS = tuple(f.name for f in dataclasses.fields(TestResult))
_DURATION = _FIELDS.index("duration")


def build_report(plan: ProjectPlan, run: RunSpec) -> Report:
    """The run's :class:`Report`, built with the core's ``build_result`` (as a JSON upload)."""
    rng = random.Random(f"{plan.seed}:run:{run.index}")
    failing = plan.failing(run)
    dropped = plan.dropped if run.index == plan.drop_index else frozenset()
    results: list[TestResult] = []
    for index, spec in enumerate(plan.tests):
        if not spec.active(run.index) or index in dropped:
            continue
        name = spec.name_at(run.index)
        kind: int | None = failing.get(index)
        role = spec.role
        attempts: list[Attempt] = []
        flaky = False
        message: str | None = None
        if role == "skip" or (role == "skip_env" and run.env == spec.env):
            status = "skipped"
            message = _SKIP_REASONS[spec.line % len(_SKIP_REASONS)]
            if role == "skip_env":
                message = "not supported on macOS"
        elif (
            role == "chronic"
            or (role == "env" and run.env == spec.env)
            or (role == "flaky" and rng.random() < 0.2)
        ):
            kind = spec.kind
        elif role == "rerun" and rng.random() < 0.25:
            tries = rng.randint(1, 2)
            for _ in range(tries):
                a_status, a_type, a_message, a_text = failure(spec.kind, rng, spec, name)
                attempts.append(Attempt(a_status, a_type, a_message, a_text))  # type: ignore[arg-type]
            if rng.random() < 0.15:
                kind = spec.kind  # failed every rerun too
            else:
                flaky = True
        duration = 0.0
        if kind is not None:
            status, error_type, message, text = failure(kind, rng, spec, name)
            if kind // len(KIND_NOUNS) == 2:
                duration = rng.uniform(5, 30)
        else:
            error_type = text = None
            if message is None:
                status = "passed"
        if status != "skipped" and not duration:
            duration = spec.median * rng.lognormvariate(0, 0.3)
        plain = kind is None and not flaky and not attempts
        template = plan.templates.get((index, name, status)) if plain else None
        if template is not None:
            # A pass or skip is the same result every run but for its duration: copy the one
            # build_result made the first time (half the build time of a run).
            results.append(
                TestResult(*template[:_DURATION], round(duration, 6), *template[_DURATION + 1 :])
            )
            continue
        result = build_result(
            run.project,
            name=name,
            classname=spec.classname,
            status=status,  # type: ignore[arg-type]
            duration=round(duration, 6),
            file=spec.file,
            line=spec.line,
            suite=spec.suite,
            flaky=flaky,
            error_type=error_type,
            message=message,
            text=text,
            markers=list(spec.markers),
            source_hash=spec.source_hash,
            attempts=attempts,
        )
        if plain:
            plan.templates[index, name, status] = tuple(getattr(result, f) for f in _FIELDS)
        results.append(result)
    total = sum(result.duration for result in results)
    finished = run.started + timedelta(seconds=total / 4 + 30)  # 4 xdist workers
    info = RunInfo(
        run_id=run.run_id,
        project=run.project,
        session_id=f"ci-{run.project}-{run.index}",
        git_sha=run.sha,
        branch=run.branch,
        env_fingerprint=run.env,
        env=dict(ENVS[run.env]),
        started_at=run.started.isoformat(),
        finished_at=finished.isoformat(),
        hostname=run.hostname,
        source="bench/visualizer_bench.py",
    )
    return Report(
        run=info,
        results=results,
        suites=[],
        totals=Totals.count(results),
        declared=DeclaredTotals(),
        codeowners=plan.codeowners,
        testcases=len(results),
    )


# -- seeding through the ingest service -----------------------------------------------------------


def db_files(path: Path) -> list[Path]:
    return [path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm"))]


def db_size(path: Path) -> int:
    return sum(p.stat().st_size for p in db_files(path) if p.exists())


def meta_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def prepare_database(
    path: Path, params: dict[str, Any], reseed: bool
) -> tuple[str, dict[str, Any]]:
    """``reuse`` a complete database seeded with ``params``, ``resume`` an interrupted one, or
    start a ``new`` one (removing whatever was there)."""
    meta: dict[str, Any] | None = None
    with contextlib.suppress(OSError, ValueError):
        meta = json.loads(meta_path(path).read_text(encoding="utf-8"))
    if not reseed and path.exists() and meta and meta.get("params") == params:
        return ("reuse" if meta.get("complete") else "resume"), meta
    for stale in [*db_files(path), path.with_name(path.name + ".migrate-lock")]:
        stale.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "params": params,
        "complete": False,
        "seed_seconds": 0.0,
        "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "server_digest": server_digest(),
    }
    save_meta(path, meta)
    return "new", meta


def server_digest() -> str:
    """A hash of the server's code: ingest may change what it stores without a migration."""
    digest = hashlib.sha256()
    for source in sorted((REPO / "server").rglob("*.py")):
        digest.update(str(source.relative_to(REPO)).encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:16]


def schema_version() -> str:
    """The server's latest migration and a hash of the tables its models declare (columns,
    indexes): a database seeded under another schema is seeded anew, even when a migration
    was edited in place without a new revision."""
    from alembic.script import ScriptDirectory

    from server.storage import models  # noqa: F401 - registers the tables
    from server.storage.db import Base
    from server.storage.engine import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    shape = [
        (
            table.name,
            sorted((column.name, str(column.type)) for column in table.columns),
            sorted(str(index.name) for index in table.indexes),
        )
        for table in sorted(Base.metadata.tables.values(), key=lambda t: t.name)
    ]
    return f"{head}:{_hash(json.dumps(shape))[:12]}"


def save_meta(path: Path, meta: dict[str, Any]) -> None:
    meta_path(path).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


@dataclass
class Timing:
    """One ingested run: its size and where the time went."""

    project: str
    run_id: str
    results: int
    build: float
    ingest: float
    analysis: float | None = None  # filled in when the analysis process reports


def _app(path: Path) -> Any:
    from server import create_app, testviz_state

    app = create_app(
        {
            "database_url": f"sqlite:///{path}",
            "watch": False,
            "analysis_in_background": False,  # resume_pending at start-up analyses inline
            "mapping_enabled": True,
            "integrity_enabled": True,
        }
    )
    testviz_state(app).shutdown()  # no sweeper threads: the bench runs the analysis
    return app


def analysis_process(path: Path, jobs: Any, done: Any) -> None:
    """Analyse each run_id from ``jobs`` (mapping, integrity) until None; report to ``done``.

    The server analyses in a background thread while it ingests the next upload; here that
    is a second process, so that on a busy machine it gets a CPU share of its own.
    """
    from server import testviz_state
    from server.storage.db import db

    app = _app(path)
    analyzer = testviz_state(app).analyzer
    with app.app_context():
        while (run_id := jobs.get()) is not None:
            start = time.perf_counter()
            try:
                states: Any = analyzer.analyse(run_id)
            except Exception as exc:  # reported, and the next run goes on
                db.session.rollback()
                states = {"error": repr(exc)}
            done.put((run_id, time.perf_counter() - start, states))
        db.session.remove()
        db.engine.dispose()


def seed(
    path: Path,
    plans: list[ProjectPlan],
    schedule: list[RunSpec],
    meta: dict[str, Any],
    analysers: int = 1,
) -> None:
    """Ingest every run of ``schedule`` not yet stored. ``analysers`` other processes analyse
    each run once its ingest has committed, while the next ones are ingested (as the server's
    background analysis does); with 0 the run is analysed inline, right after its ingest."""
    import multiprocessing
    import queue

    context = multiprocessing.get_context("spawn")
    jobs: Any = context.Queue(maxsize=2 * analysers + 2)  # the analysis lags a few runs behind
    done: Any = context.Queue()
    inline = analysers < 1
    workers = [
        context.Process(target=analysis_process, args=(path, jobs, done), daemon=True)
        for _ in range(max(0, analysers))
    ]

    from sqlalchemy import select

    from server import testviz_state
    from server.ingest.store import ingest_run
    from server.storage.db import db
    from server.storage.models import Run

    app = _app(path)  # creates the schema before the worker starts
    for worker in workers:
        worker.start()
    by_project = {plan.project: plan for plan in plans}
    timings: list[Timing] = []
    by_run: dict[str, Timing] = {}
    analysed = 0
    recent: list[float] = []  # analysis seconds reported since the last progress line

    def collect(block: bool = False) -> None:
        nonlocal analysed
        while True:
            try:
                run_id, seconds, states = done.get(block, 600 if block else 0)
            except queue.Empty:
                if block:
                    raise RuntimeError("the analysis process stopped answering") from None
                return
            analysed += 1
            by_run[run_id].analysis = seconds
            recent.append(seconds)
            # "pending": another analyser had claimed the run first (resume_pending at its
            # start-up picks up runs that are also queued); it finishes it.
            if not set(states.values()) <= {"done", "pending"}:
                print(f"  run {run_id}: analysis {states}")
            if block:
                return

    def enqueue(run_id: str) -> None:
        while True:
            try:
                jobs.put(run_id, timeout=1)
                return
            except queue.Full:
                if not all(worker.is_alive() for worker in workers):
                    raise RuntimeError("an analysis process died") from None
                collect()

    started = time.perf_counter()
    previous_seconds = float(meta.get("seed_seconds", 0.0))
    try:
        with app.app_context():
            stored = set(db.session.execute(select(Run.run_id)).scalars())
            db.session.commit()
            todo = [run for run in schedule if run.run_id not in stored]
            if stored:
                print(f"resuming: {len(stored)} of {len(schedule)} runs already stored")
            every = max(1, len(todo) // 25)
            block_start, block_results = started, 0
            for number, run in enumerate(todo, start=1):
                t0 = time.perf_counter()
                report = build_report(by_project[run.project], run)
                t1 = time.perf_counter()
                answer = ingest_run(report, db.session)
                t2 = time.perf_counter()
                if answer.status != "created":
                    print(f"  run {run.run_id}: ingest {answer.status}")
                timing = Timing(run.project, run.run_id, len(report.results), t1 - t0, t2 - t1)
                timings.append(timing)
                by_run[run.run_id] = timing
                if number % 25 == 0:
                    checkpoint(path)  # analysers' reads would otherwise keep the WAL growing
                if inline:
                    t3 = time.perf_counter()
                    states = testviz_state(app).analyzer.analyse(run.run_id)
                    timing.analysis = time.perf_counter() - t3
                    analysed += 1
                    recent.append(timing.analysis)
                    if set(states.values()) != {"done"}:
                        print(f"  run {run.run_id}: analysis {states}")
                else:
                    enqueue(run.run_id)
                    collect()
                block_results += len(report.results)
                if number % every == 0 or number == len(todo):
                    now = time.perf_counter()
                    block = timings[-(number % every or every) :]
                    eta = (now - started) / number * (len(todo) - number)
                    print(
                        f"  {len(stored) + number:5d}/{len(schedule)} runs, "
                        f"{sum(t.results for t in timings):>10,} results, {now - started:6.0f} s;"
                        f" per run: build {_ms([t.build for t in block]):4.0f} ms, ingest "
                        f"{_ms([t.ingest for t in block]):5.0f} ms, analysis "
                        f"{_ms(recent):5.0f} ms; "
                        f"{block_results / (now - block_start):6,.0f} results/s; ETA {eta:5.0f} s",
                        flush=True,
                    )
                    block_start, block_results = now, 0
                    recent.clear()
                    meta["seed_seconds"] = previous_seconds + now - started
                    save_meta(path, meta)
            db.session.remove()
            db.engine.dispose()
        for _ in workers:
            jobs.put(None)
        while analysed < len(timings):
            collect(block=True)
        for worker in workers:
            worker.join(60)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
                worker.join(10)
    seconds = time.perf_counter() - started
    checkpoint(path)
    meta["seed_seconds"] = previous_seconds + seconds
    meta["complete"] = True
    meta["size_bytes"] = db_size(path)
    save_meta(path, meta)
    if timings:
        results = sum(t.results for t in timings)
        print(
            f"seeded {len(timings)} runs, {results:,} results in {seconds:.0f} s "
            f"({results / seconds:,.0f} results/s end to end; ingest alone "
            f"{results / sum(t.ingest for t in timings):,.0f} results/s); "
            f"database {db_size(path) / MIB:,.0f} MiB"
        )
        print_growth(timings)


def _ms(values: list[float]) -> float:
    return 1000 * sum(values) / len(values) if values else float("nan")


def print_growth(timings: list[Timing]) -> None:
    """Per tenth of the main project's history: does a run cost more as the history grows?"""
    main = [t for t in timings if t.project == MAIN_PROJECT]
    if len(main) < 20:
        return
    print("per tenth of the main project's runs (mean ms per run): build / ingest / analysis")
    tenth = len(main) / 10
    for k in range(10):
        part = main[round(k * tenth) : round((k + 1) * tenth)]
        analysis = [t.analysis for t in part if t.analysis is not None]
        print(
            f"  {k + 1:2d}: {_ms([t.build for t in part]):5.0f} / "
            f"{_ms([t.ingest for t in part]):5.0f} / {_ms(analysis):5.0f}"
        )


def checkpoint(path: Path) -> None:
    """Fold the WAL into the database file, so its size is the database's size."""
    connection = sqlite3.connect(path, timeout=30)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


def describe_database(path: Path) -> dict[str, Any]:
    """What is stored: counts, outcome rates, integrity signals by kind."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        one = lambda sql: connection.execute(sql).fetchone()  # noqa: E731
        runs, tests, passed, failed, errors, skipped, flaky = one(
            "SELECT count(*), sum(tests), sum(passed), sum(failed), sum(errors), sum(skipped), "
            "sum(flaky) FROM runs"
        )
        signals = dict(
            connection.execute(
                "SELECT kind, count(*) FROM integrity_signals GROUP BY kind ORDER BY 2 DESC"
            ).fetchall()
        )
        states = dict(
            connection.execute(
                "SELECT mapping_state || '/' || integrity_state, count(*) FROM runs GROUP BY 1"
            ).fetchall()
        )
        return {
            "runs": runs,
            "results": tests or 0,
            "passed": passed or 0,
            "failed": failed or 0,
            "errors": errors or 0,
            "skipped": skipped or 0,
            "flaky": flaky or 0,
            "definitions": one("SELECT count(*) FROM test_definitions")[0],
            "failure_groups": one("SELECT count(*) FROM failure_groups")[0],
            "branches": one("SELECT count(DISTINCT branch) FROM runs")[0],
            "shas": one("SELECT count(DISTINCT git_sha) FROM runs")[0],
            "signals": signals,
            "analysis_states": states,
        }
    finally:
        connection.close()


def print_database(path: Path, about: dict[str, Any]) -> None:
    results = max(1, about["results"])
    print(
        f"database {path}: {db_size(path) / MIB:,.0f} MiB, {about['runs']:,} runs, "
        f"{about['results']:,} results, {about['definitions']:,} test definitions, "
        f"{about['failure_groups']:,} failure groups, {about['branches']} branches, "
        f"{about['shas']} git shas"
    )
    print(
        f"  outcomes: {100 * about['failed'] / results:.2f} % failed, "
        f"{100 * about['errors'] / results:.2f} % errors, "
        f"{100 * about['skipped'] / results:.2f} % skipped, "
        f"{100 * about['flaky'] / results:.3f} % flaky (passed after rerun)"
    )
    signals = ", ".join(f"{kind} {count}" for kind, count in about["signals"].items())
    print(f"  integrity signals: {signals or 'none'}; analysis (mapping/integrity): "
          f"{about['analysis_states']}")  # fmt: skip


# -- what to request ------------------------------------------------------------------------------


@dataclass
class Picks:
    """Parameters taken from the data for the pages and the API."""

    project: str
    runs: dict[str, str]
    tests: dict[str, str]
    fingerprints: dict[str, str]
    feature_branch: str
    latest_sha: str
    search: str = "order"


def pick(plans: list[ProjectPlan], path: Path) -> Picks:
    main = plans[0]
    last = main.runs[-1]
    runs = {"latest": last.run_id, "old": main.runs[len(main.runs) // 10].run_id}
    if main.drop_index is not None:
        runs["drop"] = main.runs[main.drop_index].run_id
    in_episodes = {m for episode in main.episodes for m in episode.members}

    def first(role: str, **extra: Any) -> TestSpec | None:
        for index, spec in enumerate(main.tests):
            if spec.role != role or not spec.active(last.index):
                continue
            if extra.get("stable") and (index in in_episodes or spec.born or spec.dies is not None):
                continue
            return spec
        return None

    tests: dict[str, str] = {}
    for label, spec in (
        ("flaky", first("flaky")),
        ("stable", first("normal", stable=True)),
        ("renamed", first("renamed")),
        ("always-failing", first("chronic")),  # the longest history of tracebacks
    ):
        if spec is not None:
            tests[label] = make_test_id(main.project, spec.classname, spec.name_at(last.index))
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        fingerprints = {}
        row = connection.execute(
            "SELECT fingerprint FROM failure_groups WHERE project = ? "
            "ORDER BY occurrences DESC, id LIMIT 1",
            (main.project,),
        ).fetchone()
        if row:
            fingerprints["top"] = row[0]
        for label, test in list(tests.items()):
            found = connection.execute(
                "SELECT 1 FROM test_definitions WHERE project = ? AND test_id = ?",
                (main.project, test),
            ).fetchone()
            if not found:
                print(f"warning: the {label} test {test} is not in the database")
    finally:
        connection.close()
    branch = main.branches[0] if main.branches else "main"
    return Picks(main.project, runs, tests, fingerprints, branch, last.sha)


@dataclass
class Endpoint:
    label: str
    path: str  # with the query string
    paginate: bool = False  # add a deep-page variant, from the first answer's size
    cold_ms: float | None = None
    samples: list[float] = field(default_factory=list)
    cpu: float = 0.0  # worker CPU seconds over the samples
    codes: Counter[str] = field(default_factory=Counter)
    size: int = 0
    missing: bool = False
    parent: Endpoint | None = None  # the endpoint a deep-page variant was derived from

    def p(self, q: float) -> float | None:
        return percentile(self.samples, q) if self.samples else None


def with_query(path: str, query: dict[str, Any]) -> str:
    return f"{path}?{urllib.parse.urlencode(query)}" if query else path


def quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def page_endpoints(picks: Picks) -> list[Endpoint]:
    """The visualizer's pages, each with ``?project=``."""
    query = {"project": picks.project}
    pages: list[tuple[str, str, dict[str, str]]] = [
        ("/", "", {}),
        ("/runs", "", {}),
        ("/runs/<run_id>", "run_id", {k: v for k, v in picks.runs.items() if k != "drop"}),
        ("/tests/<test_id>", "test_id", picks.tests),
        ("/flaky", "", {}),
        ("/failures", "", {}),
        ("/failures/<fingerprint>", "fingerprint", picks.fingerprints),
        ("/integrity", "", {}),
    ]
    endpoints = []
    for template, name, values in pages:
        if not name:
            endpoints.append(Endpoint(f"page {template}", with_query(template, query)))
            continue
        for label, value in values.items():
            path = template.replace(f"<{name}>", quote(value))
            endpoints.append(Endpoint(f"page {template} [{label}]", with_query(path, query)))
    return endpoints


def path_values(picks: Picks, template: str) -> dict[str, dict[str, str]]:
    """Values for the path parameters the bench knows, by name, then by label."""
    runs = dict(picks.runs)
    if "integrity" not in template:
        runs.pop("drop", None)
    return {
        "run_id": runs,
        "test_id": picks.tests,
        "fingerprint": picks.fingerprints,
        "project": {"main": picks.project},
        "branch": {"main": "main"},
        "git_sha": {"latest": picks.latest_sha},
        "sha": {"latest": picks.latest_sha},
    }


def query_value(picks: Picks, name: str, schema: dict[str, Any]) -> str | None:
    """A typical value for a query parameter, or None for one the bench does not exercise."""
    enum = schema.get("enum") or []
    if name == "status":
        return "failed" if "failed" in enum or not enum else str(enum[0])
    if name in ("q", "search"):
        return picks.search
    if name == "branch":
        return picks.feature_branch
    if name in ("env", "env_fingerprint"):
        return MACOS
    if name == "git_sha":
        return picks.latest_sha
    if name == "kind" and not enum:
        return "tests_disappeared"  # an integrity signal kind every long history has
    others = [str(value) for value in enum if value != schema.get("default")]
    if others:
        return others[-1]  # an ordering or filter other than the default
    return None


def api_endpoints(document: dict[str, Any], picks: Picks) -> tuple[list[Endpoint], list[str]]:
    """Every GET operation of the OpenAPI document, with its variants; and what was left out."""
    endpoints: list[Endpoint] = []
    notes: list[str] = []
    for template, item in document.get("paths", {}).items():
        operation = item.get("get") if isinstance(item, dict) else None
        if not isinstance(operation, dict):
            continue
        parameters = [*item.get("parameters", []), *operation.get("parameters", [])]
        query = {p["name"]: p.get("schema", {}) for p in parameters if p.get("in") == "query"}
        names = [p["name"] for p in parameters if p.get("in") == "path"]
        names += [n for n in _braces(template) if n not in names]
        known = path_values(picks, template)
        unknown = [n for n in names if not known.get(n)]
        if unknown:
            notes.append(f"GET {template}: no value for path parameter(s) {', '.join(unknown)}")
            continue
        variants: list[tuple[str, str]] = [("", template)]
        for name in names:
            variants = [
                (f"{label} {value_label}".strip(), path.replace(f"{{{name}}}", quote(value)))
                for label, path in variants
                for value_label, value in known[name].items()
            ]
        base = {"project": picks.project} if "project" in query else {}
        for number, (label, path) in enumerate(variants):
            suffix = f" [{label}]" if label else ""
            endpoints.append(
                Endpoint(
                    f"GET {template}{suffix}",
                    with_query(path, base),
                    paginate=number == 0 and "page" in query,
                )
            )
            if number:
                continue  # the query variants with the first path values only
            for name, schema in query.items():
                if name in ("project", "page", "per_page"):
                    continue
                value = query_value(picks, name, schema)
                if value is None:
                    notes.append(f"GET {template}: query parameter {name!r} not exercised")
                    continue
                endpoints.append(
                    Endpoint(
                        f"GET {template}?{name}={value}{suffix}",
                        with_query(path, {**base, name: value}),
                    )
                )
    return endpoints, notes


def _braces(template: str) -> list[str]:
    names, rest = [], template
    while "{" in rest and "}" in rest:
        start = rest.index("{")
        end = rest.index("}", start)
        names.append(rest[start + 1 : end])
        rest = rest[end + 1 :]
    return names


def deep_page(body: Any) -> int | None:
    """The last page, from an answer's pagination (or its item count against its total)."""
    if not isinstance(body, dict):
        return None
    pagination = body.get("pagination")
    if isinstance(pagination, dict):
        total, per_page = pagination.get("total"), pagination.get("per_page")
        if isinstance(total, int) and isinstance(per_page, int) and per_page > 0:
            return max(1, math.ceil(total / per_page))
    for key in ("results", "items", "tests", "runs", "groups"):
        items = body.get(key)
        if isinstance(items, list) and items:
            for total_key in ("total", "testcases", "count"):
                total = body.get(total_key)
                if isinstance(total, int) and total > len(items):
                    return math.ceil(total / len(items))
    return None


# -- measuring over HTTP --------------------------------------------------------------------------


def fetch(
    http: requests.Session, server: Gunicorn, endpoint: Endpoint, pids: list[int]
) -> tuple[float, float, requests.Response | None]:
    """One GET: wall ms (send to last byte), worker CPU seconds, the response (None: failed)."""
    cpu = cpu_seconds(pids)
    start = time.perf_counter()
    try:
        response: requests.Response | None = http.get(
            server.url + endpoint.path, timeout=HTTP_TIMEOUT
        )
    except requests.RequestException as exc:
        response = None
        endpoint.codes[type(exc).__name__] += 1
    ms = 1000 * (time.perf_counter() - start)
    cpu = cpu_seconds(pids) - cpu
    if response is not None:
        endpoint.codes[str(response.status_code)] += 1
        endpoint.size = len(response.content)
    return ms, cpu, response


def cold_pass(
    http: requests.Session, server: Gunicorn, endpoints: list[Endpoint]
) -> list[Endpoint]:
    """The first request of each endpoint, timed apart; returns the deep-page variants found."""
    deeper: list[Endpoint] = []
    for endpoint in endpoints:
        ms, _cpu, response = fetch(http, server, endpoint, server.worker_pids())
        endpoint.cold_ms = ms
        endpoint.codes.clear()  # the codes column counts the timed repeats
        if response is None:
            continue
        if response.status_code == 404:
            endpoint.missing = True
            continue
        if endpoint.paginate and response.ok:
            with contextlib.suppress(ValueError):
                last = deep_page(response.json())
                if last and last > 1:
                    sep = "&" if "?" in endpoint.path else "?"
                    deeper.append(
                        Endpoint(
                            f"{endpoint.label}?page={last} (last)",
                            f"{endpoint.path}{sep}page={last}",
                            parent=endpoint,
                        )
                    )
    return deeper


def measure(args: argparse.Namespace, path: Path, picks: Picks) -> list[Endpoint]:
    """Serve the database with gunicorn and time every endpoint; the server is always stopped."""
    env = {"TESTVIZ_AUTO_MIGRATE": "true"}
    with (
        running_gunicorn(
            f"sqlite:///{path.resolve()}",
            workers=args.workers,
            env=env,
            request_timeout=int(HTTP_TIMEOUT) + 30,
            ready_timeout=180.0,
        ) as server,
        requests.Session() as http,
    ):
        endpoints = page_endpoints(picks)
        notes: list[str] = []
        try:
            response = http.get(f"{server.url}/api/openapi.json", timeout=HTTP_TIMEOUT)
            response.raise_for_status()
            api, notes = api_endpoints(response.json(), picks)
            endpoints += api
        except (requests.RequestException, ValueError) as exc:
            notes.append(f"no OpenAPI document ({exc}): the API endpoints were not measured")
        print(
            f"gunicorn with {args.workers} sync worker(s) at {server.url}; {len(endpoints)} "
            f"endpoints, {args.repeat} timed requests each after a cold one"
        )
        for note in notes:
            print(f"  note: {note}")
        deeper = cold_pass(http, server, endpoints)
        cold_pass(http, server, deeper)
        endpoints = [x for e in endpoints for x in (e, *(d for d in deeper if d.parent is e))]
        live = [e for e in endpoints if not e.missing and e.cold_ms is not None]
        for _ in range(args.repeat):  # round-robin: drift on the machine hits all alike
            pids = server.worker_pids()
            for endpoint in live:
                ms, cpu, _ = fetch(http, server, endpoint, pids)
                endpoint.samples.append(ms)
                endpoint.cpu += cpu
        print(
            f"worker peak RSS {vm_hwm_mib(server.worker_pids()):.0f} MiB; load average now "
            f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (wall times on a busy machine "
            "mostly measure the neighbours: compare the cpu/req column)"
        )
    return endpoints


def fmt(value: float | None, width: int = 7) -> str:
    return f"{value:{width}.1f}" if value is not None else " " * (width - 1) + "-"


def print_table(endpoints: list[Endpoint]) -> list[str]:
    """The figures per endpoint; returns the lines of the summary."""
    width = max(len(e.label) for e in endpoints)
    print()
    print(f"{'endpoint':<{width}}   n    cold     p50     p95     max  cpu/req     KiB  codes"
          f"      p95 < {TARGET_MS:.0f} ms")  # fmt: skip
    met, over, missing, failing = [], [], [], []
    for e in endpoints:
        p95 = e.p(0.95)
        codes = " ".join(f"{code}x{count}" for code, count in sorted(e.codes.items())) or "-"
        ok = bool(e.samples) and all(code == "200" for code in e.codes)
        if e.missing:
            verdict = "missing (404)"
            missing.append(e.label)
        elif not ok:
            verdict = "errors"
            failing.append(e.label)
        elif p95 is not None and p95 < TARGET_MS:
            verdict = "yes"
            met.append(e.label)
        else:
            verdict = "NO"
            over.append(f"{e.label} ({p95:.0f} ms)")
        cpu = 1000 * e.cpu / len(e.samples) if e.samples else None
        print(
            f"{e.label:<{width}} {len(e.samples):3d} {fmt(e.cold_ms)} {fmt(e.p(0.5))} {fmt(p95)} "
            f"{fmt(max(e.samples) if e.samples else None)} {fmt(cpu, 8)} {e.size / 1024:7.1f}  "
            f"{codes:<10} {verdict}"
        )
    measured = len(met) + len(over) + len(failing)
    lines = [
        f"p95 < {TARGET_MS:.0f} ms: {len(met)} of {measured} measured endpoints"
        + (" -- target met for every one" if measured and len(met) == measured else ""),
    ]
    if over:
        lines.append("over the target: " + "; ".join(over))
    if failing:
        lines.append("answered with errors: " + "; ".join(failing))
    if missing:
        lines.append(f"missing (404 on the first request, not timed): {'; '.join(missing)}")
    print("\nsummary: " + "\n         ".join(lines))
    return lines


# -- runner ----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=HERE / "out" / "viz.sqlite", help="SQLite file")
    parser.add_argument("--runs", type=int, default=1000, help="runs of the main project")
    parser.add_argument("--tests", type=int, default=5000, help="tests per run (on average)")
    parser.add_argument("--seed", type=int, default=0, help="of the generated history")
    parser.add_argument("--reseed", action="store_true", help="seed anew even if it matches")
    parser.add_argument("--seed-only", action="store_true", help="seed (or reuse), do not measure")
    parser.add_argument(
        "--analysers",
        type=int,
        default=2,
        help="processes that analyse runs alongside the ingest (0: after each ingest, inline)",
    )
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per endpoint")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn sync workers")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    path: Path = args.db.resolve()

    print(
        f"{platform.python_implementation()} {platform.python_version()}, SQLite "
        f"{sqlite3.sqlite_version}, {os.cpu_count()} CPUs, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    start = time.perf_counter()
    plans, schedule = plan_history(args.runs, args.tests, args.seed)
    print(f"history planned in {time.perf_counter() - start:.1f} s: {len(schedule)} runs "
          f"({', '.join(f'{p.project} {len(p.runs)}' for p in plans)})")  # fmt: skip
    params = {"generator": GENERATOR_VERSION, "runs": args.runs, "tests": args.tests,
              "seed": args.seed, "schema": schema_version()}  # fmt: skip
    state, meta = prepare_database(path, params, args.reseed)
    if state == "reuse":
        print(f"reusing {path} (seeded in {meta.get('seed_seconds', 0):.0f} s)")
        if meta.get("server_digest") != server_digest():
            print(
                "  note: the server's code changed since this database was seeded; if ingest "
                "now stores something else, run again with --reseed"
            )
    else:
        print(f"seeding {path} ({'resumed' if state == 'resume' else 'new'}) ...", flush=True)
        seed(path, plans, schedule, meta, analysers=args.analysers)
    about = describe_database(path)
    print_database(path, about)
    if args.seed_only:
        return 0

    picks = pick(plans, path)
    print(f"picked: runs {picks.runs}, tests {picks.tests}, fingerprints {picks.fingerprints}")
    endpoints = measure(args, path, picks)
    summary = print_table(endpoints)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        figures = {
            "params": params,
            "seed_seconds": meta.get("seed_seconds"),
            "database": {**about, "size_bytes": db_size(path)},
            "endpoints": [
                {"label": e.label, "path": e.path, "n": len(e.samples), "cold_ms": e.cold_ms,
                 "p50_ms": e.p(0.5), "p95_ms": e.p(0.95),
                 "max_ms": max(e.samples) if e.samples else None,
                 "cpu_ms": 1000 * e.cpu / len(e.samples) if e.samples else None,
                 "bytes": e.size, "codes": dict(e.codes), "missing": e.missing}
                for e in endpoints
            ],
            "summary": summary,
        }  # fmt: skip
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)  # stop the children (analysers, gunicorn) too
    signal.signal(signal.SIGINT, _interrupt)  # also when started in the background
    try:
        main()
    except KeyboardInterrupt:
        print("interrupted")
    except Exception:  # a benchmark that cannot finish reports why, and still exits 0
        traceback.print_exc()
        print("ABORTED: see the traceback above")
    sys.exit(0)
