"""Real projects' own test suites as the judge of what pytest-testviz stores (issue 13).

    .venv/bin/python bench/real_suites.py [--projects a,b] [--modes plain,xdist,reruns]
                                          [--keep] [--json PATH] [--checkout DIR]

For each pinned project: download its sdist (once, into ``.cache/real_suites/``), build a
venv with this checkout's plugin (editable), pytest, pytest-xdist, pytest-rerunfailures and
the project's own test dependencies (once per set of pins), and run the project's suite in
each mode against a real server on loopback, through the plugin. Beside the plugin, a
recording plugin writes what pytest itself said about every node id. Then each stored run is
read back through the JSON API and compared with that recording, test by test. Prints one
table and the first differences of each cell; exits 1 on any difference. bench/README.md
("Real suites") says how to read it.

Why real suites: synthetic reports only contain the shapes we thought of. Real suites bring
ids that differ only in white space, unittest classes, doctests, xfails, subtests, hypothesis
and plugins doing odd things, and pytest's own verdict to hold the stored run against.

Exit status: 0 no difference, 1 differences, 2 the harness could not run (server, usage),
3 a download or an install failed (for instance, no network).
"""

from __future__ import annotations

import argparse
import configparser
import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PLUGINS = HERE / "real_suites" / "plugins"
SYNTHETIC = HERE / "real_suites" / "subtests_project"
CACHE = REPO / ".cache" / "real_suites"

if str(REPO) not in sys.path:
    sys.path.insert(1, str(REPO))

from pytest_testviz.capture import mangle_nodeid  # noqa: E402

# -- what is run -------------------------------------------------------------------------------

#: The test tools of every project venv (the same versions as the checkout's .venv).
TOOLS = ("pytest==9.2.0", "pytest-xdist==3.8.0", "pytest-rerunfailures==16.7")
MODES = ("plain", "xdist", "reruns")
MODE_ARGS: dict[str, tuple[str, ...]] = {
    "plain": (),
    "xdist": ("-n", "2"),
    "reruns": ("--reruns", "2", "-p", "testviz_realsuites_inject"),
}
#: Bump when what a venv holds changes in a way the pins do not show.
VENV_FORMAT = 1
RUN_TIMEOUT = 1200  # seconds for one suite run
#: Differences shown per cell under the table (all of them go to --json).
SHOWN_PER_CELL = 5


@dataclass(frozen=True)
class Injection:
    """The tests the ``reruns`` mode makes fail (see plugins/testviz_realsuites_inject.py).

    All of them pass when nothing is injected; different functions (and files where the suite
    allows), so that a shared cause is seen across tests, not across one test's parameters.
    """

    first_attempt: str
    always: str
    shared: tuple[str, ...]
    worded: str

    def plan(self, directory: Path) -> dict[str, Any]:
        return {
            "dir": str(directory),
            "first_attempt": self.first_attempt,
            "always": self.always,
            "shared": list(self.shared),
            "worded": self.worded,
        }

    def nodeids(self) -> list[str]:
        return [self.first_attempt, self.always, *self.shared, self.worded]


@dataclass(frozen=True)
class Project:
    """One pinned suite: where it comes from, how its own CI runs it, what it exercises."""

    name: str
    version: str | None  # None: the synthetic suite in bench/real_suites/, nothing to download
    shape: str
    inject: Injection
    args: tuple[str, ...] = ()
    deps: tuple[str, ...] = ()

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}" if self.version else f"{self.name} (synthetic)"


HYPOTHESIS = "hypothesis==6.170.27"
FREEZEGUN = "freezegun==1.5.5"

