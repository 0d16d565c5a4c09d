"""Server ingest benchmark: one big JUnit report over HTTP into gunicorn, against a floor.

Generates a realistic pytest-style report (see ``_gen.py``), starts ``gunicorn
'server:create_app()'`` with two workers on a fresh database and POSTs it twice, timing each
upload end to end (send, parse, store, answer):

* ``cold``  the first run: every test definition is new
* ``warm``  a second run of the same tests (every 25th passing test fails now, the suites
            carry a later timestamp, so a different run_id): definitions exist

The floor is the same rows the server writes for a cold run, inserted with a plain DB-API
``executemany`` per table (``sqlite3`` / psycopg) into a fresh database of the same kind with
the same schema, rows built beforehand: a ``test_definitions`` and a ``test_results`` row per
test, and the visualizer's aggregates (a ``test_env_status`` row per test that passed or
failed, the failure groups and their tests). A second floor with only the definitions and
results (what the server wrote before it kept aggregates) is printed beside it. The target
from the issue is at least half the rate of the floor of all rows; it is printed, never
asserted. Also printed: the largest peak RSS (``VmHWM``, reset before each
upload) among gunicorn's workers, right after the upload and once the background analysis of
the run (owners, integrity; not part of the timed upload) has finished.

    python bench/ingest_bench.py [--tests 100000] [--db sqlite|postgres|both] [--pg-url URL]
    python bench/ingest_bench.py --profile [--db ...]   # cProfile parse and ingest in-process

PostgreSQL is used when ``--pg-url`` or ``TESTVIZ_TEST_POSTGRES_URL`` names a server; each
measurement creates its own database there and drops it afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime
import io
import json
import os
import platform
import pstats
import sqlite3
import sys
import tempfile
import time
import uuid
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
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from tests.server.gunicorn_server import Gunicorn, running_gunicorn  # noqa: E402

TARGET_VS_FLOOR = 0.5
WORKERS = 2
WARM_FAIL_EVERY = 25
COLD_STAMP = 'timestamp="2026-11-29T08:00:00.000000+00:00"'
WARM_STAMP = 'timestamp="2026-11-29T09:00:00.000000+00:00"'
HTTP_TIMEOUT = 1800
ANALYSIS_TIMEOUT = 1800
MIB = 1024 * 1024


# -- reports ------------------------------------------------------------------------------------


def write_warm_report(cold: Path, warm: Path) -> int:
    """The cold report's tests, every WARM_FAIL_EVERY-th passing one failing; returns how many."""
    passing = flipped = 0
    with open(cold, encoding="utf-8") as source, open(warm, "w", encoding="utf-8") as out:
        for line in source:
            if line.startswith("<testsuite "):
                line = line.replace(COLD_STAMP, WARM_STAMP)
            elif line.startswith("<testcase ") and line.endswith(" />\n"):
                passing += 1
                if passing % WARM_FAIL_EVERY == 0:
                    flipped += 1
                    failure = (
                        f'<failure message="AssertionError: assert {flipped} == 0">'
                        f"&gt;       assert result == 0\nE       assert {flipped} == 0</failure>"
                    )
                    line = f"{line[:-4]}>{failure}</testcase>\n"
            out.write(line)
    return flipped


# -- databases ------------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database(kind: str, scratch: Path, pg_url: str | None) -> Iterator[str]:
    """The SQLAlchemy URL of a new, empty database (a PostgreSQL one is dropped afterwards)."""
    if kind == "sqlite":
        path = scratch / f"bench-{uuid.uuid4().hex[:8]}.sqlite3"
        yield f"sqlite:///{path}"
        return
    assert pg_url is not None
    name = f"testviz_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(pg_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def scalar(database_url: str, query: str) -> Any:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.execute(text(query)).scalar_one()
    finally:
        engine.dispose()


def server_version(database_url: str) -> str:
    if database_url.startswith("sqlite"):
        return f"SQLite {sqlite3.sqlite_version}"
    return str(scalar(database_url, "SHOW server_version")).split()[0]


# -- the server over HTTP -------------------------------------------------------------------------


def reset_hwm(pids: list[int]) -> bool:
    """Start the peak RSS (VmHWM) of ``pids`` over from their current RSS (Linux >= 4.0)."""
    done = True
    for pid in pids:
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        except OSError:
            done = False
    return done


