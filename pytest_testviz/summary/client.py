"""Asking the server for a summary: of one run, of the latest run, or of a CI build.

One GET each (two for the latest run), with ``requests`` as the upload uses it (proxies,
certificates), never retried: the plugin falls back to what it knows, and the CLI says why.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from ..options import without_password
from ..upload import _explain, _json, _unreachable, _verify, proxy_for
from .model import Summary, SummaryError, from_json

API = "/api/tests"


class SummaryUnavailable(Exception):
    """The server did not give the summary. ``refused``: it answered 4xx (a bad run id,
    project, branch or token); else it could not be reached or failed."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


def _headers(token: str | None) -> dict[str, str]:
    headers = {"User-Agent": "pytest-testviz", "Accept": "application/json"}
    token = (token or "").strip()
    if token:
        if not (token.isascii() and token.isprintable()):
            raise SummaryUnavailable("the token has characters a header cannot carry", refused=True)
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _get(url: str, path: str, params: dict[str, str], token: str | None, timeout: float) -> Any:
    """The JSON of ``GET url+path``; :class:`SummaryUnavailable` for anything else."""
    endpoint = url.rstrip("/") + path
    try:
        response = requests.get(
            endpoint,
            params={key: value for key, value in params.items() if value},
            headers=_headers(token),
            timeout=timeout,
            allow_redirects=False,
            verify=_verify(),
        )
    except (requests.ConnectionError, requests.Timeout) as exc:
        why = _unreachable(url, exc, timeout, proxy_for(endpoint))
        raise SummaryUnavailable(without_password(why)) from None
    except requests.RequestException as exc:
        detail = f"cannot reach {url}: {type(exc).__name__}: {exc}"
        raise SummaryUnavailable(without_password(detail)) from None
    status = response.status_code
    if status != 200:
        why = _explain(response)
        if status == 401:
            why += " (a read token: --token or TESTVIZ_READ_TOKEN)"
        elif status == 404 and _json(response.content) is None:
            why += " (is this a pytest-testviz server, of this version or newer?)"
        raise SummaryUnavailable(without_password(f"{url}: {why}"), refused=400 <= status < 500)
    answered = _json(response.content)
    if answered is None:
        raise SummaryUnavailable(f"{url}: HTTP 200, but the answer is not JSON")
    return answered


def _summary(answered: Any, url: str) -> Summary:
    try:
        return from_json(answered, server=url.rstrip("/"))
    except SummaryError as exc:
        raise SummaryUnavailable(f"{url}: not a testviz summary ({exc})") from None


def fetch_run(
    url: str,
    run_id: str,
    *,
    base: str | None = None,
    token: str | None = None,
    timeout: float = 10.0,
) -> Summary:
    """``GET /api/tests/runs/<run_id>/summary``: the run against its branch's previous run,
    or ``base``'s latest."""
    path = f"{API}/runs/{quote(run_id, safe='')}/summary"
    return _summary(_get(url, path, {"base": base or ""}, token, timeout), url)


def fetch_build(
    url: str,
    build_id: str,
    *,
    project: str | None = None,
    base: str | None = None,
    token: str | None = None,
    timeout: float = 10.0,
) -> Summary:
    """``GET /api/tests/builds/<build_id>/summary``: every run of a CI build, together."""
    path = f"{API}/builds/{quote(build_id, safe='')}/summary"
    params = {"project": project or "", "base": base or ""}
    return _summary(_get(url, path, params, token, timeout), url)


def latest_run_id(
    url: str, *, project: str | None = None, token: str | None = None, timeout: float = 10.0
) -> str:
    """The newest run's id (of ``project``, when given)."""
    answered = _get(url, f"{API}/runs", {"project": project or "", "per_page": "1"}, token, timeout)
    runs = answered.get("runs") if isinstance(answered, dict) else None
    if not isinstance(runs, list):
        raise SummaryUnavailable(f"{url}: not a testviz run list")
    if not runs:
        which = f"of project {project!r} " if project else ""
        raise SummaryUnavailable(f"{url} has no runs {which}yet", refused=True)
    run_id = runs[0].get("run_id") if isinstance(runs[0], dict) else None
    if not isinstance(run_id, str) or not run_id:
        raise SummaryUnavailable(f"{url}: not a testviz run list")
    return run_id
