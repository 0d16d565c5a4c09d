"""Screenshots of the visualizer for the README.

Run from the checkout: ``.venv/bin/python docs/screenshots.py [--out docs/screenshots]``.

It seeds a made-up but realistic history (40 runs of about 150 tests on three branches and
three environments, with flaky, environment-specific and recurring failures, and one run
that lost a module) into a temporary SQLite database through the HTTP ingest API, serves it
on 127.0.0.1, and saves full-page PNGs (1280 px wide) of every page with the system's
Chromium (``/usr/bin/chromium``; Playwright never downloads a browser here).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import random
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


import server.ingest.analysis  # noqa: E402
import server.ingest.store  # noqa: E402
from tests.server.helpers import serve  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
WIDTH = 1280
MAX_HEIGHT = 1600
PROJECT = "shop-api"
OTHER_PROJECT = "storefront"

LINUX_312 = "linux-py3.12"
LINUX_311 = "linux-py3.11"
MACOS_312 = "macos-py3.12"
ENVS = {
    LINUX_312: {"python": "3.12.7", "os": "Linux", "runner": "ubuntu-24.04"},
    LINUX_311: {"python": "3.11.10", "os": "Linux", "runner": "ubuntu-22.04"},
    MACOS_312: {"python": "3.12.7", "os": "Darwin", "runner": "macos-14"},
}

MODULES = {
    "tests.api.test_orders": ("@team-checkout", 16),
    "tests.api.test_payments": ("@team-payments", 14),
    "tests.api.test_cart": ("@team-checkout", 12),
    "tests.api.test_auth": ("@team-identity", 14),
    "tests.api.test_search": ("@team-discovery", 12),
    "tests.api.test_inventory": ("@team-warehouse", 12),
    "tests.core.test_cache": ("@team-platform", 10),
    "tests.core.test_files": ("@team-platform", 10),
    "tests.core.test_timezones": ("@team-platform", 8),
    "tests.core.test_money": ("@team-payments", 12),
    "tests.integration.test_db": ("@team-platform", 12),
    "tests.integration.test_webhooks": ("@team-integrations", 12),
    "tests.integration.test_email": ("@team-integrations", 8),
}
VERBS = [
    "creates", "rejects", "lists", "updates", "deletes", "retries", "paginates", "validates",
    "serialises", "merges", "expires", "refunds", "locks", "streams", "caches", "sorts",
]  # fmt: skip
NOUNS = [
    "order", "duplicate_request", "empty_cart", "expired_token", "unicode_name", "large_payload",
    "partial_refund", "missing_currency", "stale_cache", "concurrent_update", "bad_signature",
    "negative_amount", "timezone_offset", "rate_limit", "idempotency_key", "soft_deleted_row",
]  # fmt: skip

FLAKY_CHECKOUT = ("tests.api.test_orders", "test_concurrent_checkout_keeps_stock")
FLAKY_TTL = ("tests.core.test_cache", "test_ttl_expiry_under_load")
FLAKY_WEBHOOK = ("tests.integration.test_webhooks", "test_retry_backoff_is_exponential")
ENV_UNICODE = ("tests.core.test_files", "test_unicode_paths_roundtrip")
ENV_DST = ("tests.core.test_timezones", "test_dst_transition_in_sydney")
SEARCH_RANKING = ("tests.api.test_search", "test_ranking_prefers_exact_match")
SLOW = ("tests.integration.test_db", "test_full_migration_chain")
SPECIAL = {FLAKY_CHECKOUT, FLAKY_TTL, FLAKY_WEBHOOK, ENV_UNICODE, ENV_DST, SEARCH_RANKING, SLOW}

DB_TRACEBACK = """Traceback (most recent call last):
  File "tests/conftest.py", line 48, in database
    connection = engine.connect()
  File "sqlalchemy/engine/base.py", line 3273, in connect
    return self._connection_cls(self)
  File "sqlalchemy/pool/base.py", line 716, in __connect
    self.dbapi_connection = connection = pool._invoke_creator(self)
  File "psycopg/connection.py", line 119, in connect
    raise last_ex.with_traceback(None)
