"""Bounded load on loopback: concurrent producers ingest while a reader requests the pages.

Starts ``gunicorn 'server:create_app()'`` with 4 sync workers on 127.0.0.1 on a fresh database
(a new PostgreSQL database on the server that ``--database-url`` names, or a SQLite file with
``--sqlite``), and ``--job-workers`` (2) ``flask worker`` processes beside it. Then
``--producers`` threads each POST ``--runs`` runs of ``--tests`` tests to
``/api/tests/ingest`` as the pytest plugin posts them (multipart, both parts gzip'd, with
``Prefer: respond-async``: answered 202 once the upload is stored, ingested by a job worker;
``--sync`` posts without it, answered once the run is stored), a JUnit XML report from
``_gen.py`` and its sidecar with the run id, project, git sha, branch and environment, while
one reader thread loops over the visualizer's pages and the JSON API, with run ids, test ids
and failure fingerprints it discovers through the API as the data arrives. Queued uploads
are waited for (``--drain``, seconds) and timed from upload to stored run with the server's
own times (``queued_uploads.received_at`` to ``finished_at``).

Every response is checked: a non-2xx answer, or a connection error or timeout, is an error;
the first few are printed with their status and body, and the gunicorn log's tracebacks
after them. gunicorn's access log (turned on through ``GUNICORN_CMD_ARGS``) gives each
request's time inside a worker, so the client's latency splits into service time and the wait
for a free worker. Everything is bounded: the producers by their run count, the reader by
``--max-reads`` and both by the ``--deadline`` (seconds). Afterwards the bench checks through
the API that every run is stored with all its tests.

    python bench/load_bench.py [--producers 8] [--runs 25] [--tests 2000] [--deadline 900]
    python bench/load_bench.py --sqlite      # the same load on a SQLite file
    python bench/load_bench.py --sync        # synchronous uploads (no job workers needed)

PostgreSQL: ``--database-url`` (default ``$TESTVIZ_TEST_POSTGRES_URL``, e.g. after
``source .ci/start-postgres``); the bench creates ``testviz_load_<pid>`` there and drops it at
the end. It exits 0 when the load ran, errors or not (they are printed), and 2 when the
server or the database could not be set up.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gzip
import hashlib
import json
import os
import platform
import re
import sqlite3
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(REPO) not in sys.path:
    sys.path.insert(1, str(REPO))  # the checkout's server/, pytest_testviz/ and tests/

import requests  # noqa: E402
from _gen import write_report  # noqa: E402
from _stats import percentile  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from tests.server.gunicorn_server import (  # noqa: E402
    Gunicorn,
    GunicornError,
    JobWorker,
    running_gunicorn,
    running_workers,
)

LOOPBACK = "127.0.0.1"
DB_HOSTS = {None, "", "127.0.0.1", "localhost", "::1"}
WORKERS = 4
POST_TIMEOUT = 600.0
GET_TIMEOUT = 120.0
SHOW_ERRORS = 5
#: The reader's p95 at the client, over every request, that the load should stay under.
READER_P95_TARGET = 0.5
BASE_STAMP = 'timestamp="2026-11-29T08:00:00.000000+00:00"'
ACCESS_TAG = "testviz-access"
#: gunicorn's access log, one line per request: method, path, status, microseconds in the worker.
ACCESS_ARGS = f"--access-logfile - --access-logformat '{ACCESS_TAG} %(m)s %(U)s %(s)s %(D)s'"


# -- small helpers --------------------------------------------------------------------------------


def quote(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def proc_status_kib(pid: int, key: str) -> int | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None


# -- databases ------------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database(args: argparse.Namespace, scratch: Path) -> Iterator[str]:
    """The URL of a new, empty database; a PostgreSQL one is dropped afterwards."""
    if args.sqlite:
        yield f"sqlite:///{scratch / 'load.sqlite3'}"
        return
    name = f"testviz_load_{os.getpid()}"
    admin = create_engine(args.database_url, isolation_level="AUTOCOMMIT")
    created = False
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        created = True
        yield make_url(args.database_url).set(database=name).render_as_string(hide_password=False)
    finally:
        if created:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            print(f"dropped database {name}")
        admin.dispose()


def server_version(database_url: str) -> str:
    if database_url.startswith("sqlite"):
        return f"SQLite {sqlite3.sqlite_version}"
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            version = connection.execute(text("SHOW server_version")).scalar_one()
        return f"PostgreSQL {str(version).split()[0]}"
    finally:
        engine.dispose()


# -- what the producers send ----------------------------------------------------------------------


_PASSING = re.compile(r'^(<testcase classname="([^"]*)" name="([^"]*)" time="[^"]*") />$')


def base_report(tests: int, seed: int, scratch: Path) -> list[str]:
    """The lines of one ``_gen.py`` report (the same test names for every run of a project)."""
    path = scratch / f"base-{seed}.xml"
    write_report(path, tests, seed=seed)
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def run_report(lines: list[str], stamp: str, salt: int, fail_every: int) -> tuple[bytes, int]:
    """The base report with this run's timestamp and about 1/fail_every passing tests failing.

    Which tests fail depends on ``salt``, so failures move from run to run (new failures, fixed
    tests, flaky candidates). The suite headers keep their declared counts (the server only
    reports the difference as an integrity signal). Returns the bytes and how many flipped.
    """
    out: list[str] = []
    flipped = 0
    passing = 0
    for line in lines:
        if line.startswith("<testsuite "):
            line = line.replace(BASE_STAMP, f'timestamp="{stamp}"')
        elif line.startswith("<testcase ") and line.endswith(" />\n"):
            passing += 1
            if (passing * 7919 + salt) % fail_every == 0:
                flipped += 1
                value = (passing + salt) % 17 + 1
                failure = (
                    f'<failure message="AssertionError: assert {value} == 0">'
                    f"def test():\n&gt;       assert result == 0\n"
                    f"E       assert {value} == 0\n\ntests/test_x.py:{passing % 400 + 10}: "
                    f"AssertionError</failure>"
                )
                line = f"{line[:-4]}>{failure}</testcase>\n"
        out.append(line)
    return "".join(out).encode("utf-8"), flipped


@dataclass
class RunSpec:
    producer: int
    index: int
    run_id: str
    project: str
    branch: str
    sha: str
    started: datetime.datetime


def plan_run(args: argparse.Namespace, producer: int, index: int) -> RunSpec:
    tag = f"{os.getpid()}-p{producer}-r{index:02d}"
    branch = "main" if index % 3 == 0 else f"feature/p{producer}-{index % 4}"
    started = datetime.datetime(2026, 11, 29, 8, tzinfo=datetime.UTC) + datetime.timedelta(
        minutes=index * 10 + producer
    )
    return RunSpec(
        producer=producer,
        index=index,
        run_id=f"load-{tag}",
        project=f"load-{producer % args.projects}",
        branch=branch,
        sha=hashlib.sha1(f"sha-{tag}".encode()).hexdigest(),
        started=started,
    )


def sidecar(spec: RunSpec) -> bytes:
    finished = spec.started + datetime.timedelta(minutes=4)
    return json.dumps(
        {
            "schema_version": 1,
            "run_id": spec.run_id,
            "project": spec.project,
            "session_id": f"session-{spec.run_id}",
            "git_sha": spec.sha,
            "branch": spec.branch,
            "env_fingerprint": "linux-py3.11" if spec.producer % 4 else "linux-py3.12",
            "env": {"python": "3.11" if spec.producer % 4 else "3.12", "os": "Linux"},
            "started_at": spec.started.isoformat(),
            "finished_at": finished.isoformat(),
            "producer": "bench/load_bench.py",
        }
    ).encode()


# -- shared state ---------------------------------------------------------------------------------


@dataclass
class Failure:
    who: str
    what: str
    status: str
    body: str
    at: float


@dataclass
class Shared:
    started: float
    deadline: float
    lock: threading.Lock = field(default_factory=threading.Lock)
    failures: list[Failure] = field(default_factory=list)
    producers_done: threading.Event = field(default_factory=threading.Event)

    def fail(self, who: str, what: str, status: str, body: str) -> None:
        with self.lock:
            self.failures.append(
                Failure(who, what, status, body[:2000], time.monotonic() - self.started)
            )

    def past_deadline(self) -> bool:
        return time.monotonic() >= self.deadline


@dataclass
class ProducerResult:
    producer: int
    latencies: list[float] = field(default_factory=list)  # seconds per successful POST
    created: list[str] = field(default_factory=list)
    tests: int = 0
    skipped_for_deadline: int = 0
    finished_at: float = 0.0


def produce(
    args: argparse.Namespace,
    server: Gunicorn,
    shared: Shared,
    producer: int,
    bases: dict[str, list[str]],
    result: ProducerResult,
) -> None:
    who = f"producer {producer}"
    with requests.Session() as http:
        for index in range(args.runs):
            if shared.past_deadline():
                result.skipped_for_deadline = args.runs - index
                break
            spec = plan_run(args, producer, index)
            xml, _ = run_report(
                bases[spec.project],
                spec.started.isoformat(timespec="microseconds"),
                salt=producer * 1000 + index,
                fail_every=args.fail_every,
            )
            headers = {}
            if args.sync:
                files = {
                    "report": ("report.xml", xml, "application/xml"),
                    "meta": ("report.xml.meta.json", sidecar(spec), "application/json"),
                }
            else:  # as the plugin sends: both parts gzip'd, answered once stored
                files = {
                    "report": ("report.xml", gzip.compress(xml, 6), "application/gzip"),
                    "meta": ("report.meta.json", gzip.compress(sidecar(spec)), "application/gzip"),
                }
                headers["Prefer"] = "respond-async"
            what = f"POST /api/tests/ingest run {spec.run_id}"
            start = time.perf_counter()
            try:
                response = http.post(
                    f"{server.url}/api/tests/ingest",
                    files=files,
                    headers=headers,
                    timeout=POST_TIMEOUT,
                )
            except requests.RequestException as exc:
                shared.fail(who, what, type(exc).__name__, str(exc))
                continue
            seconds = time.perf_counter() - start
            if not 200 <= response.status_code < 300:
                shared.fail(who, what, str(response.status_code), response.text)
                continue
            body = response.json()
            expected = "created" if args.sync else "queued"
            if body.get("status") != expected or body.get("run_id") != spec.run_id:
                shared.fail(who, what, f"{response.status_code} unexpected", response.text)
                continue
            result.latencies.append(seconds)
            result.created.append(spec.run_id)
            result.tests += int(body["counts"]["tests"]) if args.sync else args.tests
    result.finished_at = time.monotonic()


# -- the reader -----------------------------------------------------------------------------------


@dataclass
class Reader:
    args: argparse.Namespace
    server: Gunicorn
    shared: Shared
    samples: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    codes: dict[str, dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(int))
    )
    kinds: dict[str, str] = field(default_factory=dict)  # unquoted path -> kind
    requests_made: int = 0
    cycles: int = 0
    stop_reason: str = ""

    def get(self, http: requests.Session, kind: str, path: str) -> requests.Response | None:
        """One GET, timed and checked; None when it failed (the failure is recorded)."""
        self.requests_made += 1
        self.kinds[urllib.parse.unquote(path.partition("?")[0])] = kind
        start = time.perf_counter()
        try:
            response = http.get(self.server.url + path, timeout=GET_TIMEOUT)
            response.content  # noqa: B018  (read the whole body inside the timing)
        except requests.RequestException as exc:
            self.codes[kind][type(exc).__name__] += 1
            self.shared.fail("reader", f"GET {path}", type(exc).__name__, str(exc))
            return None
        self.samples[kind].append(time.perf_counter() - start)
        self.codes[kind][str(response.status_code)] += 1
        if not 200 <= response.status_code < 300:
            self.shared.fail("reader", f"GET {path}", str(response.status_code), response.text)
            return None
        return response

    def done(self) -> bool:
        if self.shared.producers_done.is_set():
            self.stop_reason = "the producers finished"
        elif self.requests_made >= self.args.max_reads:
            self.stop_reason = f"--max-reads {self.args.max_reads} reached"
        elif self.shared.past_deadline():
            self.stop_reason = f"--deadline {self.args.deadline} s reached"
        else:
            return False
        return True

    def cycle(self, http: requests.Session, project: str) -> None:
        """One round: discover ids through the API, then the pages and the JSON endpoints."""
        q = f"project={quote(project)}"
        targets: list[tuple[str, str]] = []
        listing = self.get(http, "api /api/tests/runs", f"/api/tests/runs?{q}&per_page=20")
        runs = listing.json()["runs"] if listing is not None else []
        run_id = test_id = fingerprint = None
        if runs:
            run_id = runs[self.cycles % len(runs)]["run_id"]
            detail = self.get(
                http,
                "api /api/tests/runs/<run_id>",
                f"/api/tests/runs/{quote(run_id)}?per_page=200",
            )
            if detail is not None:
                body = detail.json()
                results = body.get("results") or []
                failed = [r for r in results if r["status"] in ("failed", "error")]
                pool = failed if failed and self.cycles % 2 else results
                if pool:
                    test_id = pool[self.cycles % len(pool)]["test_id"]
                groups = body.get("failure_groups") or []
                if groups:
                    fingerprint = groups[self.cycles % len(groups)]["fingerprint"]
        targets += [
            ("page /", f"/?{q}"),
            ("page /runs", f"/runs?{q}"),
            ("page /flaky", f"/flaky?{q}"),
            ("page /failures", f"/failures?{q}"),
            ("page /integrity", f"/integrity?{q}"),
            ("api /api/tests/overview", f"/api/tests/overview?{q}"),
            ("api /api/tests/flaky", f"/api/tests/flaky?{q}"),
            ("api /api/tests/failure-groups", f"/api/tests/failure-groups?{q}"),
            ("api /api/tests/integrity", f"/api/tests/integrity?{q}"),
        ]
        if run_id is not None:
            rid = quote(run_id)
            targets += [
                ("page /runs/<run_id>", f"/runs/{rid}"),
                ("api /api/tests/runs/<run_id>/integrity", f"/api/tests/runs/{rid}/integrity"),
                ("api /api/tests/runs/<run_id>/diff", f"/api/tests/runs/{rid}/diff"),
            ]
        if test_id is not None:
            targets += [
                ("page /tests/<test_id>", f"/tests/{quote(test_id)}"),
                ("api /api/tests/tests/<test_id>", f"/api/tests/tests/{quote(test_id)}"),
            ]
        if fingerprint is not None:
            targets += [
                ("page /failures/<fingerprint>", f"/failures/{quote(fingerprint)}?{q}"),
                (
                    "api /api/tests/failure-groups/<fingerprint>",
                    f"/api/tests/failure-groups/{quote(fingerprint)}?{q}",
                ),
            ]
        for kind, path in targets:
            if self.done():
                return
            self.get(http, kind, path)

    def run(self) -> None:
        projects = [f"load-{k}" for k in range(self.args.projects)]
        with requests.Session() as http:
            while not self.done():
                self.cycle(http, projects[self.cycles % len(projects)])
                self.cycles += 1
                if self.args.read_pause:
                    time.sleep(self.args.read_pause)


# -- checking what was stored ---------------------------------------------------------------------


def verify(
    server: Gunicorn, expected: dict[str, int], shared: Shared
) -> tuple[list[str], dict[str, int]]:
    """Every created run is listed by the API with its tests; returns problems and states."""
    problems: list[str] = []
    listed: dict[str, dict[str, Any]] = {}
    states: dict[str, int] = defaultdict(int)
    with requests.Session() as http:
        page = 1
        while True:
            url = f"{server.url}/api/tests/runs?per_page=500&page={page}"
            response = http.get(url, timeout=GET_TIMEOUT)
            if response.status_code != 200:
                shared.fail("verify", f"GET {url}", str(response.status_code), response.text)
                problems.append(f"GET {url} answered {response.status_code}")
                break
            body = response.json()
            for run in body["runs"]:
                listed[run["run_id"]] = run
            if page * body["pagination"]["per_page"] >= body["pagination"]["total"]:
                break
            page += 1
    for run_id, tests in expected.items():
        run = listed.get(run_id)
        if run is None:
            problems.append(f"run {run_id} is missing from /api/tests/runs")
        elif run["totals"]["tests"] != tests:
            problems.append(f"run {run_id} has {run['totals']['tests']} tests, not {tests}")
    for run in listed.values():
        states[f"mapping {run['mapping_state']}"] += 1
        states[f"integrity {run['integrity_state']}"] += 1
    extra = set(listed) - set(expected)
    if extra:
        problems.append(f"{len(extra)} runs listed that no producer created: {sorted(extra)[:5]}")
    states["listed runs"] = len(listed)
    states["listed tests"] = sum(run["totals"]["tests"] for run in listed.values())
    return problems, dict(states)


def log_incidents(log: str, limit: int = 6) -> list[tuple[str, int]]:
    """Distinct tracebacks and worker trouble in gunicorn's log, first seen first, with counts.

    Two incidents are the same when their last line (the exception, or the log line) is.
    """
    found: dict[str, tuple[str, int]] = {}
    lines = log.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("Traceback") or "WORKER TIMEOUT" in line or "[ERROR]" in line:
            end = index + 1
            while end < len(lines) and (
                lines[end].startswith((" ", "\t")) or lines[end].startswith("Traceback")
            ):
                end += 1
            end = min(end + 1, len(lines))  # the exception line
            text = "\n".join(lines[max(0, index - 1) : end])
            key = re.sub(r"\d+", "N", lines[end - 1])
            if key in found:
                found[key] = (found[key][0], found[key][1] + 1)
            elif len(found) < limit:
                found[key] = (text, 1)
            index = end
        else:
            index += 1
    return list(found.values())


def service_times(log: str, kinds: dict[str, str]) -> dict[str, list[float]]:
    """Seconds each request spent in a worker (gunicorn's access log), by endpoint kind."""
    times: dict[str, list[float]] = defaultdict(list)
    for line in log.splitlines():
        at = line.find(ACCESS_TAG + " ")
        if at < 0:
            continue
        parts = line[at:].split()
        if len(parts) != 5 or not parts[4].isdigit():
            continue
        _, method, path, _status, micros = parts
        if method == "POST" and path == "/api/tests/ingest":
            kind = "POST /api/tests/ingest"
        else:
            kind = kinds.get(path, f"other {method} {path}")
        times[kind].append(int(micros) / 1e6)
    return times


# -- reporting ------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{1000 * seconds:,.0f}"


def print_reader(reader: Reader) -> None:
    print(
        f"\nreader: {reader.requests_made} requests in {reader.cycles} cycles, "
        f"stopped because {reader.stop_reason}"
    )
    header = f"{'endpoint kind':<48} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  codes"
    print(header)
    print("-" * len(header))
    every: list[float] = []
    for kind in sorted(set(reader.samples) | set(reader.codes)):
        samples = reader.samples.get(kind, [])
        every += samples
        codes = ", ".join(f"{c}x{n}" for c, n in sorted(reader.codes[kind].items()))
        if samples:
            print(
                f"{kind:<48} {len(samples):>5} {ms(percentile(samples, 0.5)):>8} "
                f"{ms(percentile(samples, 0.95)):>8} {ms(max(samples)):>8}  {codes}"
            )
        else:
            print(f"{kind:<48} {0:>5} {'-':>8} {'-':>8} {'-':>8}  {codes}")
    if every:
        print(
            f"{'all':<48} {len(every):>5} {ms(percentile(every, 0.5)):>8} "
            f"{ms(percentile(every, 0.95)):>8} {ms(max(every)):>8}"
        )


def print_service(times: dict[str, list[float]]) -> None:
    if not times:
        print("\nno access log lines found: no server-side times")
        return
    print("\nserver-side time per request (in the worker, from gunicorn's access log)")
    header = f"{'endpoint kind':<48} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}"
    print(header)
    print("-" * len(header))
    reads: list[float] = []
    for kind in sorted(times):
        samples = times[kind]
        if kind != "POST /api/tests/ingest" and not kind.startswith("other "):
            reads += samples
        print(
            f"{kind:<48} {len(samples):>5} {ms(percentile(samples, 0.5)):>8} "
            f"{ms(percentile(samples, 0.95)):>8} {ms(max(samples)):>8}"
        )
    if reads:
        print(
            f"{'all reader requests':<48} {len(reads):>5} {ms(percentile(reads, 0.5)):>8} "
            f"{ms(percentile(reads, 0.95)):>8} {ms(max(reads)):>8}"
        )


def print_workers(server: Gunicorn) -> None:
    pids = server.worker_pids()
    parts = []
    for pid in pids:
        hwm = proc_status_kib(pid, "VmHWM")
        rss = proc_status_kib(pid, "VmRSS")
        if hwm is not None and rss is not None:
            parts.append(f"pid {pid}: peak {hwm / 1024:.0f} MiB, now {rss / 1024:.0f} MiB")
    print(f"gunicorn workers ({len(pids)} alive): " + ("; ".join(parts) or "not readable"))
    booted = server.ready_pids()
    if len(booted) > server.workers:
        print(f"  ** {len(booted) - server.workers} worker(s) were restarted (booted: {booted})")


# -- main -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("TESTVIZ_TEST_POSTGRES_URL"))
    parser.add_argument("--sqlite", action="store_true", help="a SQLite file, not PostgreSQL")
    parser.add_argument("--host", default=LOOPBACK, help="only 127.0.0.1 is accepted")
    parser.add_argument("--producers", type=int, default=8)
    parser.add_argument("--runs", type=int, default=25, help="runs per producer")
    parser.add_argument("--tests", type=int, default=2000, help="tests per run")
    parser.add_argument("--projects", type=int, default=2, help="producers share these")
    parser.add_argument("--fail-every", type=int, default=97, help="~1/N passing tests fail")
    parser.add_argument("--workers", type=int, default=WORKERS)
    parser.add_argument("--timeout", type=int, default=30, help="gunicorn's --timeout, s")
    parser.add_argument("--deadline", type=float, default=900.0, help="wall-clock bound, s")
    parser.add_argument("--max-reads", type=int, default=20_000, help="reader request bound")
    parser.add_argument("--read-pause", type=float, default=0.0, help="s between reader cycles")
    parser.add_argument("--keep-log", type=Path, help="copy gunicorn's log here")
    parser.add_argument(
        "--sync", action="store_true", help="synchronous uploads, not queued (Prefer)"
    )
    parser.add_argument("--job-workers", type=int, default=2, help="flask worker processes")
    parser.add_argument(
        "--drain", type=float, default=600.0, help="s to wait for the queue at the end"
    )
    args = parser.parse_args(argv)
    for name in ("producers", "runs", "tests", "projects", "fail_every", "workers", "max_reads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.host != LOOPBACK:
        print(f"refusing --host {args.host}: this bench runs on {LOOPBACK} only", file=sys.stderr)
        return 2
    if not args.sqlite:
        if not args.database_url:
            print(
                "no PostgreSQL: pass --database-url, or start a throwaway one with\n"
                '    eval "$(.ci/start-postgres)"     # exports TESTVIZ_TEST_POSTGRES_URL\n'
                "(or run with --sqlite)",
                file=sys.stderr,
            )
            return 2
        host = make_url(args.database_url).host
        if host not in DB_HOSTS:
            print(f"refusing database host {host!r}: loopback only", file=sys.stderr)
            return 2

    total_runs = args.producers * args.runs
    print(
        f"load: {args.producers} producers x {args.runs} runs x {args.tests:,} tests "
        f"({total_runs} runs, {total_runs * args.tests:,} results) into {args.projects} "
        f"project(s); 1 reader; gunicorn -w {args.workers} --timeout {args.timeout} on "
        f"{LOOPBACK}"
        + (
            "; synchronous uploads"
            if args.sync
            else f" + {args.job_workers} flask worker processes; queued uploads"
        )
        + f"; deadline {args.deadline:.0f} s, max {args.max_reads} reads"
    )
    print(
        f"machine: {os.cpu_count()} cores, load average {load_average()} at start; "
        f"Python {platform.python_version()}"
    )
    with contextlib.ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="testviz-load-")))
        bases = {
            f"load-{k}": base_report(args.tests, seed=k, scratch=scratch)
            for k in range(args.projects)
        }
        try:
            database_url = stack.enter_context(fresh_database(args, scratch))
            print(f"database: {server_version(database_url)}, {make_url(database_url).database}")
        except Exception as exc:
            print(f"could not set up the database: {exc}", file=sys.stderr)
            return 2
        try:
            server = stack.enter_context(
                running_gunicorn(
                    database_url,
                    workers=args.workers,
                    request_timeout=args.timeout,
                    ready_timeout=180.0,
                    log_dir=scratch,
                    env={"GUNICORN_CMD_ARGS": ACCESS_ARGS},
                )
            )
        except GunicornError as exc:
            print(f"the server did not start:\n{exc}", file=sys.stderr)
            return 2
        workers: list[JobWorker] = []
        if not args.sync and args.job_workers > 0:
            workers = stack.enter_context(running_workers(database_url, args.job_workers, scratch))
        try:
            return run_load(args, server, bases, database_url, workers)
        finally:
            if args.keep_log:
                args.keep_log.write_text(server.log(), encoding="utf-8")
                print(f"gunicorn log copied to {args.keep_log}")


