"""Plugin overhead benchmark: what pytest-testviz adds to a 10,000-test pytest run.

Generates a project of trivial tests (100 modules x 100 tests: plain functions, methods of a
class and a parametrized function in each), then times five ways of running it, each a fresh
``python -m pytest -q -p no:cacheprovider`` subprocess, interleaved round by round
(A B C D E, A B C D E, ...) so that drift on a shared machine hits every variant alike:

* ``bare``      pytest alone
* ``junitxml``  pytest ``--junitxml=out.xml`` (pytest's own JUnit writer)
* ``write``     the plugin, files only (``--testviz-dir``)
* ``push``      the plugin, files + upload (``--testviz-url``) to a local gunicorn server,
                started once before the rounds
* ``allure``    allure-pytest ``--alluredir`` (the peer), when it is installed

Every variant loads only its own reporting plugin: testviz and allure-pytest are blocked
(``-p no:...``) where they are not the one measured, and every other installed pytest11 plugin
(xdist, rerunfailures, hypothesis, randomly, ...) is blocked in all of them. One untimed
warm-up round comes first (bytecode caches, page cache, the server's first request). Every run
is checked for its output -- the pass count, the XML's testcases, the server's stored run with
all its tests, allure's result files -- so the benchmark cannot silently measure nothing.

Each run is measured three ways: its wall clock; its CPU (user + system of the pytest
process and the children it waits for, such as git); and, for the pushing run, the CPU the
server's request threads spent meanwhile -- what the upload waits for: storing the queued
upload (the plugin asks for ``Prefer: respond-async``), or the whole ingest on a server that
ingests synchronously (read from ``/proc``). "cost" is the pytest CPU plus that server CPU:
what the run costs on its critical path, which on an idle machine is about what its wall
clock shows, and which a loaded machine inflates far less than the wall clock. The server's
background threads (the queued ingest, the analysis) work after pytest has exited; their CPU
until the run is stored and analysed is printed beside it ("bg"), not added to the cost.

Then it prints medians, minimums and ratios, and whether the targets are met -- on wall time
and on cost -- (it never fails on a missed target, only on a variant that did not produce
its output):

* write-only overhead (write - bare) <= ``--junitxml``'s overhead (junitxml - bare)
* the push adds (push - write) < 1 s
* the whole pushing run (push) within 1.10x bare

When a target is missed (or with ``--profile always``) it profiles one ``--testviz-dir`` run
with cProfile and ``-X importtime`` and prints the plugin's hotspots.

With ``--instructions`` it then runs every variant once more under valgrind's cachegrind
and compares the instructions each pytest process executed: a count that does not move
with the neighbours' load, as wall and CPU time do on a shared machine (about 30 times
slower; the runs go in parallel, one per CPU).

    python bench/plugin_bench.py [--rounds 5] [--tests 10000] [--profile auto|always|never]
                                 [--skip allure] [--instructions]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PROJECT = "plugin-bench"
PER_MODULE = 100

# Targets from the issue.
TARGET_PUSH_SECONDS = 1.0
TARGET_PUSH_RATIO = 1.10

# The two reporters under test, by pytest11 entry-point name.
TESTVIZ_EP = "testviz"
ALLURE_EP = "allure_pytest"
TESTVIZ_MODULE = "pytest_testviz.plugin"

SERVER_START_TIMEOUT = 60.0
SERVER_SETTLE_TIMEOUT = 180.0


# -- the generated project ----------------------------------------------------------------------


def module_source(index: int, count: int) -> str:
    """One test module with ``count`` trivial tests: functions, a class, a parametrized one."""
    params = count // 5
    methods = count // 10
    plain = count - params - methods
    lines = ["import pytest", "", ""]
    for number in range(plain):
        lines += [f"def test_plain_{number}():", f"    assert {number} + 1 == {number + 1}", "", ""]
    if methods:
        lines.append(f"class TestGroup{index}:")
        for number in range(methods):
            lines += [f"    def test_method_{number}(self):", "        assert True", ""]
        lines.append("")
    if params:
        lines += [
            f"@pytest.mark.parametrize('value', range({params}))",
            "def test_param(value):",
            "    assert value >= 0",
            "",
        ]
    return "\n".join(lines)


def generate_project(root: Path, tests: int) -> int:
    """Write the project (its own ini, so no outer conftest or config applies); the module count."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pytest.ini").write_text("[pytest]\ntestpaths = tests\n", encoding="utf-8")
    package = root / "tests"
    package.mkdir(exist_ok=True)
    modules = 0
    remaining = tests
    while remaining > 0:
        count = min(PER_MODULE, remaining)
        path = package / f"test_module_{modules:03d}.py"
        path.write_text(module_source(modules, count), encoding="utf-8")
        remaining -= count
        modules += 1
    # A git checkout, as a real project is: the plugin asks git for the commit and branch.
    if shutil.which("git"):
        identity = ["-c", "user.name=bench", "-c", "user.email=bench@localhost"]
        for command in (
            ["init", "-q", "-b", "main"],
            ["add", "-A"],
            [*identity, "-c", "commit.gpgsign=false", "commit", "-q", "-m", "bench project"],
        ):
            subprocess.run(["git", *command], cwd=root, capture_output=True, check=False)
    return modules


