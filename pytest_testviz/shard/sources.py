"""Where a shard plan's inputs come from: the server's durations, their cache, the server's plan.

``GET /api/tests/durations?project=P`` gives each test's recent duration on the project's
default branch, keyed by ``test_id``; it is asked once per session, with a short timeout,
and kept in ``<dir>/durations.json`` for a job that cannot reach the server.
``POST /api/tests/shard-plans`` gives the plan the server keeps for a CI build, so every job
of the build runs its part of one plan. Nothing here raises for the network: a failure is
a :class:`Failed` with the reason in words, and the caller falls back and says so.

The HTTP is ``upload``'s: its proxy and certificate handling and its retries (fewer here:
a test run waits for this before its first test).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..core.sharding import Plan, Source

DURATIONS_PATH = "/api/tests/durations"
PLANS_PATH = "/api/tests/shard-plans"
CACHE_NAME = "durations.json"
CACHE_VERSION = 1
#: Attempts per request: a refused connection or a 5xx is tried once more, not three times.
ATTEMPTS = 2


@dataclass(frozen=True)
class Failed:
    """Why a request gave nothing usable."""

    reason: str


@dataclass(frozen=True)
class Durations:
    durations: dict[str, float]
    #: The branch they were measured on, and the runs they come from, as the server said.
    branch: str | None = None
    runs: int | None = None
    #: When they were fetched (for the cache), as ISO 8601.
    fetched: str | None = None


@dataclass(frozen=True)
class RemotePlan:
    plan: Plan
    plan_id: str
    #: Whether this request made the plan (else an earlier job of the build did).
    created: bool


def _headers(token: str | None) -> dict[str, str]:
    headers = {"User-Agent": "pytest-testviz", "Accept": "application/json"}
    token = (token or "").strip()
    if token and token.isascii() and token.isprintable():
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _request(
    method: str,
    url: str,
    path: str,
    *,
    token: str | None,
    timeout: float,
    params: Mapping[str, str] | None = None,
    body: Any = None,
) -> Any:
    """The JSON answer of one request (with upload's retries), or a :class:`Failed`."""
    import requests
    from requests.adapters import HTTPAdapter

    from ..options import without_password
    from ..upload import _explain, _json, _retry, _unreachable, _verify, proxy_for

    endpoint = url.rstrip("/") + path
    proxy = None
    try:
        proxy = proxy_for(endpoint)
        with requests.Session() as http:
            adapter = HTTPAdapter(max_retries=_retry(ATTEMPTS))
            http.mount("http://", adapter)
            http.mount("https://", adapter)
            response = http.request(
                method,
                endpoint,
                params=params,
                json=body,
                headers=_headers(token),
                timeout=timeout,
                allow_redirects=False,
                verify=_verify(),
            )
    except (requests.ConnectionError, requests.Timeout) as exc:
        return Failed(without_password(_unreachable(url, exc, timeout, proxy)))
    except Exception as exc:  # whatever requests raises, the test run goes on
        return Failed(without_password(f"cannot ask {url}: {type(exc).__name__}: {exc}"))
    if response.status_code != 200 and response.status_code != 201:
        return Failed(f"{url} answered {_explain(response)}")
    answer = _json(response.content)
    if not isinstance(answer, dict):
        return Failed(
            f"{url} answered HTTP {response.status_code}, but not a testviz server's JSON"
        )
    return answer


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


def _durations(answer: Mapping[str, Any], fetched: str | None) -> Durations | Failed:
    """The durations in a server answer or the cache; entries that are not one dropped."""
    given = answer.get("durations")
    if not isinstance(given, dict):
        return Failed("the answer has no durations")
    durations = {}
    for test, value in given.items():
        seconds = _seconds(value)
        if isinstance(test, str) and seconds is not None:
            durations[test] = seconds
    branch = answer.get("branch")
    runs = answer.get("runs")
    return Durations(
        durations,
        branch if isinstance(branch, str) else None,
        runs if isinstance(runs, int) and not isinstance(runs, bool) else None,
        fetched,
    )


def fetch_durations(
    url: str, project: str, *, token: str | None, timeout: float
) -> Durations | Failed:
    """The server's recent durations of the project's tests, keyed by ``test_id``."""
    answer = _request(
        "GET", url, DURATIONS_PATH, token=token, timeout=timeout, params={"project": project}
    )
    if isinstance(answer, Failed):
        return answer
    fetched = datetime.now(timezone.utc).isoformat(timespec="seconds")
    found = _durations(answer, fetched)
    if isinstance(found, Failed):
        return Failed(f"{url} answered without durations")
    return found


def load_cache(directory: Path, project: str) -> Durations | None:
    """The durations last fetched for ``project``, if the cache holds them."""
    try:
        text = (directory / CACHE_NAME).read_text(encoding="utf-8")
        cached = json.loads(text)
    except (OSError, ValueError, RecursionError):
        return None
    if (
        not isinstance(cached, dict)
        or cached.get("version") != CACHE_VERSION
        or cached.get("project") != project
    ):
        return None
    fetched = cached.get("fetched")
    found = _durations(cached, fetched if isinstance(fetched, str) else None)
    return None if isinstance(found, Failed) else found


def save_cache(directory: Path, project: str, durations: Durations) -> None:
    """Keep ``durations`` for the next run that cannot reach the server; best effort.

    Written to a temporary file and renamed, so a job reading it meanwhile sees the old
    cache or the new one, never half of one.
    """
    content = {
        "version": CACHE_VERSION,
        "project": project,
        "branch": durations.branch,
        "runs": durations.runs,
        "fetched": durations.fetched,
        "durations": durations.durations,
    }
    try:
        directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".durations-", dir=directory)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(content, out, sort_keys=True, separators=(",", ":"))
        os.replace(temporary, directory / CACHE_NAME)
    except OSError:
        pass  # a read-only checkout: next time without a cache, as this time


