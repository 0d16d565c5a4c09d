"""Sending a report and its sidecar to ``POST /api/tests/ingest``.

Both parts are sent gzip'd (the server inflates a part that starts with gzip's magic bytes).
With ``wait=False`` the request says ``Prefer: respond-async``: a server that honours it
stores the upload and answers 202 at once, and ingests it in the background, so the test run
does not wait for the parse and the database; an older server answers 200 as before.
Connection errors, timeouts and 5xx answers are retried a few times with backoff; a 4xx is
the server's considered "no" and is not. Nothing here raises for a transport problem: the
caller gets an :class:`Outcome` and decides what to tell the user.

The standard library's ``urllib.request`` does the HTTP: one POST needs nothing more, and it
imports in a tenth of the time ``requests`` takes, at the end of every pushing test run. The
proxy and the trusted certificates are chosen from the environment as ``requests`` and
``curl`` choose them (see :func:`proxies_for` and :func:`tls_context`).
"""

from __future__ import annotations

import gzip
import ipaddress
import json
import os
import ssl
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from http.client import HTTPException, InvalidURL
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from .spool import Spooled

RETRIES = 3
BACKOFF = 0.5
INGEST_PATH = "/api/tests/ingest"
GZIP_TYPE = "application/gzip"
_GZIP_MAGIC = b"\x1f\x8b"
# What a multipart header parameter cannot hold as is (the HTML5 form encoding, as browsers
# and requests write it): quotes and control characters are percent-encoded.
_PARAM_ESCAPES = {ord('"'): "%22", ord("\\"): "\\\\"} | {
    code: f"%{code:02X}" for code in range(0x20) if code != 0x1B
}


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


@dataclass(frozen=True)
class _Answer:
    status: int
    reason: str
    body: bytes
    location: str | None = None

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, nested beyond reason
            return None

    def explain(self) -> str:
        body = self.json()
        message = body.get("message") if isinstance(body, dict) else None
        return f"HTTP {self.status}: {message or self.reason or 'no reason given'}"


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirected POST would arrive as a GET without its files: say where it points instead."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _gzipped(path: Path) -> bytes:
    """The file's bytes, gzip'd unless they already are (the server inflates either).

    Level 1: a 10,000-test report and its sidecar shrink about 20 times in under 10 ms, so
    the upload is small on a slow link and cheap for the server's multipart parser.
    """
    data = path.read_bytes()
    if data.startswith(_GZIP_MAGIC):
        return data
    return gzip.compress(data, compresslevel=1, mtime=0)


def multipart(
    fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]
) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body and its content type: text fields, then files."""
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for name, value in fields.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{_param(name)}"\r\n\r\n'
        parts += [head.encode(), value.encode(), b"\r\n"]
    for name, (filename, data, content_type) in files.items():
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_param(name)}"; '
            f'filename="{_param(filename)}"\r\nContent-Type: {content_type}\r\n\r\n'
        )
        parts += [head.encode(), data, b"\r\n"]
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _param(value: str) -> str:
    return value.translate(_PARAM_ESCAPES)


def proxies_for(url: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The proxy to send ``url`` through, from the environment, as ``requests`` picks it.

    ``https_proxy``/``http_proxy`` by the URL's scheme (the lower-case name wins over the
    upper-case one, as in curl), else ``all_proxy``; none for a host ``no_proxy`` names: by
    name, domain suffix, ``*``, address or address range (``10.0.0.0/8``).
    """
    env = os.environ if env is None else env
    variables = {name.lower(): value for name, value in env.items() if name.isupper()}
    variables.update((name, value) for name, value in env.items() if name.islower())
    parsed = urlsplit(url)
    if _bypassed((parsed.hostname or "").lower(), variables.get("no_proxy", "")):
        return {}
    proxy = variables.get(f"{parsed.scheme}_proxy") or variables.get("all_proxy")
    return {parsed.scheme: proxy} if proxy else {}


def _bypassed(host: str, no_proxy: str) -> bool:
    try:
        address: Any = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in (part.strip().lower() for part in no_proxy.split(",")):
        if entry == "*":
            return True
        if not entry:
            continue
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry.strip("[]"), strict=False):
                    return True
                continue
            except ValueError:
                pass  # a name, not an address or a range
        name, colon, port = entry.lstrip(".").rpartition(":")
        name = name if colon and port.isdigit() else entry.lstrip(".")
        if host == name or host.endswith("." + name):
            return True
    return False