PROJECTS: tuple[Project, ...] = (
    Project(
        "click",
        "8.5.1",
        "parametrize-heavy (2,400 tests); ids differing only in runs of spaces "
        "(test_boolean_flag_envvar[SHOUT- -False] and [SHOUT-       -False])",
        Injection(
            "tests/test_basic.py::test_basic_group",
            "tests/test_context.py::test_ensure_context_objects",
            (
                "tests/test_basic.py::test_string_option[args1-S:[42]]",
                "tests/test_basic.py::test_int_option[args0-I:[84]]",
            ),
            "tests/test_basic.py::test_int_option[args1-I:[46]]",
        ),
    ),
    Project(
        "more-itertools",
        "11.2.1",
        "unittest-style (TestCase classes only), 21,000 unittest subTest subtests",
        Injection(
            "tests/test_more.py::ChunkedTests::test_none",
            "tests/test_more.py::PeekableTests::test_prepend_truthiness",
            (
                "tests/test_more.py::OneTests::test_too_long_default_message",
                "tests/test_recipes.py::IterExceptTests::test_generic_exception",
            ),
            "tests/test_more.py::NumericRangeTests::test_basic",
        ),
        args=("tests",),
    ),
    Project(
        "attrs",
        "26.1.0",
        "hypothesis-heavy, --import-mode=importlib, xfail_strict, parametrized classes",
        Injection(
            "tests/test_hooks.py::TestTransformHook::test_hook_alias_available",
            "tests/test_funcs.py::TestAsDict::test_shallow",
            (
                "tests/test_cmp.py::TestDundersPartialOrdering::test_eq",
                "tests/test_converters.py::TestDefaultIfNone::test_none_value",
                "tests/test_validators.py::test_hashability",
            ),
            "tests/test_funcs.py::TestEvolve::test_private",
        ),
        # Fails on this CPython 3.11.7 with or without testviz (the signature of a converter's
        # __call__): not a testviz matter, and a pinned suite should pass.
        args=("--deselect", "tests/test_converters.py::TestPipe::test_wrapped_annotation"),
        deps=(HYPOTHESIS, "pympler==1.1", "cloudpickle==3.1.3"),
    ),
    Project(
        "sqlparse",
        "0.6.1",
        "ids differing only in white space (test_parse_endifloop[END IF] and [END   IF]), "
        "xfails and a non-strict xpass",
        Injection(
            "tests/test_cli.py::test_main_help",
            "tests/test_regressions.py::test_issue13",
            (
                "tests/test_grouping.py::test_grouping_identifier_name_wildcard",
                "tests/test_parse.py::test_parse_casted_params",
            ),
            "tests/test_split.py::test_split_multiple_case_in_begin",
        ),
        args=("tests",),
    ),
    Project(
        "itsdangerous",
        "2.2.0",
        "small; test classes inherited across modules (the same test name in two classes)",
        Injection(
            "tests/test_itsdangerous/test_signer.py::TestSigner::test_signer",
            "tests/test_itsdangerous/test_timed.py::TestTimestampSigner::test_max_age",
            (
                "tests/test_itsdangerous/test_encoding.py::test_base64_bad",
                "tests/test_itsdangerous/test_serializer.py::test_digests",
            ),
            "tests/test_itsdangerous/test_signer.py::TestSigner::test_no_separator",
        ),
        deps=(FREEZEGUN,),
    ),
    Project(
        "toolz",
        "1.2.0",
        "tests inside the package (testpaths = toolz), a runtime skip, live logging",
        Injection(
            "toolz/tests/test_functoolz.py::test_curry_call",
            "toolz/tests/test_dicttoolz.py::test_environ",
            (
                "toolz/tests/test_itertoolz.py::test_reduce_by_callable_default",
                "toolz/tests/test_serialization.py::test_complement",
            ),
            "toolz/sandbox/tests/test_core.py::test_EqualityHashKey_index_key",
        ),
    ),
    Project(
        "boltons",
        "26.2.0",
        "doctests (--doctest-modules boltons, as its tox.ini runs them) beside plain tests",
        Injection(
            "tests/test_cacheutils.py::test_lri_cache_eviction",
            "tests/test_dictutils.py::test_frozendict",
            (
                "tests/test_listutils.py::test_barrel_list",
                "tests/test_iterutils.py::TestRemap::test_sub_selfref",
            ),
            "tests/test_funcutils_fb_py3.py::test_wraps_defaulted_arg_before_varargs",
        ),
        args=("--doctest-modules", "boltons", "tests"),
    ),
    Project(
        "python-dateutil",
        "4.0.0",
        "xfail-heavy (strict xfails), 260 skips, hypothesis, unittest classes",
        Injection(
            "tests/test_internals.py::test_YMD_could_be_day",
            "tests/test_parser.py::ParserTest::test_mstridx",
            (
                "tests/test_relativedelta.py::RelativeDeltaTest::testAddTimedeltaToPopulatedRelativeDelta",
                "tests/test_rrule.py::RRuleTest::testBetweenInc",
            ),
            "tests/test_rrule.py::RRuleTest::testHourlyByMonth",
        ),
        # These three compare against this machine's /usr/share/zoneinfo, which differs from
        # the tzdata they expect; they fail with or without testviz.
        args=(
            "tests",
            "--deselect",
            "tests/test_tz.py::test_gettz_link[tzpath-Europe/Monaco-Europe/Paris]",
            "--deselect",
            "tests/test_tzfile.py::test_gettz_local_abbreviation_without_time_zone_data",
            "--deselect",
            "tests/test_tzpath_data.py::test_dst_matches_tzdata_zi[tzpath]",
        ),
        # Its requirements-dev.txt: pytest-cov registers the no_cover marker its tests use (an
        # unknown marker is an error under its filterwarnings = error); attrs for test_tzfile.
        deps=(HYPOTHESIS, FREEZEGUN, "pytest-cov==7.1.0", "attrs==26.1.0"),
    ),
    Project(
        "subtests",
        None,
        "synthetic: pytest 9's subtests fixture and unittest subTest, with failing, skipped "
        "and xfailed subtests (no pinned suite has a subtest that does not pass)",
        Injection(
            "tests/test_subtests_fixture.py::test_plain_target_a",
            "tests/test_subtests_fixture.py::test_plain_target_b",
            (
                "tests/test_subtests_fixture.py::test_plain_target_c",
                "tests/test_subtests_unittest.py::TestSubTest::test_target_d",
            ),
            "tests/test_subtests_unittest.py::TestSubTest::test_target_e",
        ),
    ),
)
BY_NAME = {project.name: project for project in PROJECTS}


