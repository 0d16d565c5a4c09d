"""Sending a report and its sidecar to ``POST /api/tests/ingest``, with ``requests``.

Both parts are sent gzip'd (the server inflates a part that starts with gzip's magic bytes).
The request says ``Prefer: respond-async``: a server that honours it stores the upload,
answers 202 at once and ingests it in a worker, so no web worker of the server is held while
it parses and stores the run; an older server answers 200 as before. With ``wait=True`` the
client then polls the upload's status (the 202's ``Location``) until the run is stored or the
upload failed, for a bounded time; a server that answered 200 has stored it already.

``requests`` does the HTTP: the proxy (``https_proxy``, ``http_proxy``, ``all_proxy``,
``no_proxy``), the trusted certificates (``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE``, else
certifi's bundle; here also ``SSL_CERT_FILE``/``SSL_CERT_DIR``), the multipart body, and
urllib3's :class:`~urllib3.util.Retry` for the retries: connection errors, timeouts, 429 and
5xx answers are tried again with exponential backoff, honouring ``Retry-After``; any other
4xx is the server's considered "no" and is not. A redirect is reported, not followed (it
would turn the POST into an empty GET). Nothing here raises: the caller gets an
:class:`Outcome` and decides what to tell the user.

This module imports ``requests`` (about 0.1 s): the plugin imports it only when it has
something to send, at the end of the session.
"""

from __future__ import annotations

import gzip
import json
import os
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests
import requests.utils
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.retry import Retry

from .options import DEFAULT_WAIT_TIMEOUT, without_password
from .spool import Spooled

#: Attempts per upload (the first one included).
RETRIES = 3
#: urllib3's ``backoff_factor``: the n-th retry waits ``BACKOFF * 2 ** (n - 1)`` seconds, the
#: first none. Read on every send, so tests can shorten it.
BACKOFF = 0.5
#: The longest ``Retry-After`` honoured, in seconds: a test run does not wait an hour.
RETRY_AFTER_MAX = 30.0
#: With ``wait``: the pause before the first look at a queued upload's status, doubled after
#: each look up to :data:`POLL_MAX`. Read on every wait, so tests can shorten them.
POLL_FIRST = 0.2
POLL_MAX = 2.0
INGEST_PATH = "/api/tests/ingest"
STATUS_PATH = "/api/tests/uploads/"
GZIP_TYPE = "application/gzip"
_GZIP_MAGIC = b"\x1f\x8b"
#: Answers tried again: too many requests, and every server error.
_RETRY_STATUSES = frozenset({429, *range(500, 600)})


@dataclass(frozen=True)
class Outcome:
    ok: bool
    #: "created" or "skipped" when ok ("queued": accepted, stored in the background; or, when
    #: waiting for it ran out, that it is stored on the server but not yet ingested);
    #: otherwise why not.
    detail: str
    run_id: str | None = None
    #: A 4xx: sending the same files again will not help.
    rejected: bool = False
    url: str | None = None


class _Retry(Retry):
    """urllib3's retries, with ``Retry-After`` capped at :data:`RETRY_AFTER_MAX`."""

    def parse_retry_after(self, retry_after: str) -> float:
        return min(super().parse_retry_after(retry_after), RETRY_AFTER_MAX)


def _retry(attempts: int) -> Retry:
    return _Retry(
        total=attempts - 1,
        redirect=0,
        allowed_methods=None,  # POST too: the server ingests idempotently by run id
        status_forcelist=_RETRY_STATUSES,
        backoff_factor=BACKOFF,
        raise_on_status=False,  # the last answer, to say what it was
        raise_on_redirect=False,
    )


def _gzipped(path: Path) -> bytes:
    """The file's bytes, gzip'd unless they already are (the server inflates either).

    Level 1: a 10,000-test report and its sidecar shrink about 20 times in under 10 ms, so
    the upload is small on a slow link and cheap for the server's multipart parser.
    """
    data = path.read_bytes()
    if data.startswith(_GZIP_MAGIC):
        return data
    return gzip.compress(data, compresslevel=1, mtime=0)


def proxy_for(url: str) -> str | None:
    """The proxy ``requests`` sends ``url`` through, from the environment (or none)."""
    proxies = requests.utils.get_environ_proxies(url)
    proxy: str | None = requests.utils.select_proxy(url, proxies)
    return proxy