# -- the environment the pytest children run in -------------------------------------------------


def child_env() -> dict[str, str]:
    """This environment, minus anything that would change a pytest run behind our back.

    PYTHONPATH gets the checkout (absolute: the children run in the project directory), so the
    plugin imports without an install.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TESTVIZ_", "PYTEST_", "ALLURE_"))
    }
    paths = [str(REPO)]
    for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        if entry:
            absolute = str(Path(entry).resolve())
            if absolute not in paths:
                paths.append(absolute)
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # the warm-up round writes the bytecode caches
    return env


_PROBE = """
import json, sys, importlib.metadata as m, pytest
names = sorted({ep.name for ep in m.entry_points(group="pytest11")})
def version(name):
    try:
        return m.version(name)
    except m.PackageNotFoundError:
        return None
print(json.dumps({"entry_points": names, "pytest": pytest.__version__,
                  "allure": version("allure-pytest"), "python": sys.version.split()[0]}))
"""


@dataclass
class Probe:
    entry_points: list[str]
    pytest: str
    allure: str | None
    python: str

    @property
    def testviz_autoloads(self) -> bool:
        return TESTVIZ_EP in self.entry_points

    @property
    def allure_autoloads(self) -> bool:
        return ALLURE_EP in self.entry_points

    @property
    def noise(self) -> list[str]:
        """Installed third-party plugins other than the two reporters: blocked everywhere."""
        return [name for name in self.entry_points if name not in (TESTVIZ_EP, ALLURE_EP)]


def probe(project: Path, env: dict[str, str]) -> Probe:
    """Ask the children's interpreter, in the children's environment, what pytest will load."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return Probe(**json.loads(done.stdout.splitlines()[-1]))


# -- the local server ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str, timeout: float = 10.0) -> object:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # http://127.0.0.1 only
        return json.loads(response.read())


