"""What the upload does on the way to the server: redirects, proxies, TLS and retries.

The plugin sends with ``requests``; these are the behaviours a user of ``requests``, ``curl``
or ``pip`` expects from it.
"""

from __future__ import annotations

import http.server
import ssl
import types
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
import trustme
import urllib3.util.retry

from pytest_testviz import upload
from pytest_testviz.upload import proxy_for, send

from .conftest import FakeServer, answer_json, serve

_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")

REPORT = '<testsuite name="s"><testcase name="t"/></testsuite>'


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "report.xml"
    path.write_text(REPORT, encoding="utf-8")
    return path


def test_a_redirect_is_reported_not_followed(report: Path, redirecting_server: FakeServer) -> None:
    """Followed, a POST would arrive as a GET without its files: the user is told where to."""
    outcome = send(redirecting_server.url, report, None)

    assert not outcome.ok
    assert outcome.rejected
    assert outcome.detail == (
        "HTTP 301: the server redirects to https://testviz.example/api/tests/ingest; "
        "send to that address"
    )
    assert redirecting_server.requests == ["/api/tests/ingest"]


@pytest.mark.parametrize(
    ("url", "env", "proxy"),
    [
        ("http://ci.example", {"HTTP_PROXY": "http://p:3128"}, "http://p:3128"),
        ("https://ci.example", {"HTTP_PROXY": "http://p:3128"}, None),
        ("https://ci.example", {"https_proxy": "http://s:1"}, "http://s:1"),
        ("http://ci.example", {"HTTP_PROXY": "http://U", "http_proxy": "http://l"}, "http://l"),
        ("http://ci.example", {"ALL_PROXY": "http://a"}, "http://a"),
        ("http://ci.example", {"http_proxy": "http://p", "no_proxy": "*"}, None),
        ("http://ci.example", {"http_proxy": "http://p", "NO_PROXY": "example"}, None),
        ("http://ci.example", {"http_proxy": "http://p", "no_proxy": ".ci.example"}, None),
        ("http://xci.example", {"http_proxy": "http://p", "no_proxy": "ci.example"}, "http://p"),
        ("http://10.1.2.3:8000", {"http_proxy": "http://p", "no_proxy": "10.0.0.0/8"}, None),
        ("http://11.1.2.3:8000", {"http_proxy": "http://p", "no_proxy": "10.0.0.0/8"}, "http://p"),
        ("http://[::1]:8000", {"http_proxy": "http://p", "no_proxy": "::1"}, None),
        ("http://localhost:8000", {"http_proxy": "http://p", "no_proxy": "localhost:8000"}, None),
    ],
)
def test_the_proxy_is_chosen_as_requests_chooses_it(
    url: str, env: dict[str, str], proxy: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    assert proxy_for(url) == proxy


def test_the_proxy_from_the_environment_is_used(
    report: Path, unavailable_server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY is honoured (a proxy is sent the absolute URL), as by curl and pip."""
    for name in ("NO_PROXY", "no_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", unavailable_server.url)

    outcome = send("http://testviz.invalid:8000", report, None, retries=1)

    assert unavailable_server.requests == ["http://testviz.invalid:8000/api/tests/ingest"]
    assert outcome.detail == "HTTP 503: down for maintenance"


def test_an_unreachable_proxy_is_named_without_its_password(
    report: Path, closed_port_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    port = closed_port_url.rsplit(":", 1)[1]
    monkeypatch.setenv("http_proxy", f"http://user:s3cret@127.0.0.1:{port}")

    outcome = send("http://testviz.invalid", report, None, retries=1)

    assert outcome.detail == (
        "cannot reach http://testviz.invalid: connection refused "
        f"(through the proxy http://127.0.0.1:{port})"
    )


def test_an_impossible_proxy_never_raises(report: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy port beyond any port: the upload fails with a reason, the run goes on."""
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", "http://user:s3cret@127.0.0.1:99999999999999999999")

    outcome = send("http://testviz.invalid", report, None, retries=1)

    assert not outcome.ok
    assert outcome.detail.startswith("cannot send to http://testviz.invalid: Failed to parse: ")
    assert "s3cret" not in outcome.detail


def test_an_answer_nested_beyond_reason_is_not_a_servers(
    report: Path, deep_json_server: FakeServer
) -> None:
    outcome = send(deep_json_server.url, report, None)

    assert not outcome.ok
    assert outcome.detail == "HTTP 200: the answer is not a testviz server's"


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server whose certificate a private CA signed; its URL and the CA's PEM file."""
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    created = b'{"status": "created", "run_id": "r1", "url": "/api/tests/runs/r1"}'
    accept = contextmanager(serve)
    with accept(lambda request, fake: answer_json(request, 200, created), tls=context) as fake:
        yield fake.url, ca_file


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_tls_is_verified_and_a_private_ca_is_trusted_through_the_usual_variables(
    report: Path, tls_server: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    url, ca_file = tls_server
    for name in ("SSL_CERT_DIR", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)

    refused = send(url, report, None, retries=1)

    assert not refused.ok
    assert refused.detail.startswith(f"cannot reach {url}: ")
    assert "CERTIFICATE_VERIFY_FAILED" in refused.detail

    monkeypatch.setenv(variable, str(ca_file))

    accepted = send(url, report, None, retries=1)

    assert accepted.ok, accepted.detail
    assert accepted.url == f"{url}/runs/r1"


# -- retries: urllib3's Retry, with its sleeps recorded instead of slept -------------------------


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """What urllib3's retries would have slept, in order (nothing is slept)."""
    slept: list[float] = []
    clock = types.SimpleNamespace(sleep=slept.append, time=urllib3.util.retry.time.time)
    monkeypatch.setattr(urllib3.util.retry, "time", clock)
    return slept


def _answers(*answers: tuple[int, dict[str, str], bytes]) -> AbstractContextManager[FakeServer]:
    """A server giving these answers in turn, then the last one again."""
    queue = list(answers)

    def answer(request: http.server.BaseHTTPRequestHandler, fake: FakeServer) -> None:
        status, headers, body = queue.pop(0) if len(queue) > 1 else queue[0]
        request.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            request.send_header(name, value)
        request.end_headers()
        request.wfile.write(body)

    return contextmanager(serve)(answer)


CREATED = (200, {"Content-Type": "application/json"}, b'{"status": "created", "run_id": "r1"}')


def test_too_many_requests_is_retried_after_the_servers_retry_after(
    report: Path, sleeps: list[float]
) -> None:
    with _answers((429, {"Retry-After": "7"}, b""), CREATED) as server:
        outcome = send(server.url, report, None)

    assert outcome.ok, outcome.detail
    assert server.requests == ["/api/tests/ingest"] * 2
    assert sleeps == [7]


def test_retry_after_is_capped(report: Path, sleeps: list[float]) -> None:
    with _answers((503, {"Retry-After": "86400"}, b'{"message": "later"}')) as server:
        outcome = send(server.url, report, None)

    assert outcome.detail == "HTTP 503: later"
    assert not outcome.rejected
    assert server.requests == ["/api/tests/ingest"] * upload.RETRIES
    assert sleeps == [upload.RETRY_AFTER_MAX] * (upload.RETRIES - 1)


def test_connection_errors_are_retried_with_backoff(
    report: Path, closed_port_url: str, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    """urllib3's exponential backoff: none before the first retry, then BACKOFF * 2 ** n."""
    monkeypatch.setattr(upload, "BACKOFF", 0.25)

    outcome = send(closed_port_url, report, None, retries=4)

    assert outcome.detail == f"cannot reach {closed_port_url}: connection refused"
    assert sleeps == [0.5, 1.0]


def test_a_client_error_is_not_retried(report: Path, sleeps: list[float]) -> None:
    with _answers((422, {}, b'{"message": "not JUnit XML"}')) as server:
        outcome = send(server.url, report, None)

    assert (outcome.ok, outcome.rejected, outcome.detail) == (
        False,
        True,
        "HTTP 422: not JUnit XML",
    )
    assert server.requests == ["/api/tests/ingest"]
    assert sleeps == []
