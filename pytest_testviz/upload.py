"""Sending a report and its sidecar to ``POST /api/tests/ingest``.

Connection errors, timeouts and 5xx answers are retried a few times with backoff; a 4xx is
the server's considered "no" and is not. Nothing here raises for a transport problem: the
caller gets an :class:`Outcome` and decides what to tell the user.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from .spool import Spooled

RETRIES = 3
BACKOFF = 0.5
INGEST_PATH = "/api/tests/ingest"


@dataclass(frozen=True)
class Outcome:
    ok: bool
    #: "created" or "skipped" when ok; otherwise why not.
    detail: str
    run_id: str | None = None
    #: A 4xx: sending the same files again will not help.
    rejected: bool = False
    url: str | None = None


def _explain(response: requests.Response) -> str:
    try:
        body = response.json()
        message = body.get("message") if isinstance(body, dict) else None
    except ValueError:
        message = None
    return f"HTTP {response.status_code}: {message or response.reason or 'no reason given'}"


def send(
    url: str,
    report: Path,
    meta: Path | None,
    *,
    token: str | None = None,
    timeout: float = 10.0,
    project: str | None = None,
    retries: int = RETRIES,
    session: requests.Session | None = None,
) -> Outcome:
    """Upload one report (with its sidecar, if any); never raises for transport errors."""
    headers = {"User-Agent": "pytest-testviz"}
    token = (token or "").strip()  # a token read from a file keeps its newline
    if token:
        headers["Authorization"] = f"Bearer {token}"
    http = session or requests.Session()
    last = "not sent"
    try:
        for attempt in range(retries):
            if attempt:
                time.sleep(BACKOFF * 2 ** (attempt - 1))
            try:
                with open(report, "rb") as xml:
                    files: dict[str, Any] = {"report": (report.name, xml, "application/xml")}
                    meta_handle = open(meta, "rb") if meta is not None and meta.is_file() else None  # noqa: SIM115
                    try:
                        if meta_handle is not None:
                            name = Path(meta_handle.name).name  # no local path leaves the machine
                            files["meta"] = (name, meta_handle, "application/json")
                        response = http.post(
                            url.rstrip("/") + INGEST_PATH,
                            files=files,
                            data={"project": project} if project else None,
                            headers=headers,
                            timeout=timeout,
                        )
                    finally:
                        if meta_handle is not None:
                            meta_handle.close()
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = f"cannot reach {url}: {type(exc).__name__}"
                continue
            except requests.exceptions.InvalidHeader:
                # requests quotes the header it refuses: that would print the token.
                return Outcome(
                    False,
                    f"cannot send to {url}: the ingest token holds characters an HTTP header "
                    "cannot carry (a line break?)",
                )
            except requests.RequestException as exc:  # an OSError too: must come first
                return Outcome(False, f"cannot send to {url}: {type(exc).__name__}: {exc}")
            except OSError as exc:
                return Outcome(False, f"cannot read {report}: {exc.strerror}")
            if response.status_code >= 500:
                last = _explain(response)
                continue
            if response.status_code >= 400:
                return Outcome(False, _explain(response), rejected=True)
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                return Outcome(
                    False, f"HTTP {response.status_code}: the answer is not a testviz server's"
                )
            return Outcome(
                True,
                str(body.get("status", "created")),
                run_id=body.get("run_id"),
                url=url.rstrip("/") + str(body.get("url", "")),
            )
        return Outcome(False, last)
    finally:
        if session is None:
            http.close()


def send_spooled(spooled: Spooled, url: str, **options: object) -> Outcome:
    return send(url, spooled.xml, spooled.meta, **options)  # type: ignore[arg-type]