def _verify() -> bool | str:
    """What to trust: ``requests`` reads ``REQUESTS_CA_BUNDLE`` and ``CURL_CA_BUNDLE`` itself;
    failing those, the bundle OpenSSL's own variables name; else certifi's bundle."""
    if os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE"):
        return True
    return os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR") or True


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps, outermost first: requests wraps urllib3's ``MaxRetryError``,
    which names the last attempt's error, which was raised from the socket's."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for inner in (
            getattr(current, "reason", None),
            getattr(current, "original_error", None),
            current.__cause__,
            current.__context__,
            *current.args,
        ):
            if isinstance(inner, BaseException):
                todo.append(inner)


def _why(exc: BaseException, timeout: float) -> str:
    """Why a request failed, in words."""
    causes = list(_causes(exc))
    for cause in reversed(causes):  # innermost first
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, ssl.SSLError):
            return str(cause)
        if isinstance(cause, TimeoutError):
            return f"no answer within {timeout:g} s (timed out)"
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
    if any(
        isinstance(cause, (Urllib3Timeout, requests.Timeout))
        and not isinstance(cause, NewConnectionError)
        for cause in causes
    ):
        return f"no answer within {timeout:g} s (timed out)"
    return str(causes[-1]) or type(causes[-1]).__name__


def _unreachable(url: str, exc: BaseException, timeout: float, proxy: str | None) -> str:
    why = _why(exc, timeout)
    if proxy:  # which proxy, without its user name or password
        where = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        why += f" (through the proxy {where.scheme}://{where.netloc.rpartition('@')[2]})"
    return f"cannot reach {url}: {why}"


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, nested beyond reason
        return None


def _explain(response: requests.Response) -> str:
    body = _json(response.content)
    message = body.get("message") if isinstance(body, dict) else None
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
    wait: bool = True,
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
) -> Outcome:
    """Upload one report (with its sidecar, if any) in up to ``retries`` attempts; never raises.

    The server answers once the upload is stored, before it is ingested (202). With ``wait``
    its status is then polled for up to about ``wait_timeout`` seconds, until the run is stored
    or the upload failed; ``timeout`` bounds each request.
    """
    headers = {"User-Agent": "pytest-testviz"}
    token = (token or "").strip()  # a token read from a file keeps its newline
    if token:
        if not (token.isascii() and token.isprintable()):
            # Never echoed: the HTTP library's own error would quote the header, token and all.
            return Outcome(
                False,
                f"cannot send to {url}: the ingest token holds characters an HTTP header "
                "cannot carry (a line break?)",
            )
        headers["Authorization"] = f"Bearer {token}"
    try:
        files = {"report": (report.name, _gzipped(report), GZIP_TYPE)}
        if meta is not None and meta.is_file():
            # Only the file's name: no local path leaves the machine.
            files["meta"] = (meta.name, _gzipped(meta), GZIP_TYPE)
    except OSError as exc:
        return Outcome(False, f"cannot read {exc.filename or report}: {exc.strerror}")
    endpoint = url.rstrip("/") + INGEST_PATH
    proxy = None
    try:
        proxy = proxy_for(endpoint)
        with requests.Session() as http:
            adapter = HTTPAdapter(max_retries=_retry(max(retries, 1)))
            http.mount("http://", adapter)
            http.mount("https://", adapter)
            response = http.post(
                endpoint,
                data={"project": project} if project else None,
                files=files,
                headers={**headers, "Prefer": "respond-async"},
                timeout=timeout,
                allow_redirects=False,
                verify=_verify(),
            )
            if wait and response.status_code == 202:
                return _wait(http, url, response, headers, timeout, wait_timeout)
    except (requests.exceptions.InvalidURL, requests.exceptions.InvalidSchema) as exc:
        return Outcome(False, without_password(f"cannot send to {url}: {exc}"))
    except (requests.ConnectionError, requests.Timeout) as exc:
        return Outcome(False, without_password(_unreachable(url, exc, timeout, proxy)))
    except Exception as exc:  # whatever requests raises, the test run goes on
        detail = f"cannot send to {url}: {type(exc).__name__}: {exc}"
        return Outcome(False, without_password(detail))
    return _outcome(url, response)