psycopg.OperationalError: connection failed: Connection refused
    Is the server running on host "postgres" (10.1.0.7) and accepting TCP/IP connections
    on port 5432?
"""
KEYERROR_TRACEBACK = """tests/api/conftest.py:61: in paid_order
    receipt = client.post("/payments", json=payload).json()
app/payments/views.py:41: in create_payment
    amount = Money(body["amount"], body["currency"])
E   KeyError: 'currency'
"""
RANKING_TRACEBACK = """tests/api/test_search.py:132: in test_ranking_prefers_exact_match
    assert [hit.sku for hit in hits[:3]] == ["KB-101", "KB-101-BLK", "KB-102"]
E   AssertionError: assert ['KB-101-BLK', 'KB-101', 'KB-102'] == ['KB-101', 'KB-101-BLK', 'KB-102']
E     At index 0 diff: 'KB-101-BLK' != 'KB-101'
"""
CHECKOUT_TRACEBACK = """tests/api/test_orders.py:210: in test_concurrent_checkout_keeps_stock
    assert stock.available == 0
E   AssertionError: assert 1 == 0
E    +  where 1 = <Stock sku='MUG-01' available=1 reserved=9>.available
"""
WEBHOOK_TRACEBACK = """tests/integration/test_webhooks.py:77: in test_retry_backoff_is_exponential
    assert delays == [1, 2, 4, 8]
E   AssertionError: assert [1, 2, 5, 8] == [1, 2, 4, 8]
"""
UNICODE_TRACEBACK = """tests/core/test_files.py:54: in test_unicode_paths_roundtrip
    assert store.get(path).name == "café-menu.pdf"
E   AssertionError: assert 'café-menu.pdf' == 'café-menu.pdf'
E     (the file system returned the name in NFD form)
"""
DST_TRACEBACK = """tests/core/test_timezones.py:23: in test_dst_transition_in_sydney
    assert local.utcoffset() == timedelta(hours=11)
