"""Browser fixtures: the app on loopback, a crafted history sent through the ingest API, and
Chromium driven by Playwright (the system's /usr/bin/chromium; a browser is never downloaded).

Every page a test opens is watched: console errors, uncaught exceptions, failed requests,
subresources answered with an error, requests to any other host and JavaScript dialogs are
recorded, and the test fails at teardown if any of them happened.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.server.helpers import serve
from tests.support import missing_service

CHROMIUM = Path("/usr/bin/chromium")
TIMEOUT_MS = 5000

PROJECT = "webapp"
MAIN, FEATURE = "main", "feature/login"
ENV_A, ENV_B = "linux-py311", "linux-py312"

STABLE_CLASS = "tests.test_models"
STABLE = [f"test_model_{i}" for i in range(8)]
SKIPPED = ("tests.test_models", "test_legacy_export")
FLAKY = ("tests.test_api", "test_fetch_with_retry")  # passes and fails on the same git sha
RERUN = ("tests.test_api", "test_websocket_reconnect")  # passes only after a rerun
ENV_SPECIFIC = ("tests.test_paths", "test_unicode_filenames")  # fails in ENV_B only
RECURRING = [("tests.test_db", "test_migration_adds_column"), ("tests.test_db", "test_rollback")]
XSS_NAME = "<script>alert(1)</script>"
XSS_MESSAGE = "<img src=x onerror=alert(2)>"
XSS = ("tests.test_escape", XSS_NAME)

DB_MESSAGE = 'could not connect to server: Connection refused (host "db.internal", port 5432)'
DB_TRACEBACK = """Traceback (most recent call last):
  File "tests/conftest.py", line 31, in database
    engine.connect()
  File "sqlalchemy/engine/base.py", line 3273, in connect
    return self._connection_cls(self)
  File "sqlalchemy/pool/base.py", line 716, in __connect
    self.dbapi_connection = connection = pool._invoke_creator(self)
sqlalchemy.exc.OperationalError: could not connect to server: Connection refused
    Is the server running on host "db.internal" and accepting TCP/IP connections on port 5432?
"""
XSS_TRACEBACK = """tests/test_escape.py:12: in test_markup
    assert render(name) == "<b>safe</b>"
E   AssertionError: <img src=x onerror=alert(2)>
"""


@dataclass(frozen=True)
class RunSpec:
    key: str
    branch: str
    sha: str
    env: str
    fail: tuple[tuple[str, str], ...] = ()
    rerun: tuple[tuple[str, str], ...] = ()
    dropped: tuple[str, ...] = ()


# Oldest first. XSS exists on main only and fails in every run there; ENV_SPECIFIC fails in
# every ENV_B run; RECURRING break in two ENV_A runs in a row (two flips: not flaky); r08 lost
# most of the stable tests (integrity signals: tests disappeared, test count dropped).
RUNS = [
    RunSpec("r01", MAIN, "aaaa1111", ENV_A),
    RunSpec("r02", MAIN, "aaaa1111", ENV_A, fail=(FLAKY,)),
    RunSpec("r03", MAIN, "bbbb2222", ENV_B),
    RunSpec("r04", FEATURE, "cccc3333", ENV_A, fail=tuple(RECURRING), rerun=(RERUN,)),
    RunSpec("r05", FEATURE, "cccc3333", ENV_B),
    RunSpec("r06", MAIN, "dddd4444", ENV_A, fail=tuple(RECURRING)),
    RunSpec("r07", MAIN, "dddd4444", ENV_B),
    RunSpec("r08", FEATURE, "eeee5555", ENV_A, dropped=tuple(STABLE[2:])),
]


def run_id_of(key: str) -> str:
    return f"browser-{key}"


def _result(classname: str, name: str, spec: RunSpec, index: int) -> dict[str, Any]:
    test = (classname, name)
    duration = round(0.05 + ((index * 7 + len(name) * 3 + int(spec.key[1:]) * 11) % 40) / 100, 3)
    item: dict[str, Any] = {"name": name, "classname": classname, "duration": duration}
    if test == SKIPPED:
        return {**item, "status": "skipped", "message": "legacy export is gone"}
    if test == XSS:
        return {
            **item,
            "status": "failed",
            "error_type": "AssertionError",
            "message": XSS_MESSAGE,
            "text": XSS_TRACEBACK,
            "owner": "<b>@mallory</b>",
            "tags": ["<i>tag</i>"],
        }
    if test in RECURRING and test in spec.fail:
        return {
            **item,
            "status": "error",
            "error_type": "sqlalchemy.exc.OperationalError",
            "message": DB_MESSAGE,
            "text": DB_TRACEBACK,
            "owner": "@team-db",
        }
    if test == FLAKY and test in spec.fail:
        return {
            **item,
            "status": "failed",
            "error_type": "TimeoutError",
            "message": "GET /api/items timed out after 2.0 s",
            "text": 'File "tests/test_api.py", line 40, in test_fetch_with_retry\nTimeoutError',
        }
    if test == ENV_SPECIFIC and spec.env == ENV_B:
        return {
            **item,
            "status": "failed",
            "error_type": "UnicodeEncodeError",
            "message": "'ascii' codec can't encode character '\\xe9' in position 7",
        }
    return {**item, "status": "passed", "flaky": test in spec.rerun}


def run_body(spec: RunSpec, started: datetime) -> dict[str, Any]:
    tests = [(STABLE_CLASS, name) for name in STABLE if name not in spec.dropped]
    tests += [SKIPPED, FLAKY, RERUN, ENV_SPECIFIC, *RECURRING]
    if spec.branch == MAIN:
        tests.append(XSS)
    results = [_result(c, n, spec, i) for i, (c, n) in enumerate(tests)]
    return {
        "run_id": run_id_of(spec.key),
        "project": PROJECT,
        "git_sha": spec.sha,
        "branch": spec.branch,
        "env_fingerprint": spec.env,
        "env": {"python": "3.11" if spec.env == ENV_A else "3.12", "os": "linux"},
        "started_at": started.isoformat(),
        "results": results,
    }


@dataclass
class Seeded:
    """The seeded server: its URL, RUNS' run ids (oldest first), every test's id by (class,
    name) and every run's detail from the API by key (r01..r08, e1..e3)."""

    url: str
    run_ids: list[str]
    test_ids: dict[tuple[str, str], str] = field(repr=False)
    runs: dict[str, dict[str, Any]] = field(repr=False)

    def api(self, path: str, **params: Any) -> Any:
        response = requests.get(f"{self.url}{path}", params=params, timeout=10)
        response.raise_for_status()
        return response.json()


