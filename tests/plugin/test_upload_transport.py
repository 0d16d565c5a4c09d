"""What the upload does on the way to the server: redirects, proxies and TLS.

The plugin sends with the standard library's ``urllib``; these are the behaviours a user of
``requests``, ``curl`` or ``pip`` expects from it.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import trustme

from pytest_testviz.upload import proxies_for, send

from .conftest import FakeServer, answer_json, serve

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
def test_the_proxy_is_chosen_as_requests_and_curl_choose_it(
    url: str, env: dict[str, str], proxy: str | None
) -> None:
    assert proxies_for(url, env).get(url.split(":")[0]) == proxy


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
    """urllib does not check a proxy's port: socket raises OverflowError for this one."""
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:99999999999999999999")

    outcome = send("http://testviz.invalid", report, None, retries=1)

    assert not outcome.ok
    assert outcome.detail.startswith("cannot send to http://testviz.invalid: OverflowError")


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