def vm_hwm_mib(pids: list[int]) -> float:
    """The largest peak RSS (VmHWM) among ``pids``."""
    peak = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))  # kB
    return peak / 1024


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes ``pids`` have used so far (all their threads)."""
    ticks = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_for_analysis(database_url: str, run_id: str) -> float:
    """Seconds until the run's background analysis (mapping, integrity) has finished."""
    start = time.perf_counter()
    query = (
        "SELECT count(*) FROM runs WHERE run_id = '" + run_id.replace("'", "") + "' AND "
        "analysis_claimed_at IS NULL AND mapping_state <> 'pending' "
        "AND integrity_state <> 'pending'"
    )
    engine = create_engine(database_url)
    try:
        while time.perf_counter() - start < ANALYSIS_TIMEOUT:
            with engine.connect() as connection:
                if connection.execute(text(query)).scalar_one():
                    return time.perf_counter() - start
            time.sleep(0.2)
    finally:
        engine.dispose()
    raise RuntimeError(f"the analysis of run {run_id} did not finish in {ANALYSIS_TIMEOUT} s")


@dataclass
class Upload:
    label: str
    testcases: int
    seconds: float
    worker_cpu_seconds: float
    status: str
    run_id: str
    rss_after_upload_mib: float
    analysis_seconds: float
    rss_after_analysis_mib: float

    @property
    def rate(self) -> float:
        return self.testcases / self.seconds


def upload(server: Gunicorn, database_url: str, label: str, body: bytes, testcases: int) -> Upload:
    if not reset_hwm(server.worker_pids()):
        print(f"  ({label}: VmHWM not reset; the RSS figures are the workers' lifetime peaks)")
    workers = server.worker_pids()
    cpu_before = cpu_seconds(workers)
    start = time.perf_counter()
    response = requests.post(
        f"{server.url}/api/tests/ingest",
        data=body,
        headers={"Content-Type": "application/xml"},
        timeout=HTTP_TIMEOUT,
    )
    seconds = time.perf_counter() - start
    cpu = cpu_seconds(workers) - cpu_before
    if response.status_code != 200:
        raise RuntimeError(f"{label} upload: {response.status_code} {response.text[:2000]}")
    answer = response.json()
    rss_upload = vm_hwm_mib(server.worker_pids())
    analysis = wait_for_analysis(database_url, answer["run_id"])
    return Upload(
        label,
        testcases,
        seconds,
        cpu,
        answer["status"],
        answer["run_id"],
        rss_upload,
        analysis,
        vm_hwm_mib(server.worker_pids()),
    )


def bench_server(database_url: str, cold: bytes, warm: bytes, testcases: int) -> list[Upload]:
    with running_gunicorn(database_url, workers=WORKERS, request_timeout=HTTP_TIMEOUT) as server:
        uploads = [
            upload(server, database_url, "cold", cold, testcases),
            upload(server, database_url, "warm", warm, testcases),
        ]
    if [u.status for u in uploads] != ["created", "created"]:
        raise RuntimeError(f"expected two created runs, got {[u.status for u in uploads]}")
    stored = scalar(database_url, "SELECT count(*) FROM test_results")
    if stored != 2 * testcases:
        raise RuntimeError(f"expected {2 * testcases} stored results, found {stored}")
    return uploads


# -- the floor: the same rows through a bare executemany -----------------------------------------


@dataclass
class FloorRows:
    definitions: list[tuple[Any, ...]] = field(default_factory=list)
    results: list[tuple[Any, ...]] = field(default_factory=list)
    #: The visualizer's aggregates, which a cold ingest writes too.
    env_status: list[tuple[Any, ...]] = field(default_factory=list)
    failure_groups: list[tuple[Any, ...]] = field(default_factory=list)
    group_tests: list[tuple[Any, ...]] = field(default_factory=list)


DEFINITION_COLUMNS = (
    "project", "test_id", "name", "base_name", "params", "classname", "suite", "file", "line",
    "source_hash", "declared_owner", "declared_tags", "markers", "tags", "first_seen_at",
    "last_seen_at", "first_run_pk", "last_run_pk",
)  # fmt: skip
RESULT_COLUMNS = (
    "run_pk", "definition_pk", "status", "flaky", "duration", "error_type", "message", "text",
    "fingerprint", "attempts",
)  # fmt: skip


ENV_STATUS_COLUMNS = (
    "definition_pk", "env_key", "project", "outcome", "branch", "since_run_pk", "last_run_pk",
)  # fmt: skip
GROUP_COLUMNS = (
    "project", "fingerprint", "error_type", "example_message", "example_text", "occurrences",
    "runs_affected", "first_seen_at", "last_seen_at", "first_run_pk", "last_run_pk",
)  # fmt: skip
GROUP_TEST_COLUMNS = (
    "project", "fingerprint", "definition_pk", "occurrences", "first_run_pk", "last_run_pk",
)  # fmt: skip
#: The floors: (label, the tables it fills). "all rows" is every row a cold ingest writes.
FLOORS = (
    ("definitions + results", ("definitions", "results")),
    ("all rows", ("definitions", "results", "env_status", "failure_groups", "group_tests")),
)


