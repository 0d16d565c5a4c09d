"""Sending a report and its sidecar to ``POST /api/tests/ingest``.

Both parts are sent gzip'd (the server inflates a part that starts with gzip's magic bytes).
With ``wait=False`` the request says ``Prefer: respond-async``: a server that honours it
stores the upload and answers 202 at once, and ingests it in the background, so the test run
does not wait for the parse and the database; an older server answers 200 as before.
Connection errors, timeouts and 5xx answers are retried a few times with backoff; a 4xx is
the server's considered "no" and is not. Nothing here raises for a transport problem: the
caller gets an :class:`Outcome` and decides what to tell the user.
"""

from __future__ import annotations

import gzip
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from .spool import Spooled

RETRIES = 3
BACKOFF = 0.5
INGEST_PATH = "/api/tests/ingest"
GZIP_TYPE = "application/gzip"
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Outcome:
    ok: bool
    #: "created" or "skipped" when ok ("queued": accepted, stored in the background);
    #: otherwise why not.
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


def _gzipped(path: Path) -> bytes:
    """The file's bytes, gzip'd unless they already are (the server inflates either).

    Level 1: a 10,000-test report and its sidecar shrink about 20 times in under 10 ms, so
    the upload is small on a slow link and cheap for the server's multipart parser.
    """
    data = path.read_bytes()
    if data.startswith(_GZIP_MAGIC):
        return data
    return gzip.compress(data, compresslevel=1, mtime=0)


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
    wait: bool = True,
) -> Outcome:
    """Upload one report (with its sidecar, if any); never raises for transport errors.

    ``wait=False`` lets the server answer once the upload is stored, before it is ingested.
    """
    headers = {"User-Agent": "pytest-testviz"}
    if not wait:
        headers["Prefer"] = "respond-async"
    token = (token or "").strip()  # a token read from a file keeps its newline
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        files: dict[str, Any] = {"report": (report.name, _gzipped(report), GZIP_TYPE)}
        if meta is not None and meta.is_file():
            # Only the file's name: no local path leaves the machine.
            files["meta"] = (meta.name, _gzipped(meta), GZIP_TYPE)
    except OSError as exc:
        return Outcome(False, f"cannot read {exc.filename or report}: {exc.strerror}")
    http = session or requests.Session()
    last = "not sent"
    try:
        for attempt in range(retries):
            if attempt:
                time.sleep(BACKOFF * 2 ** (attempt - 1))
            try:
                response = http.post(
                    url.rstrip("/") + INGEST_PATH,
                    files=files,
                    data={"project": project} if project else None,
                    headers=headers,
                    timeout=timeout,
                )
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
            except requests.RequestException as exc:
                return Outcome(False, f"cannot send to {url}: {type(exc).__name__}: {exc}")
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
            # A queued upload's run is at run_url once stored; url is where to follow it.
            where = body.get("run_url") or body.get("url") or ""
            return Outcome(
                True,
                str(body.get("status", "created")),
                run_id=body.get("run_id"),
                url=url.rstrip("/") + str(where),
            )
        return Outcome(False, last)
    finally:
        if session is None:
            http.close()


def send_spooled(spooled: Spooled, url: str, **options: object) -> Outcome:
    return send(url, spooled.xml, spooled.meta, **options)  # type: ignore[arg-type]
