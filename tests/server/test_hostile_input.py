"""Hostile and broken input, at ``POST /api/tests/ingest`` and in the directory sync.

Every case goes to a real server on 127.0.0.1 (one per database, SQLite and PostgreSQL).
A refused case must get its own 4xx with a JSON ``{"code", "message", "details"}`` body, the
server must answer ``/healthz`` afterwards, and no row may have been added. The few cases that
are valid JUnit however unpleasant (10 MB messages, 100,000 attributes) must be stored whole,
with their text capped. No answer at all may be a 5xx. The XML cases are dropped into a
``TEST_RESULTS_DIR`` too, where each is set aside in ``rejected/`` with its reason.

Gzip: ``Content-Encoding: gzip`` (or a body that starts with gzip's magic bytes) is unzipped
up to ``TESTVIZ_MAX_UPLOAD_MB``; more is a 413 (a gzip bomb), a truncated or trailing-garbage
stream a 400, another content encoding a 415.
"""

from __future__ import annotations

import functools
import gzip
import json
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask

from server.ingest.sync import REJECTED

from ..support import AppFactory
from .helpers import case, junit
from .test_ingest_api import row_counts
from .test_sync import stored, sync, write_report

MAX_UPLOAD_MB = 16  # room for the 10 MB cases; a gzip bomb stops here
TEN_MB = 10 * 1024 * 1024
TEXT_CAP = 64 * 1024  # server.ingest.store.TEXT_CAP, plus the note that says the text was cut
SECRET = "top-secret-9f2c7e"
HTTP_TIMEOUT = 120


@dataclass(frozen=True)
class Case:
    """One request: a raw body (or multipart files), what it must get, and for 200 what is kept."""

    id: str
    body: bytes = b""
    content_type: str = "application/xml"
    headers: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] | None = None
    status: int = 400
    code: str = "malformed_report"
    #: For a 200: the tests stored.
    tests: int = 0
    #: Also dropped into TEST_RESULTS_DIR (as ``<id>.xml``, with ``sidecar`` beside it).
    sync: bool = True
    sidecar: bytes | None = None


def _report(body: str = "", attrs: str = "", name: str = "test_a") -> bytes:
    return junit(case(name, body=body), attrs=attrs)