class Server:
    """``gunicorn -w 2 'server:create_app()'`` on a fresh SQLite database."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> str | None:
        """Start and wait until ``/healthz`` answers; ``None``, or why it could not."""
        env = {k: v for k, v in child_env().items() if not k.startswith("CCDASH_")}
        env["TESTVIZ_DATABASE_URL"] = f"sqlite:///{self.workdir / 'server.sqlite3'}"
        env["TESTVIZ_WATCH"] = "false"
        # A job worker inside each web worker stores the queued uploads, so that its CPU is
        # counted with theirs (request_cpu "all"); production runs it as `flask worker`.
        env["TESTVIZ_EMBEDDED_WORKER"] = "true"
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--chdir",
            str(REPO),
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{self.port}",
            "--timeout",
            "300",
            "server:create_app()",
        ]
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}"
            try:
                health = get_json(f"{self.url}/healthz", timeout=2)
                if isinstance(health, dict) and health.get("status") == "ok":
                    return None
            except (OSError, ValueError):
                pass
            time.sleep(0.25)
        waited = f"{SERVER_START_TIMEOUT:g} s"
        return f"no answer from {self.url}/healthz in {waited}:\n{self.log_tail()}"

    def request_cpu(self, threads: str = "main") -> float | None:
        """CPU seconds (user + system) the workers have used so far: their main threads, or
        with ``threads="all"`` the whole processes.

        A sync gunicorn worker handles a request on its main thread: with the default
        ``Prefer: respond-async`` upload that is storing the upload, without it the whole
        ingest, parse included. The queued ingest and the analysis run on the embedded job
        worker's threads, counted only by ``"all"``. Read from ``/proc`` (Linux); ``None``
        elsewhere.
        """
        if self.process is None:
            return None
        try:
            tick = os.sysconf("SC_CLK_TCK")
            total = 0
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                stat = f"/proc/{entry.name}/stat"
                if threads == "main":
                    stat = f"/proc/{entry.name}/task/{entry.name}/stat"
                try:
                    with open(stat, "rb") as stream:
                        fields = stream.read().rsplit(b")", 1)[1].split()
                except OSError:
                    continue  # gone meanwhile
                if int(fields[1]) == self.process.pid:  # ppid: a worker of our gunicorn
                    total += int(fields[11]) + int(fields[12])  # utime, stime
            return total / tick
        except (OSError, ValueError, IndexError):
            return None

    def log_tail(self, size: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-size:]
        except OSError:
            return "(no log)"

    def find_run(self, run_id: str) -> dict[str, object] | None:
        body = get_json(f"{self.url}/api/tests/runs?project={PROJECT}&per_page=500")
        runs = body.get("runs", []) if isinstance(body, dict) else []
        for run in runs:
            if isinstance(run, dict) and run.get("run_id") == run_id:
                return run
        return None

    def settled_run(self, run_id: str) -> tuple[dict[str, object] | None, str]:
        """The stored run once its background analysis is done (so it cannot slow the next run)."""
        deadline = time.monotonic() + SERVER_SETTLE_TIMEOUT
        run = None
        while time.monotonic() < deadline:
            try:
                run = self.find_run(run_id)
            except (OSError, ValueError) as exc:
                return None, f"GET /api/tests/runs failed: {exc}"
            if run is not None and "pending" not in (
                run.get("mapping_state"),
                run.get("integrity_state"),
            ):
                return run, ""
            time.sleep(0.25)
        if run is None:
            return None, f"run {run_id} is not in GET /api/tests/runs?project={PROJECT}"
        return run, f"run {run_id} still has pending analysis after {SERVER_SETTLE_TIMEOUT:g} s"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)  # the gunicorn master stops its own workers
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


# -- variants -----------------------------------------------------------------------------------


@dataclass
class Run:
    """One finished pytest subprocess."""

    seconds: float
    cpu: float  # user + system CPU of the pytest process and the children it waited for (git)
    returncode: int
    stdout: str
    stderr: str
    out: Path
    #: CPU the server's request threads spent during the run (the upload's ingest); 0 without
    #: a server, None where it cannot be read (no /proc).
    server_cpu: float | None = 0.0
    #: The load average (1 min) when the run ended.
    load: float = 0.0
    #: The server workers' whole CPU before the run, to measure the background threads.
    server_all_before: float | None = None

    @property
    def cost(self) -> float:
        """CPU seconds the run cost in all: pytest's, plus the server's for its upload."""
        return self.cpu + (self.server_cpu or 0.0)


@dataclass
class Variant:
    key: str
    label: str
    args: Callable[[Path], list[str]]  # pytest arguments, given the run's fresh output directory
    check: Callable[[Run], str | None]  # None when the run produced its output; else what is wrong
    enabled: bool = True
    why_not: str = ""
    samples: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    server_cpu: list[float] = field(default_factory=list)
    #: CPU of the server's background threads until the run was stored and analysed.
    background_cpu: list[float] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    loads: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def series(self, metric: str) -> list[float]:
        """``wall`` (the samples) or ``cost`` (client + server CPU) per round."""
        return self.samples if metric == "wall" else self.cost

    @property
    def best(self) -> float:
        return min(self.samples)


_PASSED = re.compile(r"\b(\d+) passed\b")
_PUSHED = re.compile(r"testviz: run ([0-9a-f]+) (created|skipped|queued)")


def count_testcases(path: Path) -> int:
    return path.read_bytes().count(b"<testcase ")


def check_bare(tests: int) -> Callable[[Run], str | None]:
    def check(run: Run) -> str | None:
        if run.returncode != 0:
            return f"pytest exited with {run.returncode}: {tail(run)}"
        found = _PASSED.findall(run.stdout)
        if not found or int(found[-1]) != tests:
            return f"expected '{tests} passed' in the summary: {tail(run)}"
        return None

    return check


def check_junitxml(tests: int) -> Callable[[Run], str | None]:
    bare = check_bare(tests)

    def check(run: Run) -> str | None:
        path = run.out / "out.xml"
        if not path.is_file():
            return f"{path} was not written"
        cases = count_testcases(path)
        return bare(run) or (None if cases == tests else f"out.xml has {cases} testcases")

    return check


def check_write(tests: int) -> Callable[[Run], str | None]:
    bare = check_bare(tests)

    def check(run: Run) -> str | None:
        if problem := bare(run):
            return problem
        reports = [p for p in (run.out / "testviz").glob("*.xml") if not p.name.startswith(".")]
        if len(reports) != 1:
            return f"expected one pending report in {run.out / 'testviz'}, found {len(reports)}"
        cases = count_testcases(reports[0])
        if cases != tests:
            return f"{reports[0].name} has {cases} testcases"
        if not list((run.out / "testviz").glob(f"{reports[0].stem}*.json")):
            return f"no sidecar beside {reports[0].name}"
        return None

    return check


def check_push(tests: int, server: Server) -> Callable[[Run], str | None]:
    bare = check_bare(tests)

    def check(run: Run) -> str | None:
        if problem := bare(run):
            return problem
        pushed = _PUSHED.search(run.stdout)
        if pushed is None:
            return f"no 'testviz: run ... queued' line: {tail(run)}"
        run_id = pushed.group(1)
        if not (run.out / "testviz" / "sent" / f"{run_id}.xml").is_file():
            return f"{run_id}.xml was not moved to sent/ after the upload"
        stored, problem = server.settled_run(run_id)
        if stored is None:
            return problem
        totals = stored.get("totals")
        stored_tests = totals.get("tests") if isinstance(totals, dict) else None
        if stored_tests != tests:
            return f"the server stored run {run_id} with {stored_tests} tests, not {tests}"
        return problem or None

    return check


def check_allure(tests: int) -> Callable[[Run], str | None]:
    bare = check_bare(tests)

    def check(run: Run) -> str | None:
        if problem := bare(run):
            return problem
        results = len(list((run.out / "allure").glob("*-result.json")))
        return None if results == tests else f"allure wrote {results} result files, not {tests}"

    return check


def tail(run: Run, size: int = 600) -> str:
    text = (run.stdout[-size:] + "\n" + run.stderr[-size:]).strip()
    return f"\n{text}" if text else "(no output)"


def build_variants(
    tests: int, found: Probe, server: Server | None, server_problem: str | None
) -> tuple[list[Variant], list[str]]:
    """The five variants and the arguments common to all of them."""
    common = ["-q", "-p", "no:cacheprovider"]
    for name in found.noise:
        common += ["-p", f"no:{name}"]
    no_testviz = ["-p", f"no:{TESTVIZ_EP}"] if found.testviz_autoloads else []
    with_testviz = [] if found.testviz_autoloads else ["-p", TESTVIZ_MODULE]
    no_allure = ["-p", f"no:{ALLURE_EP}"] if found.allure_autoloads else []
    testviz_common = [*with_testviz, *no_allure, f"--testviz-project={PROJECT}"]

    def write_args(out: Path) -> list[str]:
        return [*testviz_common, f"--testviz-dir={out / 'testviz'}"]

    def push_args(out: Path) -> list[str]:
        assert server is not None
        return [*write_args(out), f"--testviz-url={server.url}"]

    variants = [
        Variant("bare", "bare pytest", lambda out: [*no_testviz, *no_allure], check_bare(tests)),
        Variant(
            "junitxml",
            "pytest --junitxml",
            lambda out: [*no_testviz, *no_allure, f"--junitxml={out / 'out.xml'}"],
            check_junitxml(tests),
        ),
        Variant("write", "testviz --testviz-dir", write_args, check_write(tests)),
        Variant(
            "push",
            "testviz --testviz-url",
            push_args,
            check_push(tests, server) if server is not None else check_bare(tests),
            enabled=server is not None and server_problem is None,
            why_not=f"the server did not start: {server_problem}",
        ),
        Variant(
            "allure",
            "allure-pytest --alluredir",
            lambda out: [*no_testviz, f"--alluredir={out / 'allure'}"],
            check_allure(tests),
            enabled=found.allure_autoloads,
            why_not="allure-pytest is not installed (pip install allure-pytest)",
        ),
    ]
    return variants, common


def run_pytest(
    project: Path,
    env: dict[str, str],
    args: list[str],
    out: Path,
    prefix: list[str] | None = None,
    server: Server | None = None,
    wrapper: list[str] | None = None,
) -> Run:
    """One pytest subprocess: its wall time, its CPU, and the server's CPU meanwhile.

    ``prefix`` goes between the interpreter and ``pytest`` (``-m`` by default); ``wrapper``
    before the interpreter (valgrind).
    """
    out.mkdir(parents=True)
    command = [*(wrapper or []), sys.executable, *(prefix or ["-m"]), "pytest", *args]
    server_before = server.request_cpu() if server is not None else None
    server_all_before = server.request_cpu("all") if server is not None else None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_after = server.request_cpu() if server is not None else None
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    server_cpu = (
        server_after - server_before
        if server_before is not None and server_after is not None
        else (None if server is not None else 0.0)
    )
    return Run(
        seconds,
        cpu,
        done.returncode,
        done.stdout,
        done.stderr,
        out,
        server_cpu=server_cpu,
        load=os.getloadavg()[0],
        server_all_before=server_all_before,
    )


def run_rounds(
    variants: list[Variant],
    common: list[str],
    project: Path,
    env: dict[str, str],
    outdir: Path,
    rounds: int,
    server: Server | None = None,
) -> None:
    active = [variant for variant in variants if variant.enabled]
    for round_ in range(rounds + 1):  # round 0 is the untimed warm-up
        name = "warm-up" if round_ == 0 else f"round {round_}/{rounds}"
        for variant in active:
            out = outdir / f"{round_}-{variant.key}"
            run = run_pytest(project, env, [*common, *variant.args(out)], out, server=server)
            problem = variant.check(run)  # a push's check waits for the background work
            background = 0.0
            if server is not None and run.server_all_before is not None:
                server_all_after = server.request_cpu("all")
                if server_all_after is not None:
                    background = server_all_after - run.server_all_before - (run.server_cpu or 0)
            shutil.rmtree(out, ignore_errors=True)
            if problem is not None:
                variant.failures.append(f"{name}: {problem}")
                print(
                    f"  {name:<12} {variant.label:<26} {run.seconds:7.2f} s   ! {problem}",
                    flush=True,
                )
                continue
            if round_ > 0:
                variant.samples.append(run.seconds)
                variant.cpu.append(run.cpu)
                variant.server_cpu.append(run.server_cpu or 0.0)
                variant.background_cpu.append(background)
                variant.cost.append(run.cost)
                variant.loads.append(run.load)
            server_part = f" + server {run.server_cpu:4.2f} s" if run.server_cpu else ""
            if background > 0:
                server_part += f"; background {background:4.2f} s"
            print(
                f"  {name:<12} {variant.label:<26} {run.seconds:7.2f} s  "
                f"(cpu {run.cpu:5.2f} s{server_part}; load {run.load:4.1f})",
                flush=True,
            )


# -- reporting ----------------------------------------------------------------------------------


def paired(a: Variant, b: Variant, metric: str = "wall") -> float | None:
    """Median of the per-round differences a - b (same round, same machine weather)."""
    first, second = a.series(metric), b.series(metric)
    if len(first) != len(second) or not first:
        return None
    return statistics.median(x - y for x, y in zip(first, second, strict=True))


def print_table(variants: dict[str, Variant]) -> None:
    bare = variants["bare"]
    header = (
        f"{'variant':<28} {'wall med':>8} {'min':>6} {'max':>6} {'cpu med':>8} "
        f"{'server':>7} {'bg':>6} {'cost med':>8} {'wall x':>7} {'cost x':>7} {'+cost':>6} "
        f"{'+cost pr':>8}"
    )
    print(header)
    print("-" * len(header))
    for variant in variants.values():
        if not variant.samples:
            reason = variant.why_not if not variant.enabled else "no valid sample"
            print(f"{variant.label:<28} {'-':>8}  {reason}")
            continue
        cost = statistics.median(variant.cost)
        bare_cost = statistics.median(bare.cost) if bare.cost else float("nan")
        ratio = variant.median / bare.median if bare.samples else float("nan")
        pair = paired(variant, bare, "cost")
        print(
            f"{variant.label:<28} {variant.median:>8.2f} {min(variant.samples):>6.2f} "
            f"{max(variant.samples):>6.2f} {statistics.median(variant.cpu):>8.2f} "
            f"{statistics.median(variant.server_cpu):>7.2f} "
            f"{statistics.median(variant.background_cpu):>6.2f} {cost:>8.2f} "
            f"{ratio:>6.3f}x {cost / bare_cost:>6.3f}x {cost - bare_cost:>+6.2f} "
            f"{'-' if pair is None else f'{pair:+.2f}':>8}"
        )
    loads = [load for variant in variants.values() for load in variant.loads]
    print(
        "'wall' is the pytest subprocess's wall clock. 'cpu' is its user+system time (with the\n"
        "git it runs); 'server' the CPU of the server's request threads meanwhile (storing the\n"
        "queued upload; the whole ingest when the server ingests synchronously); 'bg' the CPU\n"
        "of its background threads until the run was stored and analysed (the queued ingest and\n"
        "the analysis: after pytest has exited, not in 'cost'); 'cost' = cpu + server. 'x'\n"
        "compare medians with bare's; '+cost' is the difference of medians, '+cost pr' the\n"
        "median of per-round differences."
    )
    if loads:
        print(
            f"Load average (1 min) at the end of the timed runs: {min(loads):.1f} to "
            f"{max(loads):.1f} on {os.cpu_count()} CPUs. Above the CPU count, wall time mostly "
            "measures the neighbours: read 'cost'."
        )


def print_targets(variants: dict[str, Variant]) -> list[str]:
    """Print each target as met / not met, on wall time and on cost; the missed ones."""
    missed: list[str] = []
    for metric, title in (
        ("wall", "on wall time (what a user waits for on an idle machine)"),
        ("cost", "on cost: pytest's CPU + the server's CPU for the upload (steady under load)"),
    ):
        print(f"\nTargets {title}")
        missed += _targets(variants, metric)
    return missed


def _targets(variants: dict[str, Variant], metric: str) -> list[str]:
    series = {k: v.series(metric) for k, v in variants.items()}
    med = {k: statistics.median(v) for k, v in series.items() if v}
    missed = []

    def line(target: str, figure: str, met: bool | None) -> None:
        verdict = "not measured" if met is None else "met" if met else "NOT MET"
        print(f"  {target:<46} {figure:>26}  {verdict}")
        if met is False:
            missed.append(f"{target} ({metric})")

    write_target = "write-only overhead <= --junitxml overhead"
    if {"bare", "junitxml", "write"} <= med.keys():
        write_cost, junit_cost = med["write"] - med["bare"], med["junitxml"] - med["bare"]
        line(write_target, f"{write_cost:+.2f} s vs {junit_cost:+.2f} s", write_cost <= junit_cost)
    else:
        line(write_target, "-", None)
    push_target = f"push adds < {TARGET_PUSH_SECONDS:g} s (push - write)"
    if {"write", "push"} <= med.keys():
        push_cost = med["push"] - med["write"]
        line(push_target, f"{push_cost:+.2f} s", push_cost < TARGET_PUSH_SECONDS)
    else:
        line(push_target, "-", None)
    ratio_target = f"pushing run within {TARGET_PUSH_RATIO:.2f}x bare"
    if {"bare", "push"} <= med.keys():
        ratio = med["push"] / med["bare"]
        line(ratio_target, f"{ratio:.3f}x", ratio <= TARGET_PUSH_RATIO)
    else:
        line(ratio_target, "-", None)
    return missed


# -- profiling ----------------------------------------------------------------------------------

# A throwaway pytest plugin, written into the work directory and loaded with ``-p`` ahead of
# testviz: it times the import of ``pytest_testviz.plugin``, then wraps the plugin's functions
# with perf_counter accumulators (far lighter than a profiler) and writes the totals as JSON.
TIMING_MODULE = "testviz_bench_timing"
TIMING_SOURCE = """
import atexit, functools, json, os, time
from collections import defaultdict