class SetupError(RuntimeError):
    """A download or an install failed (exit status 3: often no network)."""


class HarnessError(RuntimeError):
    """The harness itself could not run (exit status 2)."""


# -- the cache: sdists, sources, venvs ---------------------------------------------------------


def _run_logged(command: Sequence[str], log: Path, what: str, **kwargs: Any) -> None:
    """Run a set-up command with its output in ``log``; on failure raise with its tail."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w", encoding="utf-8") as out:
        done = subprocess.run(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kwargs
        )
    if done.returncode != 0:
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:])
        raise SetupError(f"{what} failed (exit {done.returncode}; log {log}):\n{tail}")


def sdist(project: Project) -> Path:
    """The project's pinned sdist, downloaded once (``pip download``, no wheels)."""
    folder = CACHE / "sdists" / f"{project.name}-{project.version}"
    found = sorted(folder.glob("*.tar.gz")) + sorted(folder.glob("*.zip"))
    if found:
        return found[0]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
    command += ["--disable-pip-version-check", "-d", str(folder), project.pin]
    _run_logged(
        command, CACHE / "logs" / f"download-{project.name}.log", f"pip download {project.pin}"
    )
    found = sorted(folder.glob("*.tar.gz")) + sorted(folder.glob("*.zip"))
    if not found:
        raise SetupError(f"pip download {project.pin} left no sdist in {folder}")
    return found[0]


def source_tree(project: Project, workdir: Path) -> Path:
    """The unpacked sdist (once), or a copy of the synthetic suite in this run's ``workdir``
    (so edits to it count, and two runs never share it). The suite runs from here; a
    downloaded project is installed from here, editable."""
    if project.version is None:
        target = workdir / "src" / project.name
        shutil.copytree(SYNTHETIC, target, ignore=shutil.ignore_patterns("__pycache__"))
        return target
    root = CACHE / "src" / f"{project.name}-{project.version}"
    done = root / ".unpacked"
    if not done.exists():
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        archive = sdist(project)
        with tarfile.open(archive) as tar:
            tar.extractall(root, filter="data")
        done.write_text(archive.name, encoding="utf-8")
    tops = [path for path in root.iterdir() if path.is_dir()]
    if len(tops) != 1:
        raise SetupError(f"{root}: expected one folder from the sdist, found {len(tops)}")
    return tops[0]


def _plugin_dependencies() -> str:
    """This checkout's declared dependencies: a change to them must rebuild the venvs (a
    change elsewhere in pyproject.toml need not)."""
    raw = (REPO / "pyproject.toml").read_bytes()
    if sys.version_info >= (3, 11):
        import tomllib

        return json.dumps(tomllib.loads(raw.decode("utf-8"))["project"]["dependencies"])
    return hashlib.sha256(raw).hexdigest()  # Python 3.10: any change counts


def venv_key(project: Project) -> str:
    """What a project venv was built from; the stamp file holds it."""
    parts = {
        "format": VENV_FORMAT,
        "python": sys.version,
        "tools": TOOLS,
        "deps": project.deps,
        "project": project.pin,
        "plugin": _plugin_dependencies(),
    }
    return json.dumps(parts, sort_keys=True)