E   AssertionError: assert datetime.timedelta(seconds=36000) == datetime.timedelta(seconds=39600)
"""


@dataclass
class Run:
    index: int
    branch: str
    env: str
    sha: str


def hexid(*parts: object, length: int = 40) -> str:
    return hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()[:length]


def test_names(rng: random.Random) -> list[tuple[str, str]]:
    tests: list[tuple[str, str]] = []
    for module, (_, count) in MODULES.items():
        seen: set[str] = set()
        while len(seen) < count:
            seen.add(f"test_{rng.choice(VERBS)}_{rng.choice(NOUNS)}")
        tests += [(module, name) for name in sorted(seen)]
    specials = [t for t in sorted(SPECIAL) if t not in tests]
    return tests + specials


def plan_runs() -> list[Run]:
    """40 runs: main in two environments, a checkout feature branch, a short fix branch."""
    runs: list[Run] = []
    commit = 0
    for index in range(40):
        if index in range(12, 22) and index % 2 == 0:
            branch = "feature/checkout-v2"
        elif index in (30, 31, 33):
            branch = "fix/search-ranking"
        else:
            branch = "main"
        if index % 3 != 1:  # a new commit for most runs; some reruns of the same sha
            commit += 1
        env = {0: LINUX_312, 1: LINUX_311, 2: MACOS_312}[index % 3] if branch == "main" else None
        runs.append(Run(index, branch, env or LINUX_312, hexid("sha", branch, commit)))
    return runs


def outcome(run: Run, test: tuple[str, str], rng: random.Random) -> dict[str, Any]:
    """One test's result in one run (status, duration, failure) following the demo's story."""
    module, name = test
    base = 0.02 + (int(hexid(module, name, length=4), 16) % 400) / 1000
    duration = round(base * rng.uniform(0.8, 1.3), 3)
    if test == SLOW:
        duration = round(6.5 + rng.uniform(0, 1.5) + (2.0 if run.index >= 25 else 0), 3)
    result: dict[str, Any] = {
        "classname": module,
        "name": name,
        "status": "passed",
        "duration": duration,
        "owner": MODULES[module][0],
        "file": module.replace(".", "/") + ".py",
    }

    def fail(error_type: str, message: str, text: str, status: str = "failed") -> None:
        result.update(status=status, error_type=error_type, message=message, text=text)

    if run.index == 9 and module == "tests.integration.test_db":  # the CI database was down
        fail(
            "psycopg.OperationalError",
            'connection failed: Connection refused (host "postgres", port 5432)',
            DB_TRACEBACK,
            status="error",
        )
    elif run.branch == "feature/checkout-v2" and module == "tests.api.test_payments":
        if run.index < 15 and int(hexid(name, length=2), 16) % 2 == 0:  # fixed in run 16
            fail("KeyError", "'currency'", KEYERROR_TRACEBACK)
    elif test == SEARCH_RANKING and 24 <= run.index <= 32 and run.branch != "fix/search-ranking":
        fail(
            "AssertionError",
            "assert ['KB-101-BLK', 'KB-101', 'KB-102'] == ['KB-101', 'KB-101-BLK', 'KB-102']",
            RANKING_TRACEBACK,
        )
    elif test == FLAKY_CHECKOUT and rng.random() < 0.3:
        if rng.random() < 0.5:
            result["flaky"] = True  # passed on a rerun
        else:
            fail("AssertionError", "assert 1 == 0", CHECKOUT_TRACEBACK)
    elif test == FLAKY_TTL and rng.random() < 0.2:
        result["flaky"] = True
    elif test == FLAKY_WEBHOOK and run.index % 5 in (1, 3) and run.env == LINUX_312:
        fail("AssertionError", "assert [1, 2, 5, 8] == [1, 2, 4, 8]", WEBHOOK_TRACEBACK)
    elif test == ENV_UNICODE and run.env == MACOS_312:
        fail(
            "AssertionError",
            "assert 'café-menu.pdf' == 'café-menu.pdf' (NFD vs NFC)",
            UNICODE_TRACEBACK,
        )
    elif test == ENV_DST and run.env == LINUX_311:
        fail(
            "AssertionError",
            "assert datetime.timedelta(seconds=36000) == datetime.timedelta(seconds=39600)",
            DST_TRACEBACK,
        )
    elif name.startswith("test_streams") and module == "tests.integration.test_email":
        result.update(status="skipped", message="SMTP sandbox not configured")
    return result


def run_body(run: Run, tests: list[tuple[str, str]], started: datetime) -> dict[str, Any]:
    rng = random.Random(run.index)
    chosen = tests
    if run.index == 36:  # a collection error: test_webhooks and test_email were not run
        chosen = [t for t in tests if not t[0].startswith("tests.integration.test_")]
        chosen += [t for t in tests if t[0] == "tests.integration.test_db"]
    results = [outcome(run, test, rng) for test in chosen]
    if run.index == 38:  # three tests marked skip "for now"
        for result in results[40:43]:
            result.update(status="skipped", message="skipped: flaky on CI, see #482")
            for key in ("error_type", "text", "flaky"):
                result.pop(key, None)
    return {
        "run_id": hexid("run", run.index, length=32),
        "project": PROJECT,
        "session_id": f"gha-{9120 + run.index}-1",
        "git_sha": run.sha,
        "branch": run.branch,
        "env_fingerprint": run.env,
        "env": {**ENVS[run.env], "ci": "GitHub Actions"},
        "started_at": started.isoformat(),
        "results": results,
    }


def other_project_bodies(start: datetime) -> list[dict[str, Any]]:
    bodies = []
    for index in range(5):
        results = [
            {"classname": "e2e.checkout", "name": f"test_step_{step}", "status": "passed",
             "duration": 1.5 + step / 3}
            for step in range(12)
        ]  # fmt: skip
        bodies.append(
            {
                "run_id": hexid("storefront", index, length=32),
                "project": OTHER_PROJECT,
                "git_sha": hexid("storefront-sha", index),
                "branch": "main",
                "env_fingerprint": "chromium-linux",
                "started_at": (start + timedelta(days=index * 4)).isoformat(),
                "results": results,
            }
        )
    return bodies


class Clock:
    """The demo's ingest time: each run arrives some hours after the previous one."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def install(self) -> None:
        """Stamp runs (ingest) and integrity signals (analysis) with this clock."""
        clock = self

        class DemoDatetime(datetime):
            @classmethod
            def now(cls, tz: Any = None) -> Any:
                return clock.now if tz else clock.now.replace(tzinfo=None)

        server.ingest.store.utcnow = clock  # type: ignore[assignment]
        server.ingest.analysis.datetime = DemoDatetime  # type: ignore[misc]