_start = time.perf_counter()
import pytest_testviz.plugin  # noqa: E402  (light: the working parts load when switched on)
_imported = time.perf_counter() - _start
_start = time.perf_counter()
import pytest_testviz.session as plugin  # noqa: E402
_session_imported = time.perf_counter() - _start
import pytest_testviz.core.sidecar as core_sidecar  # noqa: E402
import pytest_testviz.writer as writer  # noqa: E402
_upload_imported = None
if os.environ.get("PLUGIN_BENCH_PUSH"):
    _start = time.perf_counter()
    import pytest_testviz.upload as upload  # noqa: E402  (the plugin imports it to send)
    _upload_imported = time.perf_counter() - _start

totals = defaultdict(float)
calls = defaultdict(int)


def _wrap(owner, name, label):
    original = getattr(owner, name)

    @functools.wraps(original)  # pluggy reads hook arguments and markers through __wrapped__
    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals[label] += time.perf_counter() - start
            calls[label] += 1

    setattr(owner, name, timed)


WRAPPED = [
    (plugin.TestvizSession, "pytest_runtest_logreport", "per test: record each report"),
    (plugin.TestvizSession, "pytest_sessionfinish", "at the end: pytest_sessionfinish"),
    (plugin.TestvizSession, "_attach_meta", "at the end:   metadata of every item"),
    (plugin, "source_hash", "at the end:     of which source_hash"),
    (plugin, "_codeowners", "at the end:   CODEOWNERS"),
    (plugin, "junit_xml", "at the end:   JUnit XML"),
    (plugin, "git_info", "at the end:   git_info (one git subprocess)"),
    (plugin, "environment_facts", "at the end:   environment_facts (all distributions)"),
    (plugin, "sidecar", "at the end:   sidecar JSON (and its validation)"),
    (writer, "test_meta", "at the end:     of which the per-test entries"),
    (plugin.spool, "write", "at the end:   write both files"),
    (plugin.spool, "mark_sent", "at the end:   move to sent/ and prune"),
]
if _upload_imported is not None:
    WRAPPED.append((upload, "send_spooled", "at the end:   upload (gzip, POST, server answer)"))