def project_venv(project: Project, source: Path) -> Path:
    """``.cache/real_suites/venvs/<project>``: built once per set of pins, reused after.

    Made by this interpreter (the checkout's .venv python), with the plugin installed from
    this checkout (editable: the working tree is what runs), the tools, the project's own
    test dependencies, and the project itself from its unpacked sdist (editable too, so the
    suite imports the code it was collected from: doctests need that).
    """
    venv = CACHE / "venvs" / project.name
    stamp = venv / ".real_suites_stamp"
    key = venv_key(project)
    if stamp.exists() and stamp.read_text(encoding="utf-8") == key:
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    logs = CACHE / "logs"
    _run_logged(
        [sys.executable, "-m", "venv", str(venv)], logs / f"venv-{project.name}.log", "venv"
    )
    command = [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check"]
    command += ["-e", str(REPO), *TOOLS, *project.deps]
    if project.version is not None:
        command += ["-e", str(source)]
    _run_logged(command, logs / f"install-{project.name}.log", f"installing {project.pin}")
    stamp.write_text(key, encoding="utf-8")
    return venv


# -- the server --------------------------------------------------------------------------------

#: gunicorn's config file: no control socket in $HOME shared between servers side by side.
GUNICORN_CONFIG = "control_socket_disable = True\n"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def get_json(url: str, timeout: float = 30.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return json.load(answer)


def _server_command(port: int, workdir: Path, checkout: Path) -> list[str]:
    """gunicorn as production runs it when the .venv has it, else ``flask run``."""
    bin_dir = Path(sys.executable).parent
    if (bin_dir / "gunicorn").exists():
        config = workdir / "gunicorn.conf.py"
        config.write_text(GUNICORN_CONFIG, encoding="utf-8")
        return [
            str(bin_dir / "gunicorn"), "--config", str(config), "--chdir", str(checkout),
            "--bind", f"127.0.0.1:{port}", "--workers", "2", "--timeout", "300",
            "server:create_app()",
        ]  # fmt: skip
    flask = [str(bin_dir / "flask"), "--app", "server", "run"]
    return [*flask, "--host", "127.0.0.1", "--port", str(port)]


@contextmanager
def running_server(workdir: Path, checkout: Path = REPO) -> Iterator[str]:
    """A server on loopback over a fresh SQLite database in ``workdir``; yields its URL.

    The server's code (and the core it imports) comes from ``checkout``.
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESTVIZ_")}
    env.pop("TEST_RESULTS_DIR", None)
    env.update(
        TESTVIZ_DATABASE_URL=f"sqlite:///{workdir / 'testviz.sqlite3'}",
        TESTVIZ_WATCH="false",
        PYTHONPATH=str(checkout),
    )
    log_path = workdir / "server.log"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with log_path.open("wb") as log:
            for command in (_server_command(port, workdir, checkout), _worker_command(checkout)):
                if command:
                    processes.append(_start(command, checkout, env, log))
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, processes[0], log_path)
        yield url
    finally:
        for process in processes:
            _stop(process)


def _start(
    command: list[str], cwd: Path, env: dict[str, str], log: IO[bytes]
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
    )


def _worker_command(checkout: Path) -> list[str]:
    """A job worker beside the web server, as production runs them: the plugin's uploads are
    queued and stored by it. A checkout from before the job model has none (its web workers
    ingest)."""
    if not (checkout / "server" / "jobs").is_dir():
        return []
    return [str(Path(sys.executable).parent / "flask"), "--app", "server", "worker"]


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise HarnessError(f"the server exited ({process.returncode}); see {log}")
        try:
            if get_json(f"{url}/healthz", timeout=2).get("status") == "ok":
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise HarnessError(f"the server did not answer /healthz within 60 s; see {log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def plugin_shim(checkout: Path, workdir: Path) -> Path | None:
    """For another checkout: a folder with only its ``pytest_testviz``, to put first on the
    suites' path (the venvs have this checkout's installed). Not the checkout itself: its
    ``tests`` package would shadow the suites' own."""
    if checkout == REPO:
        return None
    if not (checkout / "pytest_testviz" / "plugin.py").exists():
        raise HarnessError(f"{checkout} holds no pytest_testviz/plugin.py")
    shim = workdir / "plugin-under-test"
    shim.mkdir()
    (shim / "pytest_testviz").symlink_to(checkout / "pytest_testviz")
    return shim


# -- one suite run -----------------------------------------------------------------------------

SUMMARY_LINE = re.compile(r"^=+ (.+?) =+$")
RUN_LINE = re.compile(r"^testviz: run ([0-9a-f]{32}) (\w+): (\S+)$", re.MULTILINE)


@dataclass
class SuiteRun:
    """What one run of a suite left: pytest's verdict, the recording, the stored run id."""

    project: str
    mode: str
    exit_status: int
    summary: str
    testviz_line: str
    run_id: str | None
    recording: dict[str, Any] | None
    wall: float
    log: Path


def has_pytest_config(source: Path) -> bool:
    """Whether pytest finds its configuration in ``source`` itself (as pytest looks for it)."""
    if (source / "pytest.ini").exists() or (source / ".pytest.ini").exists():
        return True
    pyproject = source / "pyproject.toml"
    if pyproject.exists() and re.search(
        r"^\[tool\.pytest(\.ini_options)?\]", pyproject.read_text(encoding="utf-8"), re.MULTILINE
    ):
        return True
    for name, section in (("tox.ini", "pytest"), ("setup.cfg", "tool:pytest")):
        path = source / name
        if path.exists():
            parser = configparser.ConfigParser(interpolation=None)
            parser.read(path, encoding="utf-8")
            if parser.has_section(section):
                return True
    return False


def pytest_command(
    venv: Path, project: Project, mode: str, url: str, spool: Path, source: Path
) -> list[str]:
    # A suite without a pytest configuration of its own would make pytest look for one in
    # the folders above it, and find this repository's (.cache/ is inside it): its rootdir,
    # addopts and filterwarnings. An empty configuration stops that search.
    own_config = () if has_pytest_config(source) else ("-c", os.devnull, "--rootdir", str(source))
    return [
        str(venv / "bin" / "python"), "-m", "pytest", *own_config,
        "-p", "no:cacheprovider",  # no lastfailed reordering, nothing written into the sdist
        "-p", "testviz_realsuites_record",
        f"--testviz-url={url}", "--testviz-wait=yes",
        f"--testviz-project={project.name}", f"--testviz-dir={spool}",
        *MODE_ARGS[mode], *project.args,
    ]  # fmt: skip


def suite_env(record: Path, inject: dict[str, Any] | None, plugin: Path | None) -> dict[str, str]:
    """The environment of a suite run: the harness's plugins importable (and the plugin under
    test from ``plugin``, a folder holding only ``pytest_testviz``, when another checkout is
    measured), nothing of testviz's or pytest's own settings leaking in from the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TESTVIZ_", "PYTEST_"))}
    env.pop("VIRTUAL_ENV", None)
    env.pop("GITHUB_STEP_SUMMARY", None)  # a suite run under GitHub Actions writes no summary
    env["PYTHONPATH"] = os.pathsep.join(str(path) for path in (PLUGINS, plugin) if path)
    env["TESTVIZ_REALSUITES_RECORD"] = str(record)
    if inject is not None:
        env["TESTVIZ_REALSUITES_INJECT"] = json.dumps(inject)
    return env


def run_suite(
    project: Project,
    mode: str,
    venv: Path,
    source: Path,
    url: str,
    workdir: Path,
    plugin: Path | None,
) -> SuiteRun:
    cell = workdir / f"{project.name}-{mode}"
    cell.mkdir(parents=True)
    record, log = cell / "recording.json", cell / "pytest.log"
    inject = project.inject.plan(cell / "injected") if mode == "reruns" else None
    command = pytest_command(venv, project, mode, url, cell / "spool", source)
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as out:
        try:
            exit_status = subprocess.run(
                command, cwd=source, env=suite_env(record, inject, plugin), stdout=out,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=RUN_TIMEOUT,
            ).returncode  # fmt: skip
        except subprocess.TimeoutExpired:
            exit_status = -1  # killed: no recording, which the comparison reports
            out.write(f"\nreal_suites: killed after {RUN_TIMEOUT} s\n")
    wall = time.perf_counter() - started
    output = log.read_text(encoding="utf-8", errors="replace")
    found = RUN_LINE.search(output)
    testviz = [line for line in output.splitlines() if line.startswith("testviz:")]
    return SuiteRun(
        project=project.name,
        mode=mode,
        exit_status=exit_status,
        summary=_summary_line(output),
        testviz_line=testviz[-1] if testviz else "",
        run_id=found.group(1) if found and found.group(2) in ("created", "skipped") else None,
        recording=json.loads(record.read_text(encoding="utf-8")) if record.exists() else None,
        wall=wall,
        log=log,
    )


def _summary_line(output: str) -> str:
    """pytest's last ``=== 12 passed, 1 xfailed in 1.2s ===`` line, without the rules."""
    for line in reversed(output.splitlines()):
        found = SUMMARY_LINE.match(line.strip())
        if found and " in " in found.group(1):
            return found.group(1)
    return ""


# -- reading the stored run back ---------------------------------------------------------------


@dataclass
class StoredRun:
    run: dict[str, Any]
    results: list[dict[str, Any]]


def read_run(url: str, run_id: str, per_page: int = 1000) -> StoredRun:
    """The run document and every result, page by page, as a reader of the API gets them."""
    results: list[dict[str, Any]] = []
    page, document = 1, {}
    while True:
        document = get_json(f"{url}/api/tests/runs/{run_id}?page={page}&per_page={per_page}")
        results.extend(document["results"])
        if not document["results"] or len(results) >= document["results_total"]:
            break
        page += 1
    return StoredRun(document, results)


# -- what pytest said, per node id -------------------------------------------------------------

#: pytest's categories, strongest first: the one a test's final attempt is counted under.
#: A failed call followed by a teardown error is counted twice by pytest (1 failed, 1 error);
#: testviz keeps one result per test, the failure. The stored status must be the category
#: itself, strictly (issue 13): an xfail is ``xfailed``, not ``skipped``; an xpass ``xpassed``.
PRIORITY = ("failed", "error", "xpassed", "xfailed", "skipped", "passed")


@dataclass(frozen=True)
class Expected:
    """What the stored result of one node id should say, derived from pytest's reports."""

    status: str
    flaky: bool
    reruns: int
    how: str  # pytest's categories, for messages: "rerun, passed"


def expected(test: dict[str, Any]) -> Expected:
    """The stored status a node id should have, from what pytest said about it.

    The final attempt decides (pytest-rerunfailures logs a ``rerun`` report for each earlier
    one); a test with a failed subtest failed, even where pytest counts its own report as
    passed (unittest's subTest, and a test run on an xdist worker: the count of failed
    subtests that turns it into a failure lives in the worker).
    """
    reports: list[list[str]] = test["reports"]
    categories = [category for _when, _outcome, category in reports]
    reruns = categories.count("rerun")
    last_rerun = max((i for i, c in enumerate(categories) if c == "rerun"), default=-1)
    final = {c for c in categories[last_rerun + 1 :] if c}
    status = next((c for c in PRIORITY if c in final), "unknown")
    subtests = Counter(outcome for outcome, _category, _description in test["subtests"])
    if subtests["failed"] and status in ("passed", "xpassed"):
        status = "failed"
    how = ", ".join(c for c in categories if c) or "no category"
    if subtests:
        how += " (subtests: " + ", ".join(f"{n} {o}" for o, n in sorted(subtests.items())) + ")"
    return Expected(status, reruns > 0 and status == "passed", reruns, how)


# -- comparing ---------------------------------------------------------------------------------

KINDS = ("missing", "merged", "extra", "outcome", "false_flaky", "ids", "groups", "totals", "run")


@dataclass
class Difference:
    kind: str
    nodeid: str
    pytest: str
    stored: str


@dataclass
class Cell:
    """One project x mode: the run, what was found, and every difference."""

    project: str
    mode: str
    suite: SuiteRun
    pytest_tests: int = 0
    stored_tests: int = 0
    differences: list[Difference] = field(default_factory=list)
    #: node id -> stored test_id, for the comparison across modes.
    test_ids: dict[str, str] = field(default_factory=dict)

    def add(self, kind: str, nodeid: str, pytest: str, stored: str) -> None:
        self.differences.append(Difference(kind, nodeid, pytest, stored))

    def count(self, *kinds: str) -> int:
        return sum(1 for d in self.differences if d.kind in kinds)


def fold(key: tuple[str, str]) -> tuple[str, str]:
    """A (classname, name) with white space folded: what an identity that ignores white space
    would merge."""
    return (" ".join(key[0].split()), " ".join(key[1].split()))


def result_index(results: list[dict[str, Any]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    index: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for result in results:
        index[(result["classname"], result["name"])].append(result)
    return index


def compare_cell(cell: Cell, stored: StoredRun, tests: dict[str, Any]) -> None:
    """Test by test: present once, same outcome, no flaky without a rerun; then the totals."""
    expectations = {nodeid: expected(test) for nodeid, test in tests.items()}
    keys = {nodeid: mangle_nodeid(nodeid) for nodeid in tests}
    index = result_index(stored.results)
    cell.pytest_tests, cell.stored_tests = len(tests), len(stored.results)
    _check_ambiguous_keys(cell, keys)
    folded: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for key in index:
        folded[fold(key)].append(key)
    claimed: set[tuple[str, str]] = set()
    for nodeid, key in keys.items():
        found = index.get(key, [])
        if len(found) == 1:
            claimed.add(key)
            cell.test_ids[nodeid] = found[0]["test_id"]
            _compare_result(cell, nodeid, expectations[nodeid], found[0])
        elif found:
            claimed.add(key)
            cell.add("extra", nodeid, "one test", f"{len(found)} stored results named {key}")
        else:
            near = [other for other in folded.get(fold(key), []) if other != key]
            if near:
                cell.add("merged", nodeid, f"its own test {key}", f"only {near[0]} is stored")
            else:
                cell.add("missing", nodeid, expectations[nodeid].status, "no stored result")
    for key, found in index.items():
        if key not in claimed:
            cell.add("extra", "", "no such node id", f"{len(found)} stored result(s) {key}")
    _compare_totals(cell, stored, expectations)


def _check_ambiguous_keys(cell: Cell, keys: dict[str, tuple[str, str]]) -> None:
    """Two node ids that pytest's own JUnit naming turns into one (classname, name): the
    harness cannot tell them apart in the stored run, so it says so."""
    seen: dict[tuple[str, str], str] = {}
    for nodeid, key in keys.items():
        if key in seen:
            cell.add("run", nodeid, f"distinct from {seen[key]}", f"same JUnit name {key}")
        seen[key] = nodeid


def _compare_result(cell: Cell, nodeid: str, want: Expected, result: dict[str, Any]) -> None:
    stored_flaky = bool(result.get("flaky"))
    if result["status"] != want.status or (want.flaky and not stored_flaky):
        said = want.status + (f" after {want.reruns} rerun(s): flaky" if want.flaky else "")
        got = result["status"] + (", flaky" if stored_flaky else "")
        cell.add("outcome", nodeid, f"{said} [{want.how}]", got)
    if stored_flaky and want.reruns == 0:
        cell.add("false_flaky", nodeid, f"{want.status}, no rerun [{want.how}]", "flaky")


def _compare_totals(cell: Cell, stored: StoredRun, expectations: dict[str, Expected]) -> None:
    """The run's totals against the recording: every field the server reports."""
    statuses = Counter(want.status for want in expectations.values())
    want = {
        "tests": len(expectations),
        "passed": statuses["passed"],
        "failed": statuses["failed"],
        "errors": statuses["error"],
        "skipped": statuses["skipped"],
        "xfailed": statuses["xfailed"],
        "xpassed": statuses["xpassed"],
    }
    totals: dict[str, int] = dict(stored.run.get("totals") or {})
    totals["flaky"] = int(stored.run.get("flaky") or 0)
    want["flaky"] = sum(1 for e in expectations.values() if e.flaky)
    for name in ("xfailed", "xpassed"):
        if name not in totals and want[name]:
            totals[name] = 0  # the server has no such total: none stored as such
    for name, value in totals.items():
        if name in want and value != want[name]:
            cell.add("totals", "", f"{name} = {want[name]}", f"{name} = {value}")


def check_recording(cell: Cell, recording: dict[str, Any]) -> None:
    """The recording must count what pytest's own terminal reporter counted; otherwise the
    judge is wrong and nothing else in this cell can be trusted."""
    ours = recording["counts"]
    theirs = {
        k: v for k, v in recording["terminal_counts"].items() if k not in ("warnings", "deselected")
    }
    if ours != theirs:
        cell.add("run", "", f"pytest's summary counts {theirs}", f"the recording counted {ours}")


def check_run(cell: Cell) -> bool:
    """The run itself: stored, recorded, and pytest's exit status untouched. False when there
    is nothing to compare."""
    suite = cell.suite
    if suite.recording is None:
        cell.add(
            "run",
            "",
            f"exit {suite.exit_status}: {suite.summary}",
            f"no recording; see {suite.log}",
        )
        return False
    check_recording(cell, suite.recording)
    if suite.recording["exitstatus"] != suite.exit_status:
        cell.add(
            "run",
            "",
            f"exit status {suite.recording['exitstatus']}",
            f"process exited {suite.exit_status}",
        )
    if suite.run_id is None:
        cell.add(
            "run", "", "a stored run", suite.testviz_line or f"no testviz line; see {suite.log}"
        )
        return False
    return True


def check_injection(cell: Cell, project: Project, stored: StoredRun) -> None:
    """``reruns`` mode: the injected failures happened, and they are grouped by cause."""
    tests = cell.suite.recording["tests"] if cell.suite.recording else {}
    plan = project.inject
    want = {plan.first_attempt: "passed", plan.always: "failed", plan.worded: "failed"}
    want.update(dict.fromkeys(plan.shared, "failed"))
    for nodeid, status in want.items():
        if nodeid not in tests or expected(tests[nodeid]).status != status:
            said = expected(tests[nodeid]).how if nodeid in tests else "not run"
            cell.add("run", nodeid, f"injected: {status}", f"pytest said {said}")
    by_key = {(r["classname"], r["name"]): r for r in stored.results}
    fingerprint = {n: (by_key.get(mangle_nodeid(n)) or {}).get("fingerprint") for n in want}
    shared = {fingerprint[n] for n in plan.shared}
    if len(shared) != 1 or None in shared:
        listed = ", ".join(f"{n.rsplit('::', 1)[-1]}: {fingerprint[n]}" for n in plan.shared)
        cell.add(
            "groups", " + ".join(plan.shared), "one failure group (same helper, same error)", listed
        )
    others = {plan.worded: plan.always, plan.always: plan.worded}
    for nodeid, other in others.items():
        mine = fingerprint[nodeid]
        if mine is None or mine in shared or mine == fingerprint[other]:
            cell.add("groups", nodeid, "a failure group of its own", f"fingerprint {mine}")
    groups = {g["fingerprint"]: g["count"] for g in stored.run.get("failure_groups", [])}
    carried = Counter(r.get("fingerprint") for r in stored.results if r.get("fingerprint"))
    for fp, count in carried.items():
        if groups.get(fp) != count:
            cell.add("groups", "", f"group {fp}: {count} result(s)", f"run lists {groups.get(fp)}")


def compare_modes(cells: list[Cell]) -> None:
    """The same node id must be the same stored test in every mode; the first mode run is the
    reference, and each other mode's cell carries its own differences from it."""
    if len(cells) < 2:
        return
    reference = cells[0]
    for cell in cells[1:]:
        for nodeid, test_id in cell.test_ids.items():
            other = reference.test_ids.get(nodeid)
            if other is not None and other != test_id:
                cell.add(
                    "ids", nodeid, f"{reference.mode}: {other[:12]}", f"{cell.mode}: {test_id[:12]}"
                )


# -- the whole run -----------------------------------------------------------------------------


@contextmanager
def cache_lock() -> Iterator[None]:
    """One harness at a time sets up the cache (two would build the same venv at once)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_project(
    project: Project, modes: Sequence[str], url: str, workdir: Path, plugin: Path | None
) -> list[Cell]:
    with cache_lock():
        source = source_tree(project, workdir)
        venv = project_venv(project, source)
    cells = []
    for mode in modes:
        print(f"  {project.name} {mode} ...", end="", flush=True, file=sys.stderr)
        suite = run_suite(project, mode, venv, source, url, workdir, plugin)
        cell = Cell(project.name, mode, suite)
        if check_run(cell) and suite.run_id and suite.recording:
            stored = read_run(url, suite.run_id)
            compare_cell(cell, stored, suite.recording["tests"])
            if mode == "reruns":
                check_injection(cell, project, stored)
        print(f" {suite.wall:.0f} s, {len(cell.differences)} difference(s)", file=sys.stderr)
        cells.append(cell)
    compare_modes(cells)
    return cells


COLUMNS = (
    ("project", 15), ("mode", 6), ("pytest", 6), ("stored", 6), ("missing", 7),
    ("merged/extra", 12), ("outcome", 7), ("false flaky", 11), ("ids", 4), ("groups", 6),
    ("totals", 6), ("run", 3), ("exit", 4), ("wall s", 6),
)  # fmt: skip


def table_rows(cells: Iterable[Cell]) -> Iterator[list[str]]:
    for cell in cells:
        yield [
            cell.project, cell.mode, str(cell.pytest_tests), str(cell.stored_tests),
            str(cell.count("missing")), str(cell.count("merged", "extra")),
            str(cell.count("outcome")), str(cell.count("false_flaky")), str(cell.count("ids")),
            str(cell.count("groups")), str(cell.count("totals")), str(cell.count("run")),
            str(cell.suite.exit_status), f"{cell.suite.wall:.1f}",
        ]  # fmt: skip


def render_table(cells: list[Cell]) -> str:
    rows = [[name for name, _ in COLUMNS], *table_rows(cells)]
    widths = [max(width, *(len(row[i]) for row in rows)) for i, (_, width) in enumerate(COLUMNS)]

    def line(row: list[str]) -> str:
        return "  ".join(
            value.ljust(w) if i < 2 else value.rjust(w)
            for i, (value, w) in enumerate(zip(row, widths, strict=True))
        )

    return "\n".join([line(rows[0]), "  ".join("-" * w for w in widths), *map(line, rows[1:])])


def render_summaries(cells: list[Cell]) -> str:
    """What pytest itself said in each run, for reading the table against."""
    width = max((len(f"{c.project} / {c.mode}") for c in cells), default=0)
    return "\n".join(
        f"{(c.project + ' / ' + c.mode).ljust(width)}  {c.suite.summary or 'no summary line'}"
        for c in cells
    )


def render_details(cells: list[Cell], shown: int = SHOWN_PER_CELL) -> str:
    """The first few differences of each kind in each cell: enough to act on."""
    lines: list[str] = []
    for cell in cells:
        if not cell.differences:
            continue
        lines.append(f"\n{cell.project} / {cell.mode}  ({cell.suite.summary or 'no summary line'})")
        by_kind: dict[str, list[Difference]] = defaultdict(list)
        for difference in cell.differences:
            by_kind[difference.kind].append(difference)
        for kind in KINDS:
            found = by_kind.get(kind, [])
            for d in found[:shown]:
                where = f"{d.nodeid}: " if d.nodeid else ""
                lines.append(f"  {kind:<11} {where}pytest said {d.pytest!r}; stored {d.stored!r}")
            if len(found) > shown:
                lines.append(f"  {kind:<11} ... and {len(found) - shown} more")
    return "\n".join(lines)


def to_json(cells: list[Cell], workdir: Path | None) -> dict[str, Any]:
    return {
        "pins": {p.name: p.pin for p in PROJECTS},
        "tools": list(TOOLS),
        "server_dir": str(workdir) if workdir else None,
        "cells": [
            {
                "project": c.project,
                "mode": c.mode,
                "pytest_tests": c.pytest_tests,
                "stored_tests": c.stored_tests,
                "exit_status": c.suite.exit_status,
                "summary": c.suite.summary,
                "testviz": c.suite.testviz_line,
                "run_id": c.suite.run_id,
                "wall": round(c.suite.wall, 2),
                "counts": {kind: c.count(kind) for kind in KINDS},
                "differences": [dataclasses.asdict(d) for d in c.differences],
            }
            for c in cells
        ],
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--projects", default=",".join(BY_NAME), help="comma-separated")
    parser.add_argument(
        "--modes", default=",".join(MODES), help="comma-separated: plain, xdist, reruns"
    )
    parser.add_argument("--keep", action="store_true", help="keep the server's temp dir")
    parser.add_argument("--json", type=Path, help="write every difference here")
    parser.add_argument(
        "--checkout", type=Path, default=REPO,
        help="measure the plugin and server of another checkout (e.g. a `git archive` of a "
        "commit), this one by default",
    )  # fmt: skip
    args = parser.parse_args(argv)
    args.projects = [name.strip() for name in args.projects.split(",") if name.strip()]
    args.modes = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    unknown = [n for n in args.projects if n not in BY_NAME] + [
        m for m in args.modes if m not in MODES
    ]
    if unknown:
        known = f"projects: {', '.join(BY_NAME)}; modes: {', '.join(MODES)}"
        parser.error(f"unknown: {', '.join(unknown)} ({known})")
    args.modes = [mode for mode in MODES if mode in args.modes]  # plain first: the reference
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="real_suites-"))
    cells: list[Cell] = []
    started = time.perf_counter()
    try:
        checkout = args.checkout.resolve()
        plugin = plugin_shim(checkout, workdir)
        with running_server(workdir, checkout) as url:
            print(f"server {url} from {checkout}, database in {workdir}", file=sys.stderr)
            for name in args.projects:
                cells += run_project(BY_NAME[name], args.modes, url, workdir, plugin)
    except SetupError as exc:
        print(f"real_suites: set-up failed: {exc}", file=sys.stderr)
        return 3
    except (HarnessError, OSError, subprocess.SubprocessError) as exc:
        print(f"real_suites: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(render_table(cells))
    print("\npytest's own summary of each run:")
    print(render_summaries(cells))
    print(render_details(cells))
    total = sum(len(cell.differences) for cell in cells)
    print(f"\n{total} difference(s) in {len(cells)} run(s), {time.perf_counter() - started:.0f} s")
    if args.keep:
        print(f"kept: {workdir}")
    if args.json:
        args.json.write_text(
            json.dumps(to_json(cells, workdir if args.keep else None), indent=1), encoding="utf-8"
        )
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