def seed(url: str) -> dict[str, str]:
    """Send the demo history; return the ids the screenshots need."""
    start = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    start -= timedelta(days=20)
    clock = Clock(start)  # spread the demo over three weeks, not the seconds it takes
    clock.install()
    tests = test_names(random.Random(7))
    bodies = other_project_bodies(start - timedelta(hours=2))
    runs = plan_runs()
    bodies += [run_body(r, tests, start + timedelta(hours=12 * r.index)) for r in runs]
    with requests.Session() as session:
        for body in bodies:
            clock.now = datetime.fromisoformat(body["started_at"]) + timedelta(minutes=4)
            response = session.post(f"{url}/api/tests/ingest", json=body, timeout=60)
            response.raise_for_status()
        flaky = session.get(f"{url}/api/tests/flaky", params={"project": PROJECT}, timeout=30)
        groups = session.get(
            f"{url}/api/tests/failure-groups",
            params={"project": PROJECT, "order": "runs"},
            timeout=30,
        )
        flaky.raise_for_status()
        groups.raise_for_status()
    checkout = next(t for t in flaky.json()["tests"] if t["name"] == FLAKY_CHECKOUT[1])
    group = next(g for g in groups.json()["groups"] if g["error_type"] == "KeyError")
    return {
        "run": hexid("run", 24, length=32),  # main: the search ranking regression is new
        "test": checkout["test_id"],
        "group": group["fingerprint"],
    }


def shoot(url: str, ids: dict[str, str], out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    pages = {
        "overview": f"/?project={PROJECT}",
        "runs": f"/runs?project={PROJECT}&per_page=25",
        "run": f"/runs/{ids['run']}?per_page=25",
        "test": f"/tests/{ids['test']}?project={PROJECT}",
        "flaky": f"/flaky?project={PROJECT}",
        "failures": f"/failures?project={PROJECT}&order=runs",
        "failure": f"/failures/{ids['group']}?project={PROJECT}",
        "integrity": f"/integrity?project={PROJECT}",
    }
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(viewport={"width": WIDTH, "height": 800})
        page = context.new_page()
        for name, path in pages.items():
            response = page.goto(url + path)
            if response is None or response.status != 200:
                raise SystemExit(f"{path}: {response.status if response else 'no response'}")
            height = page.evaluate("document.documentElement.scrollHeight")
            target = out / f"{name}.png"
            page.screenshot(
                path=str(target),
                full_page=True,
                scale="css",
                clip={"x": 0, "y": 0, "width": WIDTH, "height": min(height, MAX_HEIGHT)},
            )
            saved.append(target)
        browser.close()
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        url = stack.enter_context(serve(f"sqlite:///{Path(tmp) / 'demo.sqlite3'}"))
        ids = seed(url)
        saved = shoot(url, ids, args.out)
    for path in saved:
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}"
              f"  {path.stat().st_size // 1024} KiB")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