for owner, name, label in WRAPPED:
    _wrap(owner, name, label)


@atexit.register
def _dump():
    rows = {label: [totals[label], calls[label]] for _, _, label in WRAPPED if calls[label]}
    imports = {"import pytest_testviz.plugin (after pytest)": [_imported, 1]}
    imports["import the working parts when switched on (session)"] = [_session_imported, 1]
    if _upload_imported is not None:
        imports["import the upload module (urllib), to send"] = [_upload_imported, 1]
    rows = {**imports, **rows}
    with open(os.environ["PLUGIN_BENCH_TIMINGS"], "w") as stream:
        json.dump(rows, stream)
"""


def plugin_breakdown(
    project: Path, env: dict[str, str], common: list[str], variant: Variant, workdir: Path
) -> None:
    """One run of ``variant`` with the timing plugin: where the plugin's own time goes."""
    helper_dir = workdir / "timing-plugin"
    helper_dir.mkdir(exist_ok=True)
    (helper_dir / f"{TIMING_MODULE}.py").write_text(TIMING_SOURCE, encoding="utf-8")
    timings = workdir / f"timings-{variant.key}.json"
    timed_env = {
        **env,
        "PYTHONPATH": os.pathsep.join([str(helper_dir), env.get("PYTHONPATH", "")]),
        "PLUGIN_BENCH_TIMINGS": str(timings),
    }
    if variant.key == "push":
        timed_env["PLUGIN_BENCH_PUSH"] = "1"
    out = workdir / f"breakdown-{variant.key}"
    run = run_pytest(
        project, env=timed_env, args=["-p", TIMING_MODULE, *common, *variant.args(out)], out=out
    )
    problem = variant.check(run)
    shutil.rmtree(out, ignore_errors=True)
    if problem or not timings.is_file():
        print(f"  ! the timed '{variant.label}' run failed: {problem or 'no timings written'}")
        return
    rows: dict[str, list[float]] = json.loads(timings.read_text(encoding="utf-8"))
    print(
        f"\nWhere '{variant.label}' spends its own time (perf_counter wrappers, one run of "
        f"{run.seconds:.1f} s wall, {run.cpu:.1f} s CPU):"
    )
    per_test = sum(v[0] for k, v in rows.items() if k.startswith("per test: "))
    end = rows.get("at the end: pytest_sessionfinish", [0.0])[0]
    imported = sum(v[0] for k, v in rows.items() if k.startswith("import "))
    for label, (seconds, count) in rows.items():
        print(f"  {seconds:>8.3f} s {int(count):>7} calls  {label}")
    total = imported + per_test + end
    print(f"  {total:>8.3f} s in all (imports + per-test hooks + session finish)")