# A second project, sent first (so "webapp" is the newest and the overview's default): a test
# that passed and failed on one git sha in ENV_A (flaky), and passed in ENV_B since.
EDGE_PROJECT = "sdk"
EDGE_TEST = ("sdk.test_client", "test_token_refresh")
EDGE_RUNS = [("e1", "1111aaaa", ENV_A, "passed"), ("e2", "1111aaaa", ENV_A, "failed")]
EDGE_RUNS += [("e3", "2222bbbb", ENV_B, "passed")]


def edge_body(key: str, sha: str, env: str, status: str) -> dict[str, Any]:
    result: dict[str, Any] = {"classname": EDGE_TEST[0], "name": EDGE_TEST[1], "status": status}
    if status == "failed":
        result.update(error_type="AssertionError", message="token expired before refresh")
    return {
        "run_id": run_id_of(key),
        "project": EDGE_PROJECT,
        "git_sha": sha,
        "branch": MAIN,
        "env_fingerprint": env,
        "results": [result],
    }


def seed(url: str) -> Seeded:
    start = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)
    with requests.Session() as http:
        bodies = [edge_body(*edge) for edge in EDGE_RUNS]
        bodies += [run_body(spec, start + timedelta(hours=i)) for i, spec in enumerate(RUNS)]
        for body in bodies:
            response = http.post(f"{url}/api/tests/ingest", json=body, timeout=30)
            assert response.status_code == 200, response.text
            assert response.json()["status"] == "created"
        runs = {}
        test_ids: dict[tuple[str, str], str] = {}
        for key in [spec.key for spec in RUNS] + [edge[0] for edge in EDGE_RUNS]:
            detail = http.get(f"{url}/api/tests/runs/{run_id_of(key)}", timeout=10)
            detail.raise_for_status()
            runs[key] = detail.json()
            for result in runs[key]["results"]:
                test_ids[(result["classname"], result["name"])] = result["test_id"]
    return Seeded(url, [run_id_of(s.key) for s in RUNS], test_ids, runs)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """One server per module with the crafted history of ``RUNS``."""
    path = tmp_path_factory.mktemp("browser-seeded") / "testviz.sqlite3"
    with serve(f"sqlite:///{path}") as url:
        yield seed(url)