def drain_queue(database_url: str, timeout: float) -> tuple[float, dict[str, int]]:
    """Wait until no queued upload is left (or ``timeout``); returns the seconds waited and
    the uploads by state."""
    engine = create_engine(database_url)
    start = time.monotonic()
    try:
        while True:
            with engine.connect() as connection:
                states = dict(
                    connection.execute(
                        text("SELECT state, count(*) FROM queued_uploads GROUP BY state")
                    ).all()
                )
            if not states.get("queued") or time.monotonic() - start > timeout:
                return time.monotonic() - start, {str(k): int(v) for k, v in states.items()}
            time.sleep(0.5)
    finally:
        engine.dispose()


def drain_analysis(database_url: str, timeout: float) -> tuple[float, int]:
    """Wait until no analysis job is queued or running (or ``timeout``); returns the seconds
    waited and how many are left."""
    engine = create_engine(database_url)
    start = time.monotonic()
    try:
        while True:
            with engine.connect() as connection:
                left = connection.execute(
                    text(
                        "SELECT count(*) FROM jobs WHERE kind = 'analysis' "
                        "AND state IN ('queued', 'running')"
                    )
                ).scalar_one()
            if not left or time.monotonic() - start > timeout:
                return time.monotonic() - start, int(left)
            time.sleep(0.5)
    finally:
        engine.dispose()