def profile_plugin(
    project: Path, env: dict[str, str], common: list[str], variant: Variant, outdir: Path, top: int
) -> None:
    """cProfile one ``--testviz-dir`` run, then ``-X importtime`` the plugin's imports."""
    import pstats

    out = outdir / "profile"
    stats_path = outdir / "plugin.prof"
    print(f"\nProfiling one '{variant.label}' run (cProfile; times inflated by profiling)")
    run = run_pytest(
        project,
        env,
        [*common, *variant.args(out)],
        out,
        prefix=["-m", "cProfile", "-o", str(stats_path), "-m"],
    )
    if problem := variant.check(run):
        print(f"  ! the profiled run did not produce its output: {problem}")
    shutil.rmtree(out, ignore_errors=True)
    stats = pstats.Stats(str(stats_path))
    total = stats.total_tt  # type: ignore[attr-defined]
    entries = stats.stats  # type: ignore[attr-defined]

    def label(func: tuple[str, int, str]) -> str:
        filename, line, name = func
        if filename == "~":
            return name
        if "pytest_testviz/" in filename:
            short = filename.split("pytest_testviz/")[-1]
        else:
            short = "/".join(Path(filename).parts[-2:])
        return f"{short}:{line}({name})"

    ours = [(func, row) for func, row in entries.items() if "pytest_testviz" in func[0]]
    ours.sort(key=lambda item: item[1][3], reverse=True)
    print(
        f"  whole run under the profiler: {total:.2f} s; the plugin's functions by cumulative "
        f"time (top {top}):"
    )
    print(f"  {'cum s':>7} {'% run':>6} {'own s':>7} {'calls':>8}  function")
    for func, (_, calls, own, cumulative, _) in ours[:top]:
        print(
            f"  {cumulative:>7.3f} {100 * cumulative / total:>5.1f}% {own:>7.3f} {calls:>8}  "
            f"{label(func)}"
        )

    print("\n  Outside code the plugin calls, by cumulative time of those calls (overlapping):")
    from_plugin: dict[tuple[str, int, str], tuple[int, float]] = {}
    for func, (_, _, _, _, callers) in entries.items():
        if "pytest_testviz" in func[0] or func[0].startswith("<frozen"):
            continue  # imports are the <module> rows above
        for caller, (_, calls, _, cumulative) in callers.items():
            if "pytest_testviz" in caller[0]:
                before_calls, before = from_plugin.get(func, (0, 0.0))
                from_plugin[func] = (before_calls + calls, before + cumulative)
    ranked = sorted(from_plugin.items(), key=lambda item: item[1][1], reverse=True)
    for func, (calls, cumulative) in ranked[:top]:
        print(f"  {cumulative:>7.3f} {100 * cumulative / total:>5.1f}% {calls:>8}  {label(func)}")

    print("\n  Import time after pytest (python -X importtime -c 'import pytest; import ...'):")
    for module in (TESTVIZ_MODULE, "allure_pytest.plugin"):
        seconds = import_seconds(project, env, module)
        print(f"  {'-' if seconds is None else f'{seconds:.3f} s':>9}  {module}")