def _parts(answer: Mapping[str, Any], total: int, tests: set[str]) -> tuple[tuple[str, ...], ...]:
    """The answer's parts, if they are ``total`` parts that hold each of ``tests`` once."""
    parts = answer.get("parts")
    if not isinstance(parts, list) or len(parts) != total:
        raise ValueError
    seen: set[str] = set()
    result = []
    for part in parts:
        if not isinstance(part, list) or not all(isinstance(test, str) for test in part):
            raise ValueError
        if seen.intersection(part) or len(set(part)) != len(part):
            raise ValueError
        seen.update(part)
        result.append(tuple(part))
    if seen != tests:
        raise ValueError
    return tuple(result)


def request_plan(
    url: str,
    *,
    token: str | None,
    timeout: float,
    project: str,
    build_id: str,
    total: int,
    group: str | None,
    units: Sequence[Sequence[str]],
) -> RemotePlan | Failed:
    """The server's plan for this build, N, grouping and collection: made by the first job
    that asks, the same for every later one."""
    body = {
        "project": project,
        "build_id": build_id,
        "total": total,
        "group": group,
        "tests": [list(unit) for unit in units],
    }
    answer = _request("POST", url, PLANS_PATH, token=token, timeout=timeout, body=body)
    if isinstance(answer, Failed):
        return answer
    tests = {test for unit in units for test in unit}
    try:
        parts = _parts(answer, total, tests)
    except ValueError:
        return Failed(f"the plan {url} answered does not split this collection")
    loads = answer.get("loads")
    if not (
        isinstance(loads, list)
        and len(loads) == total
        and all(_seconds(load) is not None for load in loads)
    ):
        loads = [0.0] * total
    source: Source = "count" if answer.get("source") == "count" else "durations"
    known = answer.get("known")
    return RemotePlan(
        Plan(
            parts,
            tuple(float(load) for load in loads),
            source,
            known if isinstance(known, int) else 0,
        ),
        str(answer.get("plan_id", "")),
        bool(answer.get("created")),
    )