def _outcome(url: str, response: requests.Response) -> Outcome:
    status = response.status_code
    if status >= 500 or status == 429:  # what was left after the retries
        return Outcome(False, _explain(response))
    if 300 <= status < 400:
        location = response.headers.get("Location")
        where = f" to {location}" if location else ""
        return Outcome(
            False,
            f"HTTP {status}: the server redirects{where}; send to that address",
            rejected=True,
        )
    if status >= 400:
        return Outcome(False, _explain(response), rejected=True)
    answered = _json(response.content)
    if not isinstance(answered, dict):
        return Outcome(False, f"HTTP {status}: the answer is not a testviz server's")
    run_id = answered.get("run_id")
    if isinstance(run_id, str) and run_id:
        # The run's page, which shows a queued upload until the run is stored.
        where = "/runs/" + quote(run_id, safe="")
    else:
        where = str(answered.get("run_url") or answered.get("url") or "")
    return Outcome(
        True,
        str(answered.get("status", "created")),
        run_id=run_id if isinstance(run_id, str) else None,
        url=url.rstrip("/") + where,
    )


def _wait(
    http: requests.Session,
    url: str,
    accepted: requests.Response,
    headers: dict[str, str],
    timeout: float,
    wait_timeout: float,
) -> Outcome:
    """Follow a 202 until the upload is ``done`` or ``failed``, or ``wait_timeout`` runs out.

    The upload is on the server from the 202 on: an answer that cannot be read, a refused
    connection, a 5xx while polling only mean that its state is not known yet. Each look is
    one request, not retried (the next look is the retry).
    """
    queued = _outcome(url, accepted)
    answered = _json(accepted.content)
    where = _status_url(url, accepted, answered if isinstance(answered, dict) else {})
    if not queued.ok or where is None:
        return queued
    adapter = HTTPAdapter()  # no retries: the polling loop is them
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    deadline = time.monotonic() + wait_timeout
    pause = POLL_FIRST
    unknown = ""  # why the last look did not tell the state, if it did not
    while (left := deadline - time.monotonic()) > 0:
        time.sleep(min(pause, left))
        pause = min(pause * 2, POLL_MAX)
        try:
            response = http.get(
                where,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                verify=_verify(),
            )
        except requests.RequestException as exc:
            unknown = _why(exc, timeout)
            continue
        status = _json(response.content) if response.status_code == 200 else None
        if not isinstance(status, dict):
            if response.status_code == 429 or response.status_code >= 500:
                unknown = _explain(response)
                continue
            why = _explain(response) if response.status_code != 200 else "not a testviz answer"
            return replace(queued, detail=f"stored on the server; its state cannot be read ({why})")
        unknown = ""
        state = status.get("state")
        if state == "done":
            return _stored(url, status, queued)
        if state == "failed":
            return _failed(status)
    detail = f"stored on the server, not yet ingested after {wait_timeout:g} s"
    if unknown:
        detail += f" (the last look at its state: {unknown})"
    return replace(queued, detail=detail)


def _status_url(url: str, accepted: requests.Response, answered: dict[str, Any]) -> str | None:
    """Where the upload's status is: the 202's ``Location`` (or the body's ``url``), a path
    under the server's URL as the run links are, whatever host it names; else by its id."""
    base = url.rstrip("/")
    prefix = urlsplit(base).path
    for given in (accepted.headers.get("Location"), answered.get("url")):
        if isinstance(given, str) and given:
            path = urlsplit(given).path
            if prefix and path.startswith(prefix + "/"):
                path = path[len(prefix) :]  # a server that knows its prefix named it
            if path.startswith(STATUS_PATH):
                return base + path
    upload_id = answered.get("upload_id")
    if isinstance(upload_id, int) and not isinstance(upload_id, bool):
        return f"{base}{STATUS_PATH}{upload_id}"
    return None


def _stored(url: str, status: dict[str, Any], queued: Outcome) -> Outcome:
    """A ``done`` upload: what the synchronous answer would have said."""
    result = status.get("result")
    result = result if isinstance(result, dict) else {}
    run_id = status.get("run_id") or result.get("run_id") or queued.run_id
    if not isinstance(run_id, str) or not run_id:
        return replace(queued, detail=str(result.get("status", "created")))
    return Outcome(
        True,
        str(result.get("status", "created")),
        run_id=run_id,
        url=url.rstrip("/") + "/runs/" + quote(run_id, safe=""),
    )


def _failed(status: dict[str, Any]) -> Outcome:
    """A ``failed`` upload: the status, code and message a synchronous upload would have got."""
    error = status.get("error")
    error = error if isinstance(error, dict) else {}
    code = error.get("status")
    code = code if isinstance(code, int) and not isinstance(code, bool) else 500
    message = error.get("message") or error.get("code") or "the server could not ingest it"
    return Outcome(False, f"HTTP {code}: {message}", rejected=400 <= code < 500)


def send_spooled(spooled: Spooled, url: str, **options: Any) -> Outcome:
    return send(url, spooled.xml, spooled.meta, **options)
