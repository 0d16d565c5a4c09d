"""``--testviz-wait=yes`` (and ``testviz push``): the upload is answered 202 like any other and
ingested by a job worker, while the client polls its status until the run is stored. No web
worker is held for the ingest; a server that answers 200 at once still works.

Sessions that need a job worker run in a subprocess (:meth:`Testviz.run_subprocess`): the
worker thread runs in this process, beside the served app.
"""

from __future__ import annotations

import http.server
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from pytest_testviz import upload
from pytest_testviz.cli import main
from pytest_testviz.upload import send
from server.storage.db import db
from server.storage.models import QueuedUpload, Run
from tests.server.helpers import serving

from .conftest import FakeServer, Testviz, answer_json, serve

PASS_AND_FAIL = "def test_pass():\n    pass\n\ndef test_fail():\n    assert False\n"
REPORT = '<testsuite name="s"><testcase name="t"/></testsuite>'


@pytest.fixture(autouse=True)
def _quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """Polls without the real pauses, for sends in this process (a subprocess keeps them)."""
    monkeypatch.setattr(upload, "POLL_FIRST", 0.001)
    monkeypatch.setattr(upload, "POLL_MAX", 0.001)


def _run_id(result: pytest.RunResult) -> str:
    (line,) = [line for line in result.outlines if line.startswith("testviz: run ")]
    return line.split()[2]


def _uploads(app: Flask) -> list[tuple[str, str | None]]:
    """(state, run_id) of every upload the server queued."""
    with app.app_context():
        rows = db.session.execute(select(QueuedUpload.state, QueuedUpload.run_id)).all()
        db.session.remove()
    return [(state, run_id) for state, run_id in rows]


# -- against the real server and a job worker ---------------------------------------------------