def floor_rows(report: Any, dialect: str) -> FloorRows:
    """The rows the server writes for a cold run, valued as it stores them: a definition and
    a result per test, a per-environment outcome per test that passed or failed, and the
    failure groups with their tests."""
    now = datetime.datetime.now(datetime.timezone.utc)
    stamp: Any = now.strftime("%Y-%m-%d %H:%M:%S.%f") if dialect == "sqlite" else now
    project = report.run.project
    rows = FloorRows()
    groups: dict[str, list[Any]] = {}
    for pk, result in enumerate(report.results, start=1):
        rows.definitions.append((
            project, result.test_id, result.name, result.base_name, result.params,
            result.classname, json.dumps(list(result.suite)) if result.suite else None,
            result.file, result.line, result.source_hash, result.owner,
            json.dumps(list(result.tags)), json.dumps(list(result.markers)), "[]",
            stamp, stamp, 1, 1,
        ))  # fmt: skip
        rows.results.append((
            1, pk, result.status, int(result.flaky) if dialect == "sqlite" else result.flaky,
            result.duration, result.error_type, result.message, result.text,
            result.fingerprint, len(result.attempts),
        ))  # fmt: skip
        if result.status != "skipped":
            outcome = "pass" if result.status == "passed" else "fail"
            rows.env_status.append((pk, "", project, outcome, None, 1, 1))
        if result.fingerprint is not None:
            rows.group_tests.append((project, result.fingerprint, pk, 1, 1, 1))
            group = groups.setdefault(result.fingerprint, [
                project, result.fingerprint, result.error_type, result.message, result.text,
                0, 1, stamp, stamp, 1, 1,
            ])  # fmt: skip
            group[5] += 1
    rows.failure_groups = [tuple(group) for group in groups.values()]
    return rows


def _create_schema(database_url: str) -> None:
    """The server's own tables (same columns, keys and indexes) and one run to point at."""
    from server.storage import models  # noqa: F401 - registers the tables
    from server.storage.db import Base

    engine = create_engine(database_url)
    try:
        Base.metadata.create_all(engine)
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO runs (id, run_id, project, env, ingested_at, duration, tests, "
                    "passed, failed, errors, skipped, flaky, testcases, notes, mapping_state, "
                    "integrity_state) VALUES (1, 'floor', 'default', '{}', :now, 0, 0, 0, 0, 0, "
                    "0, 0, 0, '{}', 'done', 'done')"
                ),
                {"now": datetime.datetime.now(datetime.timezone.utc)},
            )
    finally:
        engine.dispose()