def _laughs(levels: int = 10) -> str:
    entities = ['<!ENTITY lol0 "lol">']
    for level in range(1, levels):
        entities.append(f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">')
    return "".join(entities)


def _nested(depth: int, inner: bytes = b"x") -> bytes:
    return b"<a>" * depth + inner + b"</a>" * depth


def _attributes(count: int, same_name: bool = False) -> str:
    return " ".join(f'{"a" if same_name else f"a{i}"}="{i}"' for i in range(count))


@functools.cache
def _bomb() -> bytes:
    """64 MB of zeros in 64 kB: four times the upload limit, a thousand times its size."""
    return gzip.compress(b"\0" * (64 * 1024 * 1024), 9)


@functools.cache
def _member_bomb() -> bytes:
    """A gigabyte of zeros as 1,024 gzip members of a megabyte each (about a megabyte sent)."""
    return gzip.compress(b"\0" * (1024 * 1024), 9) * 1024


def hostile_cases(secret: Path, dtd_port: int) -> list[Case]:
    """Every case; ``secret`` is a file an XXE would leak, ``dtd_port`` a listener it would hit."""
    dtd_url = f"http://127.0.0.1:{dtd_port}/junit.dtd"
    valid = _report()
    big = "m" * TEN_MB
    padding = b"<!--" + b" " * (2 * 1024 * 1024) + b"-->\n"  # past the parser's first chunk
    gz = gzip.compress
    bomb = _bomb()
    multi = gz(valid[:40]) + gz(valid[40:])  # `cat a.gz b.gz` is one gzip stream
    return [
        # -- entities and DTDs --------------------------------------------------------------
        Case(
            "xxe-file",
            f'<?xml version="1.0"?><!DOCTYPE t [<!ENTITY x SYSTEM "{secret.as_uri()}">]>'
            f'<testsuite><testcase classname="c" name="&x;"/></testsuite>'.encode(),
        ),
        Case(
            "xxe-parameter-entity",
            f'<!DOCTYPE t [<!ENTITY % p SYSTEM "{dtd_url}"> %p;]><testsuite/>'.encode(),
        ),
        Case("external-dtd", f'<!DOCTYPE testsuite SYSTEM "{dtd_url}"><testsuite/>'.encode()),
        Case(
            "billion-laughs",
            f'<!DOCTYPE t [{_laughs()}]><testsuite><testcase classname="c" name="&lol9;"/>'
            "</testsuite>".encode(),
        ),
        Case(
            "quadratic-blowup",
            f'<!DOCTYPE t [<!ENTITY a "{"a" * 100_000}">]><testsuite><testcase classname="c" '
            f'name="{"&a;" * 2000}"/></testsuite>'.encode(),
        ),
        Case(
            "doctype-after-2mb-comment",
            padding + f'<!DOCTYPE testsuite SYSTEM "{dtd_url}"><testsuite/>'.encode(),
        ),
        Case(
            "laughs-after-2mb-comment",
            padding
            + f'<!DOCTYPE t [{_laughs()}]><testsuite><testcase classname="c" '
            'name="&lol9;"/></testsuite>'.encode(),
        ),
        Case(
            "xxe-after-2mb-comment",
            padding
            + f'<!DOCTYPE t [<!ENTITY x SYSTEM "{secret.as_uri()}">]><testsuite>'
            '<testcase classname="c" name="&x;"/></testsuite>'.encode(),
        ),
        Case(
            "doctype-in-utf16",
            '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE t [<!ENTITY x "y">]>'
            '<testsuite><testcase classname="c" name="&x;"/></testsuite>'.encode("utf-16"),
        ),
        Case("undefined-entity", b'<testsuite><testcase classname="c" name="&xxe;"/></testsuite>'),
        # -- structure -----------------------------------------------------------------------
        Case("elements-nested-100k-deep", _report(_nested(100_000).decode())),
        Case(
            "suites-nested-300-deep",
            b"<testsuites>" + _nested(300).replace(b"a>", b"testsuite>") + b"</testsuites>",
        ),
        Case("truncated", valid[: len(valid) // 2]),
        Case("truncated-after-root-open", b'<?xml version="1.0"?>\n<testsuites>\n<testsuite>'),
        Case("wrong-root-html", b"<html><body>502 Bad Gateway</body></html>"),
        Case("wrong-root-testcase", b'<testcase classname="c" name="t"/>'),
        Case("two-roots", valid + valid),
        Case("duplicate-attribute-100k", _report(attrs=_attributes(100_000, same_name=True))),
        # -- encodings and bytes -------------------------------------------------------------
        Case(
            "invalid-utf8-attribute",
            b'<testsuite><testcase classname="c" name="t\xff\xfe"/></testsuite>',
        ),
        Case("invalid-utf8-text", _report().replace(b"</testcase>", b"\xc3\x28</testcase>")),
        Case("char-ref-nul", b'<testsuite><testcase classname="c" name="&#0;"/></testsuite>'),
        Case(
            "char-ref-surrogate",
            b'<testsuite><testcase classname="c" name="&#xD800;"/></testsuite>',
        ),
        Case("control-character", _report().replace(b"test_a", b"test\x01a")),
        Case("unknown-encoding", b'<?xml version="1.0" encoding="x-bogus"?><testsuite/>'),
        # -- not XML -------------------------------------------------------------------------
        Case("empty-body", b""),
        Case("whitespace-body", b" \n\t "),
        Case("nul-bytes", b"\0" * 1024),
        Case("png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 16),
        Case("json-sent-as-xml", json.dumps({"results": []}).encode()),
        Case(
            "plain-text-type",
            valid,
            "text/plain",
            status=415,
            code="unsupported_media_type",
            sync=False,
        ),
        Case("no-content-type", valid, "", status=415, code="unsupported_media_type", sync=False),
        # -- gzip ----------------------------------------------------------------------------
        Case("gzip-bomb", bomb, headers={"Content-Encoding": "gzip"}, status=413, code="too_large"),
        Case("gzip-bomb-without-header", bomb, status=413, code="too_large", sync=False),
        Case(
            "gzip-bomb-of-many-members",
            _member_bomb(),
            headers={"Content-Encoding": "gzip"},
            status=413,
            code="too_large",
            sync=False,
        ),
        Case(
            "gzip-of-xxe",
            gz(f'<!DOCTYPE t [<!ENTITY x SYSTEM "{secret.as_uri()}">]><testsuite/>'.encode()),
            headers={"Content-Encoding": "gzip"},
        ),
        Case(
            "gzip-truncated",
            gz(valid)[:-6],
            headers={"Content-Encoding": "gzip"},
            code="bad_encoding",
        ),
        Case(
            "gzip-trailing-garbage",
            gz(valid) + b"garbage",
            headers={"Content-Encoding": "gzip"},
            code="bad_encoding",
            sync=False,
        ),
        Case(
            "gzip-header-plain-body",
            valid,
            headers={"Content-Encoding": "gzip"},
            code="bad_encoding",
            sync=False,
        ),
        Case("gzip-twice", gz(gz(valid)), headers={"Content-Encoding": "gzip"}),
        Case(
            "deflate-encoding",
            valid,
            headers={"Content-Encoding": "deflate"},
            status=415,
            code="unsupported_encoding",
            sync=False,
        ),
        Case(
            "br-encoding",
            valid,
            headers={"Content-Encoding": "br"},
            status=415,
            code="unsupported_encoding",
            sync=False,
        ),
        # -- JSON ----------------------------------------------------------------------------
        Case(
            "json-nested-100k-deep",
            b"[" * 100_000 + b"]" * 100_000,
            "application/json",
            code="malformed_json",
            sync=False,
        ),
        Case(
            "json-invalid-utf8",
            b'{"results": [{"name": "\xff", "status": "passed"}]}',
            "application/json",
            code="malformed_json",
            sync=False,
        ),
        Case(
            "json-truncated",
            b'{"results": [{"name": "t", "status": "pass',
            "application/json",
            code="malformed_json",
            sync=False,
        ),
        Case(
            "json-gzip-bomb",
            bomb,
            "application/json",
            {"Content-Encoding": "gzip"},
            status=413,
            code="too_large",
            sync=False,
        ),
        Case("xml-sent-as-json", valid, "application/json", code="malformed_json", sync=False),
        # -- multipart -----------------------------------------------------------------------
        Case(
            "multipart-xxe-report",
            content_type="",
            files={
                "report": (
                    "r.xml",
                    (f'<!DOCTYPE t [<!ENTITY x SYSTEM "{secret.as_uri()}">]><testsuite/>').encode(),
                )
            },
            sync=False,
        ),
        Case(
            "multipart-gzip-bomb-report",
            content_type="",
            files={"report": ("r.xml.gz", bomb)},
            status=413,
            code="too_large",
            sync=False,
        ),
        Case(
            "multipart-truncated-report",
            content_type="",
            files={"report": ("r.xml", valid[:30])},
            sync=False,
        ),
        Case(
            "multipart-sidecar-nested-100k-deep",
            content_type="",
            files={"report": ("r.xml", valid), "meta": ("r.meta.json", b"[" * 100_000)},
            code="malformed_sidecar",
            sync=False,
        ),
        Case(
            "multipart-sidecar-invalid-utf8",
            content_type="",
            files={"report": ("r.xml", valid), "meta": ("r.meta.json", b'{"branch": "\xff"}')},
            code="malformed_sidecar",
            sync=False,
        ),
        Case(
            "multipart-without-closing-boundary",
            b"--b\r\nContent-Disposition: form-data; "
            b'name="report"; filename="r.xml"\r\n\r\n<testsuite/>',
            "multipart/form-data; boundary=b",
            status=422,
            code="invalid_request",
            sync=False,
        ),
        Case(
            "multipart-without-boundary",
            b"--b\r\n\r\n",
            "multipart/form-data",
            status=422,
            code="invalid_request",
            sync=False,
        ),
        # -- sync only: a sidecar beside a report --------------------------------------------
        # (through the API the same sidecars are the multipart cases above)
        # -- valid, only big: stored whole, text capped --------------------------------------
        Case(
            "message-attribute-10mb",
            _report(f'<failure message="{big}">trace</failure>'),
            status=200,
            tests=1,
        ),
        Case(
            "failure-text-10mb",
            _report(f'<failure message="m">{big}</failure>'),
            status=200,
            tests=1,
        ),
        Case("system-out-10mb", _report(f"<system-out>{big}</system-out>"), status=200, tests=1),
        Case(
            "json-message-10mb",
            json.dumps(
                {
                    "run_id": "json-10mb",
                    "results": [{"name": "t", "status": "failed", "message": big}],
                }
            ).encode(),
            "application/json",
            status=200,
            tests=1,
            sync=False,
        ),
        Case(
            "attributes-100k-on-testcase",
            junit(f'<testcase classname="c" name="t" {_attributes(100_000)}/>'),
            status=200,
            tests=1,
        ),
        Case(
            "attributes-100k-on-suite",
            _report(attrs=_attributes(100_000), name="test_b"),
            status=200,
            tests=1,
        ),
        Case(
            "elements-nested-2000-deep-in-output",
            _report(f"<system-out>{_nested(2000).decode()}</system-out>", name="test_c"),
            status=200,
            tests=1,
        ),
        Case(
            "gzip-two-members",
            multi,
            headers={"Content-Encoding": "gzip"},
            status=200,
            tests=1,
            sync=False,
        ),
    ]


SIDECAR_CASES = {
    # report name -> sidecar bytes: dropped into TEST_RESULTS_DIR beside a valid report
    "sidecar-nested-100k-deep": b"[" * 100_000,
    "sidecar-invalid-utf8": b'{"branch": "\xff"}',
    "sidecar-truncated": b'{"run_id": "abc',
}


@pytest.fixture
def app(make_app: AppFactory) -> Flask:
    return make_app(max_upload_mb=MAX_UPLOAD_MB, analysis_in_background=False)


@pytest.fixture
def dtd_listener() -> Iterator[socket.socket]:
    """A port an external DTD or entity would be fetched from: nothing may connect to it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        yield listener


def assert_nobody_connected(listener: socket.socket) -> None:
    try:
        connection, _ = listener.accept()
    except BlockingIOError:
        return
    connection.close()
    raise AssertionError("the server fetched an external DTD or entity")


def send(http: requests.Session, url: str, item: Case) -> requests.Response:
    headers = dict(item.headers)
    if item.files is None:
        headers["Content-Type"] = item.content_type
        return http.post(url, data=item.body, headers=headers, timeout=HTTP_TIMEOUT)
    return http.post(url, files=item.files, headers=headers, timeout=HTTP_TIMEOUT)


def test_every_hostile_request_gets_a_clear_4xx_and_stores_nothing(
    app: Flask, live_server: str, tmp_path: Path, dtd_listener: socket.socket
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    cases = hostile_cases(secret, dtd_listener.getsockname()[1])
    problems: list[str] = []
    statuses: Counter[int] = Counter()
    with requests.Session() as http:
        for item in cases:
            before = row_counts(app)
            response = send(http, f"{live_server}/api/tests/ingest", item)
            statuses[response.status_code] += 1
            problems.extend(f"{item.id}: {p}" for p in check(app, item, response, before))
            health = http.get(f"{live_server}/healthz", timeout=HTTP_TIMEOUT)
            if health.status_code != 200:
                problems.append(f"{item.id}: /healthz answered {health.status_code} afterwards")

    assert not problems, "\n".join(problems)
    assert len(cases) == 61
    assert sum(n for status, n in statuses.items() if status >= 500) == 0
    assert statuses[200] == sum(1 for item in cases if item.status == 200) == 8
    assert_nobody_connected(dtd_listener)


def check(app: Flask, item: Case, response: requests.Response, before: dict[str, int]) -> list[str]:
    """What is wrong with the answer to one case, and with what it left in the database."""
    problems = []
    try:
        body: Any = response.json()
    except ValueError:
        return [f"{response.status_code} without a JSON body: {response.text[:200]!r}"]
    if response.status_code != item.status:
        problems.append(f"expected {item.status}, got {response.status_code}: {body}")
    if SECRET in response.text:
        problems.append("the answer leaks the file an external entity names")
    after = row_counts(app)
    if item.status != 200:
        if set(body) != {"code", "message", "details"} or body["code"] != item.code:
            problems.append(f"expected a JSON error {item.code!r}, got {body}")
        elif not body["message"] or len(body["message"]) > 2000:
            problems.append(f"unhelpful message: {body['message'][:300]!r}")
        if after != before:
            problems.append(f"rows changed from {before} to {after}")
        return problems
    if body.get("status") != "created" or body["counts"]["tests"] != item.tests:
        problems.append(f"not stored whole: {body}")
        return problems
    if after["runs"] != before["runs"] + 1 or after["test_results"] != before["test_results"] + 1:
        problems.append(f"rows went from {before} to {after}")
    run = app.test_client().get(f"/api/tests/runs/{body['run_id']}").json
    for result in run["results"]:
        for text in (result.get("message"), result.get("text")):
            if text is not None and len(text) > TEXT_CAP + 200:
                problems.append(f"a stored text of {len(text)} characters was not capped")
    return problems


def test_hostile_files_in_the_results_directory_are_set_aside_with_their_reason(
    make_app: AppFactory, tmp_path: Path, dtd_listener: socket.socket
) -> None:
    app = make_app(analysis_in_background=False)
    results = tmp_path / "results"
    results.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET, encoding="utf-8")
    cases = [c for c in hostile_cases(secret, dtd_listener.getsockname()[1]) if c.sync]
    refused = sorted(f"{c.id}.xml" for c in cases if c.status != 200)
    for item in cases:
        write_report(results, f"{item.id}.xml", item.body)
    for name, sidecar in SIDECAR_CASES.items():
        write_report(results, f"{name}.xml", _report(name=name))
        write_report(results, f"{name}.meta.json", sidecar)
    refused += sorted(f"{name}.xml" for name in SIDECAR_CASES)

    outcome = sync(app, results)

    assert sorted(outcome.rejected) == sorted(refused)
    assert sorted(outcome.ingested) == sorted(f"{c.id}.xml" for c in cases if c.status == 200)
    assert (outcome.failed, outcome.deferred) == ([], [])
    for name in refused:
        reason = (results / REJECTED / f"{name}.error.txt").read_text(encoding="utf-8")
        assert reason.startswith(str(results / name.removesuffix(".xml"))), reason
        assert SECRET not in reason
        assert (results / REJECTED / name).is_file()
        assert not (results / name).exists()
    for name in SIDECAR_CASES:
        assert (results / REJECTED / f"{name}.meta.json").is_file()
    accepted = len(outcome.ingested)
    assert stored(app) == {"runs": accepted, "test_definitions": 4, "test_results": accepted}
    assert len(refused) == 36
    assert_nobody_connected(dtd_listener)
    again = sync(app, results)
    assert (again.ingested, again.rejected, again.unchanged) == ([], [], accepted)


def test_json_names_that_differ_only_in_white_space_are_distinct_tests(
    app: Flask, live_server: str
) -> None:
    """Found by schemathesis: "a  b" and "a b" (or "" and "\\x1e") got one id: a 500."""
    names = ["test a  b", "test a b", "", "\x1e", " test\ta b "]
    body = {
        "run_id": "white-space",
        "results": [{"name": name, "status": "failed", "message": "m"} for name in names],
    }
    response = requests.post(f"{live_server}/api/tests/ingest", json=body, timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.json()["counts"]["tests"] == len(names)
    assert row_counts(app)["test_results"] == len(names)
    assert row_counts(app)["test_definitions"] == len(names)