def upload_to_stored(database_url: str) -> list[float]:
    """Seconds from each done upload's receipt to its stored run (the server's clock)."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT received_at, finished_at FROM queued_uploads "
                    "WHERE state = 'done' AND finished_at IS NOT NULL"
                )
            ).all()
    finally:
        engine.dispose()
    out = []
    for received, finished in rows:
        if isinstance(received, str):  # SQLite hands back text
            received = datetime.datetime.fromisoformat(received)
            finished = datetime.datetime.fromisoformat(finished)
        out.append((finished - received).total_seconds())
    return out


def job_summary(database_url: str) -> str:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text(
                    "SELECT kind, state, count(*), sum(attempts), max(attempts) FROM jobs "
                    "GROUP BY kind, state ORDER BY kind, state"
                )
            ).all()
    finally:
        engine.dispose()
    return "; ".join(
        f"{kind} {state} {count} (attempts {total}, max {most})"
        for kind, state, count, total, most in rows
    )


def run_load(
    args: argparse.Namespace,
    server: Gunicorn,
    bases: dict[str, list[str]],
    database_url: str,
    workers: list[JobWorker],
) -> int:
    start = time.monotonic()
    shared = Shared(started=start, deadline=start + args.deadline)
    results = [ProducerResult(k) for k in range(args.producers)]
    threads = [
        threading.Thread(
            target=produce,
            args=(args, server, shared, k, bases, results[k]),
            name=f"producer-{k}",
            daemon=True,
        )
        for k in range(args.producers)
    ]
    reader = Reader(args, server, shared)
    reader_thread = threading.Thread(target=reader.run, name="reader", daemon=True)
    loads = [load_average()]
    reader_thread.start()
    for thread in threads:
        thread.start()
    # Wait, bounded: the producers stop at the deadline before their next POST, and a POST
    # in flight ends within POST_TIMEOUT; the join gives them that and a margin.
    hard_stop = shared.deadline + POST_TIMEOUT + 30
    next_note = start + 60
    while any(t.is_alive() for t in threads) and time.monotonic() < hard_stop:
        for thread in threads:
            thread.join(timeout=1.0)
        if time.monotonic() >= next_note:
            loads.append(load_average())
            done = sum(len(r.created) for r in results)
            print(
                f"  {time.monotonic() - start:5.0f} s: {done} runs stored, "
                f"{reader.requests_made} reads, {len(shared.failures)} errors, load {loads[-1]}",
                flush=True,
            )
            next_note += 60
    wall = max((r.finished_at for r in results if r.finished_at), default=time.monotonic())
    wall -= start
    drained: tuple[float, dict[str, int]] | None = None
    if not args.sync:
        # The reader goes on reading while the workers store what is still queued.
        drained = drain_queue(database_url, args.drain)
    analysed: tuple[float, int] | None = None
    if not args.sync:
        analysed = drain_analysis(database_url, args.drain)
    shared.producers_done.set()
    reader_thread.join(timeout=GET_TIMEOUT + 10)
    loads.append(load_average())
    stuck = [t.name for t in [*threads, reader_thread] if t.is_alive()]

    runs_done = sum(len(r.created) for r in results)
    tests_done = sum(r.tests for r in results)
    stored_wall = wall + (drained[0] if drained else 0.0)
    if drained is not None:
        print(
            f"\nqueue: {runs_done} uploads accepted (202) in {wall:.1f} s; the last stored "
            f"{drained[0]:.1f} s after the last 202; uploads by state: {drained[1]}"
        )
        waits = upload_to_stored(database_url)
        if waits:
            print(
                f"upload to stored run (server clock, {len(waits)} uploads): "
                f"p50 {percentile(waits, 0.5):.2f} s, p95 {percentile(waits, 0.95):.2f} s, "
                f"max {max(waits):.2f} s"
            )
        if analysed is not None:
            print(
                f"analysis (owners, integrity) of every run done {analysed[0]:.1f} s after the "
                f"last run was stored" + (f"; {analysed[1]} still pending" if analysed[1] else "")
            )
        print(f"jobs: {job_summary(database_url)}")
        for index, worker in enumerate(workers):
            alive = worker.process.poll() is None
            print(f"flask worker {index} (pid {worker.process.pid}): alive={alive}")
        if not drained[1].get("done"):
            wall = stored_wall
    print(f"\ningest: {runs_done} of {args.producers * args.runs} runs stored,")
    print(f"  {tests_done:,} tests in {stored_wall:.1f} s of wall time")
    wall = stored_wall
    print(
        f"  throughput: {tests_done / wall:,.0f} tests/s, {runs_done / wall:.2f} runs/s "
        f"(all producers together, first POST to "
        + ("last answer)" if args.sync else "last run stored)")
    )
    what = "POST answered" if args.sync else "202 answered"
    print(f"{'producer':<10} {'runs':>5} {'p50 s':>7} {'p95 s':>7} {'max s':>7}  ({what})")
    every: list[float] = []
    for r in results:
        every += r.latencies
        if r.latencies:
            print(
                f"{r.producer:<10} {len(r.latencies):>5} {percentile(r.latencies, 0.5):>7.2f} "
                f"{percentile(r.latencies, 0.95):>7.2f} {max(r.latencies):>7.2f}"
                + (
                    f"  ({r.skipped_for_deadline} not sent: deadline)"
                    if r.skipped_for_deadline
                    else ""
                )
            )
        else:
            print(f"{r.producer:<10} {0:>5}")
    if every:
        print(
            f"{'all':<10} {len(every):>5} {percentile(every, 0.5):>7.2f} "
            f"{percentile(every, 0.95):>7.2f} {max(every):>7.2f}"
        )
    print_reader(reader)
    every_read = [seconds for samples in reader.samples.values() for seconds in samples]
    if every_read:
        p95 = percentile(every_read, 0.95)
        verdict = "met" if p95 < READER_P95_TARGET else "MISSED"
        print(
            f"reader at the client, all {len(every_read)} requests: p50 "
            f"{ms(percentile(every_read, 0.5))} ms, p95 {ms(p95)} ms (target "
            f"{READER_P95_TARGET * 1000:.0f} ms: {verdict})"
        )
    print_service(service_times(server.log(), reader.kinds))
    print(f"\nload average during the run (1, 5, 15 min), every 60 s: {' | '.join(loads)}")
    print_workers(server)
    if stuck:
        print(f"** threads still running at the end (bounded out): {stuck}")

    expected = {run_id: args.tests for r in results for run_id in r.created}
    problems, states = verify(server, expected, shared)
    print(
        f"\nverify: /api/tests/runs lists {states.get('listed runs', 0)} runs with "
        f"{states.get('listed tests', 0):,} tests in all; expected {len(expected)} runs x "
        f"{args.tests:,} = {len(expected) * args.tests:,}"
    )
    print(
        "  analysis states at the end: "
        + ", ".join(
            f"{k} {v}" for k, v in sorted(states.items()) if k.startswith(("mapping", "integrity"))
        )
    )
    if runs_done != args.producers * args.runs:
        problems.append(f"only {runs_done} of {args.producers * args.runs} runs were created")
    for problem in problems[:20]:
        print(f"  ** {problem}")
    if not problems:
        print("  all runs stored with all their tests")

    failures = shared.failures
    print(f"\nerrors: {len(failures)}")
    if failures:
        print("*" * 78)
        print(f"** {len(failures)} ERRORS (non-2xx answers, connection errors or timeouts) **")
        by_kind: dict[str, int] = defaultdict(int)
        for failure in failures:
            by_kind[f"{failure.who.split()[0]} {failure.status}"] += 1
        print("   " + ", ".join(f"{k}: {v}" for k, v in sorted(by_kind.items())))
        for failure in failures[:SHOW_ERRORS]:
            print(f"-- at {failure.at:.1f} s, {failure.who}: {failure.what} -> {failure.status}")
            print(failure.body[:1500])
        print("*" * 78)
    incidents = log_incidents(server.log() + "".join(worker.log() for worker in workers))
    if drained is not None and drained[1].get("failed"):
        problems.append(f"{drained[1]['failed']} uploads ended failed")
        print(f"** {drained[1]['failed']} uploads ended failed")
    if drained is not None and drained[1].get("queued"):
        problems.append(f"{drained[1]['queued']} uploads still queued after --drain")
        print(f"** {drained[1]['queued']} uploads still queued after --drain")
    if incidents:
        print(f"\ngunicorn and worker logs: {len(incidents)} distinct incident(s):")
        for incident, count in incidents:
            print(f"[seen {count} time(s)]")
            print(incident[:4000])
            print("--")
    else:
        print("gunicorn and worker logs: no tracebacks, worker timeouts or [ERROR] lines")
    print(f"result: {'ZERO ERRORS' if not failures and not problems else 'ERRORS FOUND'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