def import_seconds(project: Path, env: dict[str, str], module: str) -> float | None:
    """Cumulative import time of ``module`` (and what it pulls in) once pytest is imported."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import pytest; import {module}"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return None
    for line in done.stderr.splitlines():
        parts = [part.strip() for part in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[2] == module and parts[1].isdigit():
            return int(parts[1]) / 1e6
    return None


# -- instruction counts -------------------------------------------------------------------------

_INSTRUCTIONS = re.compile(r"I\s+refs:\s+([\d,]+)")


def count_instructions(
    project: Path,
    env: dict[str, str],
    common: list[str],
    variants: list[Variant],
    workdir: Path,
    server: Server | None,
) -> None:
    """Each enabled variant once under cachegrind: instructions of the pytest process alone
    (not git's, not the server's), with a fixed hash seed. Ratios are printed, not judged."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("\n  ! --instructions needs valgrind on PATH (Debian: apt-get install valgrind)")
        return
    active = [variant for variant in variants if variant.enabled]
    seeded = {**env, "PYTHONHASHSEED": "0"}

    def one(variant: Variant) -> tuple[Variant, int | None, str | None, Run]:
        out = workdir / f"instructions-{variant.key}"
        counts = workdir / f"cachegrind-{variant.key}.out"
        wrapper = [
            valgrind,
            "--tool=cachegrind",
            "--cache-sim=no",
            f"--cachegrind-out-file={counts}",
        ]
        run = run_pytest(
            project, seeded, [*common, *variant.args(out)], out, server=server, wrapper=wrapper
        )
        problem = variant.check(run)
        shutil.rmtree(out, ignore_errors=True)
        found = _INSTRUCTIONS.search(run.stderr)
        count = int(found.group(1).replace(",", "")) if found else None
        return variant, count, problem or (None if found else "no instruction count"), run

    print(
        f"\nInstructions executed by each pytest process (valgrind --tool=cachegrind, "
        f"PYTHONHASHSEED=0, {len(active)} runs, {os.cpu_count()} at a time) ...",
        flush=True,
    )
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        results = list(pool.map(one, active))
    counted = {variant.key: count for variant, count, problem, _ in results if not problem}
    bare = counted.get("bare")
    for variant, count, problem, run in results:
        if problem or count is None:
            print(f"  ! {variant.label}: {problem}")
            continue
        ratio = f"{count / bare:6.3f}x  {(count - bare) / 1e9:+6.2f} G" if bare else ""
        server_part = ""
        if variant.key == "push" and run.server_cpu:  # the runs overlap: only the push's own
            server_part = f"  (+ server {run.server_cpu:.2f} s CPU, not counted)"
        print(f"  {variant.label:<28} {count / 1e9:8.2f} G  {ratio}{server_part}")
    if bare and {"junitxml", "write"} <= counted.keys():
        extra, peer = counted["write"] - bare, counted["junitxml"] - bare
        verdict = "met" if extra <= peer else "not met"
        print(
            f"  write-only overhead <= --junitxml overhead: {extra / 1e9:+.2f} G vs "
            f"{peer / 1e9:+.2f} G  {verdict}"
        )
    if bare and "push" in counted:
        ratio_push = counted["push"] / bare
        verdict = "met" if ratio_push <= 1.10 else "not met"
        print(f"  pushing run within 1.10x bare: {ratio_push:.3f}x  {verdict}")