def _insert_sql(table: str, columns: tuple[str, ...], mark: str) -> str:
    marks = ", ".join(mark for _ in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


def bench_floor(database_url: str, rows: FloorRows, tables: tuple[str, ...]) -> tuple[float, float]:
    """Wall and CPU seconds (of this process) to insert and commit ``rows`` of ``tables``, one
    executemany per table."""
    _create_schema(database_url)
    statements = {
        "definitions": ("test_definitions", DEFINITION_COLUMNS),
        "results": ("test_results", RESULT_COLUMNS),
        "env_status": ("test_env_status", ENV_STATUS_COLUMNS),
        "failure_groups": ("failure_groups", GROUP_COLUMNS),
        "group_tests": ("failure_group_tests", GROUP_TEST_COLUMNS),
    }
    work = [(*statements[name], getattr(rows, name)) for name in tables]
    if database_url.startswith("sqlite"):
        return _floor_sqlite(str(make_url(database_url).database), work)
    return _floor_postgres(database_url, work)


Work = list[tuple[str, tuple[str, ...], list[tuple[Any, ...]]]]


def _floor_sqlite(path: str, work: Work) -> tuple[float, float]:
    """With the server's connection settings (WAL, synchronous=NORMAL, foreign keys)."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
            connection.execute(f"PRAGMA {pragma}")
        start, cpu = time.perf_counter(), time.process_time()
        connection.execute("BEGIN IMMEDIATE")
        for table, columns, rows in work:
            connection.executemany(_insert_sql(table, columns, "?"), rows)
        connection.execute("COMMIT")
        return time.perf_counter() - start, time.process_time() - cpu
    finally:
        connection.close()


def _floor_postgres(database_url: str, work: Work) -> tuple[float, float]:
    import psycopg

    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as connection:
        cursor = connection.cursor()
        start, cpu = time.perf_counter(), time.process_time()
        for table, columns, rows in work:
            cursor.executemany(_insert_sql(table, columns, "%s"), rows)
        connection.commit()
        return time.perf_counter() - start, time.process_time() - cpu


# -- profile ---------------------------------------------------------------------------------------


def profile(
    cold_path: Path, warm_path: Path, kinds: list[str], scratch: Path, pg_url: str | None, top: int
) -> None:
    """cProfile ``parse_junit_xml``, then ``ingest_run`` (cold, warm) per database, in-process."""
    from pytest_testviz.core import parse_junit_xml
    from server import create_app
    from server.ingest.store import ingest_run
    from server.storage.db import db

    def show(label: str, profiler: cProfile.Profile, seconds: float) -> None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).strip_dirs()
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
        print(f"\n===== {label}: {seconds:.2f} s under the profiler =====")
        print(out.getvalue())

    reports = []
    for label, path in (("parse cold", cold_path), ("parse warm", warm_path)):
        profiler = cProfile.Profile()
        start = time.perf_counter()
        reports.append(profiler.runcall(parse_junit_xml, path.read_bytes(), detect_sidecar=False))
        show(label, profiler, time.perf_counter() - start)
    for kind in kinds:
        with fresh_database(kind, scratch, pg_url) as url:
            app = create_app(
                {"database_url": url, "watch": False, "analysis_in_background": False,
                 "mapping_enabled": False, "integrity_enabled": False}
            )  # fmt: skip
            with app.app_context():
                for run, report in zip(("cold", "warm"), reports, strict=True):
                    profiler = cProfile.Profile()
                    start = time.perf_counter()
                    profiler.runcall(ingest_run, report, db.session)
                    show(f"ingest_run {run}, {kind}", profiler, time.perf_counter() - start)
                db.session.remove()
                db.engine.dispose()


# -- runner ----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=100_000, help="testcases per report")
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("TESTVIZ_TEST_POSTGRES_URL"),
        help="a PostgreSQL server to create databases on [$TESTVIZ_TEST_POSTGRES_URL]",
    )
    parser.add_argument("--profile", action="store_true", help="cProfile an in-process ingest")
    parser.add_argument("--top", type=int, default=25, help="lines per profile table")
    args = parser.parse_args()

    kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    if "postgres" in kinds and not args.pg_url:
        if args.db == "postgres":
            parser.error("--db postgres needs --pg-url or TESTVIZ_TEST_POSTGRES_URL")
        print("PostgreSQL skipped: no --pg-url and no TESTVIZ_TEST_POSTGRES_URL")
        kinds.remove("postgres")

    from pytest_testviz.core import parse_junit_xml

    with tempfile.TemporaryDirectory(prefix="testviz-ingest-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        cold_path, warm_path = scratch / "cold.xml", scratch / "warm.xml"
        stats = write_report(cold_path, args.tests, seed=0, nested=True)
        flipped = write_warm_report(cold_path, warm_path)
        print(
            f"report: {stats.tests} testcases ({stats.failed} failed, {stats.errors} errors, "
            f"{stats.skipped} skipped), {stats.size / MIB:.1f} MiB; warm run: {flipped} more "
            "failures"
        )
        if args.profile:
            profile(cold_path, warm_path, kinds, scratch, args.pg_url, args.top)
            return 0
        cold, warm = cold_path.read_bytes(), warm_path.read_bytes()
        report = parse_junit_xml(cold, detect_sidecar=False)
        testcases = report.testcases
        print(
            f"{platform.python_implementation()} {platform.python_version()}, "
            f"{os.cpu_count()} CPUs, {WORKERS} gunicorn sync workers\n"
        )
        lines = []
        for kind in kinds:
            with fresh_database(kind, scratch, args.pg_url) as url:
                version = server_version(url)
                uploads = bench_server(url, cold, warm, testcases)
            rows = floor_rows(report, kind)
            floors = []
            for label, tables in FLOORS:
                with fresh_database(kind, scratch, args.pg_url) as url:
                    seconds, cpu = bench_floor(url, rows, tables)
                floors.append((label, testcases / seconds))
                print(f"{kind} ({version}): floor executemany, {label}: {seconds:.2f} s (client "
                      f"CPU {cpu:.1f} s) = {testcases / seconds:,.0f} testcases/s")  # fmt: skip
            for u in uploads:
                ratios = [u.rate / rate for _, rate in floors]
                verdict = "met" if ratios[-1] >= TARGET_VS_FLOOR else "NOT met"
                line = (
                    f"  {kind:8} {u.label}: {u.seconds:6.2f} s (worker CPU "
                    f"{u.worker_cpu_seconds:.1f} s) = {u.rate:8,.0f} testcases/s, "
                    f"{ratios[-1]:4.2f} x floor of all rows (target {TARGET_VS_FLOOR}: "
                    f"{verdict}), {ratios[0]:4.2f} x floor of definitions + results; worker "
                    f"peak RSS {u.rss_after_upload_mib:.0f} MiB after upload, "
                    f"{u.rss_after_analysis_mib:.0f} MiB after analysis "
                    f"({u.analysis_seconds:.1f} s)"
                )
                print(line)
                lines.append(line)
        print("\nsummary:\n" + "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