def tls_context(env: Mapping[str, str] | None = None) -> ssl.SSLContext:
    """Certificates verified against the system's store (and ``SSL_CERT_FILE``/``SSL_CERT_DIR``,
    which OpenSSL reads), plus a bundle ``REQUESTS_CA_BUNDLE`` or ``CURL_CA_BUNDLE`` names,
    so a CI already set up for ``requests`` or ``curl`` needs nothing more."""
    env = os.environ if env is None else env
    context = ssl.create_default_context()
    bundle = env.get("REQUESTS_CA_BUNDLE") or env.get("CURL_CA_BUNDLE")
    if bundle:
        if os.path.isdir(bundle):
            context.load_verify_locations(capath=bundle)
        else:
            context.load_verify_locations(cafile=bundle)
    return context


def _opener(url: str, proxies: dict[str, str]) -> urllib.request.OpenerDirector:
    """What sends to ``url``: through its proxy, with its TLS context, following no redirect."""
    handlers: list[Any] = [_NoRedirects, urllib.request.ProxyHandler(proxies)]
    if url.startswith("https://"):
        handlers.append(urllib.request.HTTPSHandler(context=tls_context()))
    return urllib.request.build_opener(*handlers)


def _post(
    opener: urllib.request.OpenerDirector,
    url: str,
    body: bytes,
    headers: dict[str, str],
    timeout: float,
) -> _Answer:
    """One POST; an HTTP error status is an answer, a transport problem raises ``OSError``."""
    if not url.startswith(("http://", "https://")):
        raise ValueError("only http:// and https:// URLs can be sent to")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with opener.open(request, timeout=timeout) as response:
            return _Answer(response.status, response.reason, response.read())
    except urllib.error.HTTPError as error:
        with error:
            return _Answer(error.code, str(error.reason), error.read(), error.headers["Location"])


def _unreachable(url: str, exc: BaseException, timeout: float, proxy: str | None) -> str:
    """Why ``url`` could not be reached, in words (``URLError`` wraps the cause)."""
    reason: Any = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError):
        why = f"no answer within {timeout:g} s (timed out)"
    elif isinstance(reason, ConnectionRefusedError):
        why = "connection refused"
    elif isinstance(reason, OSError) and reason.strerror:
        why = reason.strerror
    else:
        why = str(reason) or type(reason).__name__
    if proxy:  # which proxy, without its user name or password
        where = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        why += f" (through the proxy {where.scheme}://{where.netloc.rpartition('@')[2]})"
    return f"cannot reach {url}: {why}"


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
) -> Outcome:
    """Upload one report (with its sidecar, if any); never raises for transport errors.

    ``wait=False`` lets the server answer once the upload is stored, before it is ingested.
    """
    headers = {"User-Agent": "pytest-testviz"}
    if not wait:
        headers["Prefer"] = "respond-async"
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
    body, headers["Content-Type"] = multipart({"project": project} if project else {}, files)
    endpoint = url.rstrip("/") + INGEST_PATH
    last = "not sent"
    try:
        proxies = proxies_for(endpoint)
        opener = _opener(endpoint, proxies)
    except (OSError, ValueError) as exc:  # a CA bundle that cannot be read
        return Outcome(False, f"cannot send to {url}: {exc}")
    for attempt in range(retries):
        if attempt:
            time.sleep(BACKOFF * 2 ** (attempt - 1))
        try:
            answer = _post(opener, endpoint, body, headers, timeout)
        except (InvalidURL, ValueError) as exc:  # a URL urllib cannot use: no retry will help
            return Outcome(False, f"cannot send to {url}: {exc}")
        except (OSError, HTTPException) as exc:  # URLError and timeouts are OSErrors
            last = _unreachable(url, exc, timeout, next(iter(proxies.values()), None))
            continue
        except Exception as exc:  # whatever urllib raises, the test run goes on
            # e.g. OverflowError for a proxy variable's impossible port
            return Outcome(False, f"cannot send to {url}: {type(exc).__name__}: {exc}")
        if answer.status >= 500:
            last = answer.explain()
            continue
        if 300 <= answer.status < 400:
            where = f" to {answer.location}" if answer.location else ""
            return Outcome(
                False,
                f"HTTP {answer.status}: the server redirects{where}; send to that address",
                rejected=True,
            )
        if answer.status >= 400:
            return Outcome(False, answer.explain(), rejected=True)
        answered = answer.json()
        if not isinstance(answered, dict):
            return Outcome(False, f"HTTP {answer.status}: the answer is not a testviz server's")
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
    return Outcome(False, last)


def send_spooled(spooled: Spooled, url: str, **options: object) -> Outcome:
    return send(url, spooled.xml, spooled.meta, **options)  # type: ignore[arg-type]