# -- main ---------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds (default 5)")
    parser.add_argument("--tests", type=int, default=10_000, help="tests in the project")
    parser.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="profile one plugin run: when a target is missed (default), always, or never",
    )
    parser.add_argument("--top", type=int, default=20, help="rows in the profile listing")
    parser.add_argument("--workdir", type=Path, help="keep the project and logs here")
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=("bare", "junitxml", "write", "push", "allure"),
        help="leave a variant out (repeatable); e.g. --skip allure for a quicker run",
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="then count each variant's instructions once under valgrind's cachegrind",
    )
    args = parser.parse_args()
    if args.rounds < 1 or args.tests < 1:
        parser.error("--rounds and --tests must be at least 1")

    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="testviz-plugin-bench-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    server: Server | None = None
    try:
        project = workdir / "project"
        start = time.perf_counter()
        modules = generate_project(project, args.tests)
        env = child_env()
        found = probe(project, env)
        print(
            f"testviz plugin benchmark, {datetime.date.today()}: Python {found.python}, pytest "
            f"{found.pytest}, allure-pytest {found.allure or '(not installed)'}, "
            f"{os.cpu_count()} CPUs, {platform.platform()}"
        )
        print(
            f"project: {args.tests:,} tests in {modules} modules, written in "
            f"{time.perf_counter() - start:.1f} s ({project})"
        )
        how = "by its pytest11 entry point" if found.testviz_autoloads else f"-p {TESTVIZ_MODULE}"
        print(
            f"testviz loaded {how}; "
            f"blocked in every variant: {', '.join(found.noise) or '(none installed)'}"
        )

        server = Server(workdir)
        print(f"starting gunicorn -w 2 at {server.url} ...", flush=True)
        server_problem = server.start()
        if server_problem:
            print(f"  ! {server_problem}")
        variants, common = build_variants(args.tests, found, server, server_problem)
        by_key = {variant.key: variant for variant in variants}
        for key in args.skip:
            by_key[key].enabled, by_key[key].why_not = False, "left out (--skip)"
        active = [v.label for v in variants if v.enabled]
        print(
            f"{args.rounds} rounds (after one warm-up) x {len(active)} variants, "
            f"each `python -m pytest {' '.join(common)} ...`:",
            flush=True,
        )
        run_rounds(variants, common, project, env, workdir / "out", args.rounds, server=server)

        print()
        print_table(by_key)
        missed = print_targets(by_key)
        failed = [(v.label, f) for v in variants for f in v.failures]
        for label, failure in failed:
            print(f"  ! {label}: {failure}")
        if args.profile == "always" or (args.profile == "auto" and missed):
            for key in ("write", "push"):
                if by_key[key].enabled:
                    plugin_breakdown(project, env, common, by_key[key], workdir)
            profile_plugin(project, env, common, by_key["write"], workdir, args.top)
        if args.instructions:
            count_instructions(project, env, common, variants, workdir, server)
        return 1 if failed else 0
    finally:
        if server is not None:
            server.stop()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