# pytest's own outcome categories, sent as pytest writes them: JUnit XML (an xfail is a skip of
# type pytest.xfail, an xpass a plain pass, one failure per failed subtest) and the plugin's
# sidecar, which says what the XML cannot (the xpass, how many subtests passed).
OUTCOMES_RUN = "browser-outcomes"
OUTCOMES_XML = b"""<testsuites><testsuite name="pytest" tests="5">
<testcase classname="tests.test_cart" name="test_total" time="0.01"/>
<testcase classname="tests.test_cart" name="test_rounding" time="0.01">
<skipped type="pytest.xfail" message="rounding bug #12"/></testcase>
<testcase classname="tests.test_cart" name="test_legacy_rounding" time="0.01"/>
<testcase classname="tests.test_cart" name="test_discounts" time="0.02">
<failure message="[custom] (pct=10) assert 90 == 91">E assert 90 == 91</failure>
<failure message="contains 1 failed subtest"/></testcase>
<testcase classname="tests.test_cart" name="test_export" time="0.01">
<skipped type="pytest.skip" message="no network"/></testcase>
</testsuite></testsuites>"""
OUTCOMES_META = {
    "run_id": OUTCOMES_RUN,
    "project": "cart",
    "branch": MAIN,
    "git_sha": "ffff6666",
    "tests": {
        "tests.test_cart::test_legacy_rounding": {"outcome": "xpassed"},
        "tests.test_cart::test_discounts": {"subtests_failed": 1, "subtests_passed": 3},
    },
}


@pytest.fixture(scope="module")
def outcomes_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server with one run of :data:`OUTCOMES_XML`, sent with its sidecar."""
    path = tmp_path_factory.mktemp("browser-outcomes") / "testviz.sqlite3"
    with serve(f"sqlite:///{path}") as url:
        files = {
            "report": ("report.xml", OUTCOMES_XML),
            "meta": ("report.meta.json", json.dumps(OUTCOMES_META).encode()),
        }
        response = requests.post(f"{url}/api/tests/ingest", files=files, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "created"
        yield url


@pytest.fixture(scope="module")
def empty_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    path = tmp_path_factory.mktemp("browser-empty") / "testviz.sqlite3"
    with serve(f"sqlite:///{path}") as url:
        yield url


# -- the browser ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One Chromium for the session: the system's, never a downloaded one."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        missing_service(f"Chromium: {CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_service("Playwright: the playwright package is not installed (pip install .[test])")
        raise AssertionError("unreachable") from None
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Watch:
    """What went wrong on a page, as seen from the browser."""

    page: Any
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    bad_responses: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    #: Console messages a test expects (the one Chromium logs for a 404 document).
    allowed_console: list[str] = field(default_factory=list)

    def attach(self) -> None:
        page = self.page
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("requestfailed", self._failed)
        page.on("response", self._response)
        page.on("request", self._request)
        page.on("dialog", self._dialog)

    def _console(self, message: Any) -> None:
        if message.type == "error" and not any(a in message.text for a in self.allowed_console):
            self.console_errors.append(f"{message.text} ({message.location})")

    def _failed(self, request: Any) -> None:
        self.failed_requests.append(f"{request.method} {request.url}: {request.failure}")

    def _response(self, response: Any) -> None:
        if response.status >= 400 and response.request.resource_type != "document":
            self.bad_responses.append(f"{response.status} {response.url}")

    def _request(self, request: Any) -> None:
        parts = urlsplit(request.url)
        if parts.scheme == "data":
            return
        if parts.scheme not in ("http", "https") or parts.hostname != "127.0.0.1":
            self.foreign_requests.append(request.url)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    def problems(self) -> list[str]:
        found = []
        for label, items in (
            ("console error", self.console_errors),
            ("uncaught exception", self.page_errors),
            ("failed request", self.failed_requests),
            ("subresource error", self.bad_responses),
            ("request to another host", self.foreign_requests),
            ("dialog opened", self.dialogs),
        ):
            found += [f"{label}: {item}" for item in items]
        return found

    def assert_clean(self) -> None:
        problems = self.problems()
        assert not problems, "the browser saw:\n" + "\n".join(problems)


@pytest.fixture(scope="session")
def browser_context(browser: Any) -> Iterator[Any]:
    """One context for the session (the pages keep no state: no cookie, no storage)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def watch(browser_context: Any) -> Iterator[Watch]:
    """A new page (1280 px wide), watched until the test ends."""
    watched = Watch(browser_context.new_page())
    watched.attach()
    try:
        yield watched
        watched.assert_clean()
    finally:
        watched.page.close()


@pytest.fixture
def page(watch: Watch) -> Any:
    return watch.page