def test_wait_polls_until_the_worker_has_stored_the_run(
    testviz: Testviz, make_app: Callable[..., Flask]
) -> None:
    """Queued, ingested by the worker, and only then the summary line: the run is there when
    pytest ends. The poll authenticates with the ingest token where reads need a token."""
    testviz.pytester.makepyfile(test_two=PASS_AND_FAIL)
    app = make_app(ingest_tokens=("ingest-secret",), read_tokens=("reader-secret",))

    with serving(app, worker=True) as url:
        result = testviz.run_subprocess(
            f"--testviz-url={url}",
            *testviz.dir_args,
            "--testviz-token=ingest-secret",
            "--testviz-wait=yes",
        )

        run_id = _run_id(result)
        result.stdout.fnmatch_lines([f"testviz: run {run_id} created: {url}/runs/{run_id}"])
        assert _uploads(app) == [("done", run_id)]  # through the queue, not a held request
        with app.app_context():
            (run,) = db.session.execute(select(Run)).scalars()
            assert (run.run_id, run.tests, run.failed) == (run_id, 2, 1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the verdict is the tests'
    assert (testviz.pending(), testviz.sent()) == ([], [f"{run_id}.xml"])


def test_an_upload_the_worker_rejects_reports_the_servers_error(
    tmp_path: Path,
    working_server: str,
    app: Flask,
    make_app: Callable[..., Flask],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Malformed XML is queued (only what is cheap is checked before the 202), fails in the
    worker, and ``testviz push`` says what a synchronous upload of it is told."""
    broken = tmp_path / "broken.xml"
    broken.write_text('<testsuite name="s"><testcase name="t">', encoding="utf-8")
    with serving(make_app(async_ingest=False)) as synchronous_url:
        assert main(["push", str(broken), "--url", synchronous_url]) == 1
    told_at_once = capsys.readouterr().err

    assert main(["push", str(broken), "--url", working_server]) == 1

    told_after_waiting = capsys.readouterr().err
    assert told_after_waiting == told_at_once
    assert "testviz push: " + str(broken) + ": HTTP 400: " in told_after_waiting
    assert _uploads(app) == [("failed", None)]


def test_an_older_server_answering_200_still_works(
    testviz: Testviz, make_app: Callable[..., Flask]
) -> None:
    """A server that ignores ``Prefer`` (or has TESTVIZ_ASYNC_INGEST=false) has stored the run
    when it answers: nothing to poll."""
    testviz.pytester.makepyfile(test_two=PASS_AND_FAIL)
    app = make_app(async_ingest=False)

    with serving(app) as url:
        result = testviz.run(f"--testviz-url={url}", *testviz.dir_args, "--testviz-wait=yes")

    run_id = _run_id(result)
    result.stdout.fnmatch_lines([f"testviz: run {run_id} created: {url}/runs/{run_id}"])
    assert _uploads(app) == []
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Run)).scalar() == 1
    assert testviz.sent() == [f"{run_id}.xml"]


# -- servers that keep the upload queued, or answer oddly --------------------------------------


@dataclass
class Answers:
    """A fake server's answers: the 202 to the upload, then each poll's in turn (the last
    one again and again); what it was asked, with the headers that matter here."""

    polls: list[tuple[int, dict[str, object]]]
    accepted: dict[str, object] = field(
        default_factory=lambda: {
            "status": "queued",
            "state": "queued",
            "upload_id": 7,
            "url": "/api/tests/uploads/7",
        }
    )
    location: str | None = "/api/tests/uploads/7"
    asked: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)

    def __call__(self, request: http.server.BaseHTTPRequestHandler, fake: FakeServer) -> None:
        self.asked.append(
            (
                request.command,
                request.path,
                request.headers.get("Prefer"),
                request.headers.get("Authorization"),
            )
        )
        if request.command == "POST":
            request.send_response(202)
            if self.location:
                request.send_header("Location", self.location)
            body = json.dumps(self.accepted).encode()
            request.send_header("Content-Type", "application/json")
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)
            return
        status, answer = self.polls.pop(0) if len(self.polls) > 1 else self.polls[0]
        answer_json(request, status, json.dumps(answer).encode())

    @property
    def polled(self) -> list[str]:
        return [path for method, path, _, _ in self.asked if method == "GET"]


@contextmanager
def answering(answers: Answers) -> Iterator[FakeServer]:
    yield from serve(answers)


QUEUED = (200, {"upload_id": 7, "state": "queued", "run_id": None})
DONE = (
    200,
    {
        "upload_id": 7,
        "state": "done",
        "run_id": "r1",
        "result": {"run_id": "r1", "status": "created", "counts": {"tests": 1}},
    },
)


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "report.xml"
    path.write_text(REPORT, encoding="utf-8")
    return path


def test_a_run_left_queued_times_out_as_stored_not_failed(
    testviz: Testviz, closed_port_url: str
) -> None:
    """The run's files are on the server: the report counts as sent, nothing is sent twice,
    and the summary says where to look. The earlier report waiting in the directory is sent
    without waiting for it."""
    testviz.pytester.makepyfile(test_two=PASS_AND_FAIL)
    testviz.run(f"--testviz-url={closed_port_url}", *testviz.dir_args)
    (earlier,) = [name.removesuffix(".xml") for name in testviz.pending()]
    answers = Answers([QUEUED])

    with answering(answers) as fake:
        result = testviz.run(
            f"--testviz-url={fake.url}",
            *testviz.dir_args,
            "--testviz-wait=yes",
            "--testviz-wait-timeout=0.5",
            "--testviz-token=secret",
        )

    run_id = _run_id(result)
    result.stdout.fnmatch_lines(
        [
            f"testviz: run {run_id} stored on the server, not yet ingested after 0.5 s: "
            f"{fake.url}/api/tests/uploads/7"
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert (testviz.pending(), testviz.sent()) == ([], sorted([f"{earlier}.xml", f"{run_id}.xml"]))
    posts = [asked for asked in answers.asked if asked[0] == "POST"]
    assert posts == [("POST", "/api/tests/ingest", "respond-async", "Bearer secret")] * 2
    # Both uploads, then the polls: the earlier report is not waited for.
    assert set(answers.asked[2:]) == {("GET", "/api/tests/uploads/7", None, "Bearer secret")}


def test_passing_moments_of_the_status_are_polled_through(report: Path) -> None:
    """A 5xx while polling says nothing about the upload: it is polled again."""
    answers = Answers([QUEUED, (503, {"message": "restarting"}), (502, {}), DONE])

    with answering(answers) as fake:
        outcome = send(fake.url, report, None)

    assert (outcome.ok, outcome.detail, outcome.run_id) == (True, "created", "r1")
    assert outcome.url == f"{fake.url}/runs/r1"
    assert answers.polled == ["/api/tests/uploads/7"] * 4


def test_a_failed_upload_is_the_error_a_synchronous_upload_gets(report: Path) -> None:
    """A worker that gave up (5xx) is worth sending again later; a malformed report (4xx) is
    not."""
    gave_up = {"status": 500, "code": "ingest_failed", "message": "gave up after 5 attempts"}
    malformed = {"status": 400, "code": "malformed_report", "message": "not JUnit XML"}
    outcomes = []
    for error in (gave_up, malformed):
        with answering(Answers([(200, {"state": "failed", "error": error})])) as fake:
            outcomes.append(send(fake.url, report, None))

    assert [(o.ok, o.rejected, o.detail) for o in outcomes] == [
        (False, False, "HTTP 500: gave up after 5 attempts"),
        (False, True, "HTTP 400: not JUnit XML"),
    ]


def test_a_status_that_cannot_be_read_is_reported_at_once(report: Path) -> None:
    """A 404 (or another 4xx) will not change by asking again: the upload is stored, its state
    unknown."""
    answers = Answers([(404, {"code": "not_found", "message": "no upload '7'"})])

    with answering(answers) as fake:
        outcome = send(fake.url, report, None)

    assert (outcome.ok, outcome.detail) == (
        True,
        "stored on the server; its state cannot be read (HTTP 404: no upload '7')",
    )
    assert answers.polled == ["/api/tests/uploads/7"]


@pytest.mark.parametrize(
    ("location", "body_url"),
    [
        ("/api/tests/uploads/7", "/api/tests/uploads/7"),  # what the server sends
        ("https://elsewhere.example/api/tests/uploads/7", None),  # never another host
        (None, "/api/tests/uploads/7"),
        (None, None),  # the id alone
    ],
)
def test_the_status_is_polled_under_the_servers_url(
    report: Path, location: str | None, body_url: str | None
) -> None:
    """Under a path prefix (a reverse proxy's ``/testviz``), as the run links are."""
    answers = Answers([DONE], location=location)
    answers.accepted = {k: v for k, v in answers.accepted.items() if k != "url"}
    if body_url:
        answers.accepted["url"] = body_url

    with answering(answers) as fake:
        outcome = send(fake.url + "/testviz", report, None)

    assert outcome.ok, outcome.detail
    assert outcome.url == f"{fake.url}/testviz/runs/r1"
    assert answers.polled == ["/testviz/api/tests/uploads/7"]


def test_without_wait_the_202_is_the_answer(report: Path) -> None:
    answers = Answers([DONE])

    with answering(answers) as fake:
        outcome = send(fake.url, report, None, wait=False)

    assert (outcome.ok, outcome.detail) == (True, "queued")
    assert answers.asked == [("POST", "/api/tests/ingest", "respond-async", None)]
