"""``Prefer: respond-async``: a JUnit upload is stored, answered 202, ingested by a worker.

Nothing accepted may be lost: the queued row and its job are committed before the answer, a
worker picks up what a dead worker left once its lease runs out, and a report that turns out
to be malformed ends ``failed`` with the error a synchronous upload would have got, its
bytes kept.
"""

from __future__ import annotations

import gzip
import io
import json
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update
from sqlalchemy.orm import undefer

from server.ingest.queued import MAX_ATTEMPTS, queue_upload
from server.jobs.queue import utcnow
from server.jobs.worker import Worker
from server.storage.db import db
from server.storage.models import Job, QueuedUpload, Run

from ..support import AppFactory
from .helpers import case, drain, junit
from .test_ingest_api import post_xml

ASYNC = {"Prefer": "respond-async"}
FAIL = '<failure message="AssertionError: assert 1 == 2" type="AssertionError">trace</failure>'
REPORT = junit(case("test_a"), case("test_b", body=FAIL), case("test_c", body="<skipped/>"))


def sidecar(**fields: Any) -> bytes:
    return json.dumps({"schema_version": 1, **fields}).encode()


def post_multipart(client: Any, report: bytes, meta: bytes | None = None, **kwargs: Any) -> Any:
    data: dict[str, Any] = {"report": (io.BytesIO(report), "junit.xml")}
    if meta is not None:
        data["meta"] = (io.BytesIO(meta), "junit.meta.json")
    return client.post("/api/tests/ingest", data=data, content_type="multipart/form-data", **kwargs)


def settled(app: Flask) -> None:
    drain(app)


def ingest_job(app: Flask, upload_id: int) -> Job:
    with app.app_context():
        job = (
            db.session.execute(
                select(Job).where(Job.kind == "ingest", Job.key == str(upload_id)).order_by(Job.id)
            )
            .scalars()
            .all()[-1]
        )
        db.session.expunge_all()
        return job


def make_due(app: Flask) -> None:
    """Skip the backoff: every queued job is due now."""
    with app.app_context():
        db.session.execute(update(Job).where(Job.state == "queued").values(run_after=utcnow()))
        db.session.commit()


def queued_rows(app: Flask) -> list[QueuedUpload]:
    with app.app_context():
        query = select(QueuedUpload).options(
            undefer(QueuedUpload.report), undefer(QueuedUpload.meta)
        )
        rows = list(db.session.execute(query.order_by(QueuedUpload.id)).scalars())
        db.session.expunge_all()
        return rows


def run_count(app: Flask) -> int:
    with app.app_context():
        return db.session.execute(select(func.count()).select_from(Run)).scalar_one()


def test_a_multipart_upload_is_accepted_then_stored(make_app: AppFactory) -> None:
    app = make_app()
    client = app.test_client()
    meta = sidecar(run_id="run-async-1", project="shop", branch="main")

    response = post_multipart(client, gzip.compress(REPORT), gzip.compress(meta), headers=ASYNC)

    assert response.status_code == 202, response.json
    body = response.json
    assert body["status"] == "queued"
    assert body["run_id"] == "run-async-1"
    assert body["run_url"] == "/api/tests/runs/run-async-1"
    assert response.headers["Location"] == body["url"] == f"/api/tests/uploads/{body['upload_id']}"
    assert response.headers["Preference-Applied"] == "respond-async"

    settled(app)
    status = client.get(body["url"]).json
    assert status["state"] == "done"
    assert status["error"] is None
    assert status["result"]["status"] == "created"
    assert status["result"]["counts"]["tests"] == 3
    run = client.get("/api/tests/runs/run-async-1").json
    assert (run["project"], run["branch"], run["totals"]["failed"]) == ("shop", "main", 1)
    assert (run["mapping_state"], run["integrity_state"]) == ("done", "done")
    (row,) = queued_rows(app)
    assert (row.report, row.meta, row.claimed_at, row.attempts) == (None, None, None, 1)
    job = ingest_job(app, body["upload_id"])
    assert (job.state, job.attempts, job.claimed_by, job.last_error) == ("done", 1, None, None)


def test_a_bare_xml_body_gets_its_run_id_once_stored(make_app: AppFactory) -> None:
    app = make_app()
    client = app.test_client()

    response = post_xml(
        client, REPORT, query_string={"project": "cli"}, headers={"Prefer": "wait=5, respond-async"}
    )

    assert response.status_code == 202, response.json
    assert (response.json["run_id"], response.json["run_url"]) == (None, None)
    settled(app)
    status = client.get(response.json["url"]).json
    assert status["state"] == "done"
    assert status["run_url"] == f"/api/tests/runs/{status['run_id']}"
    assert client.get(status["run_url"]).json["project"] == "cli"

    # The same body ingested synchronously derives the same run id: already stored.
    again = client.post("/api/tests/ingest?project=cli", data=REPORT, content_type="text/xml")
    assert (again.status_code, again.json["status"]) == (200, "skipped")
    assert again.json["run_id"] == status["run_id"]


def test_the_same_run_queued_twice_is_stored_once(make_app: AppFactory) -> None:
    app = make_app()
    client = app.test_client()
    meta = sidecar(run_id="twice")

    first = post_multipart(client, REPORT, meta, headers=ASYNC)
    second = post_multipart(client, REPORT, meta, headers=ASYNC)

    assert (first.status_code, second.status_code) == (202, 202)
    settled(app)
    results = [client.get(r.json["url"]).json["result"]["status"] for r in (first, second)]
    assert results == ["created", "skipped"]
    assert run_count(app) == 1


def test_a_malformed_report_fails_in_the_background_and_is_kept(make_app: AppFactory) -> None:
    app = make_app()
    client = app.test_client()
    broken = b"<testsuites><testsuite name='s'><testcase name='a'>"

    response = post_multipart(client, broken, sidecar(run_id="broken"), headers=ASYNC)

    assert response.status_code == 202
    settled(app)
    status = client.get(response.json["url"]).json
    assert status["state"] == "failed"
    assert status["error"]["status"] == 400
    assert status["error"]["code"] == "malformed_report"
    assert "line 1" in status["error"]["message"]
    assert status["result"] is None
    assert run_count(app) == 0
    (row,) = queued_rows(app)
    assert row.report is not None  # kept, gzip'd
    assert gzip.decompress(row.report) == broken


@pytest.mark.parametrize(
    ("meta", "status", "code"),
    [
        (b"{not json", 400, "malformed_sidecar"),
        (sidecar(git_sha="not a sha"), 422, "invalid_sidecar"),
        (sidecar(schema_version=7), 422, "invalid_sidecar"),
    ],
)
def test_a_bad_sidecar_is_refused_before_anything_is_queued(
    make_app: AppFactory, meta: bytes, status: int, code: str
) -> None:
    app = make_app()

    response = post_multipart(app.test_client(), REPORT, meta, headers=ASYNC)

    assert (response.status_code, response.json["code"]) == (status, code)
    assert queued_rows(app) == []


def test_a_project_token_is_checked_before_anything_is_queued(make_app: AppFactory) -> None:
    app = make_app(ingest_tokens=("shop:s3cret",))
    client = app.test_client()
    auth = {**ASYNC, "Authorization": "Bearer s3cret"}

    other = post_multipart(client, REPORT, sidecar(project="billing"), headers=auth)
    default = post_xml(client, REPORT, headers=auth)
    own = post_multipart(client, REPORT, sidecar(project="shop"), headers=auth)

    assert (other.status_code, other.json["code"]) == (403, "forbidden")
    assert default.status_code == 403  # no project named: "default", not this token's
    assert own.status_code == 202
    settled(app)
    assert [row.state for row in queued_rows(app)] == ["done"]


def test_json_and_a_server_that_does_not_queue_answer_200(make_app: AppFactory) -> None:
    queueing = make_app()
    document = {"run_id": "json-1", "results": [{"name": "test_a", "status": "passed"}]}

    as_json = queueing.test_client().post("/api/tests/ingest", json=document, headers=ASYNC)
    not_queueing = make_app(async_ingest=False)
    xml = post_multipart(not_queueing.test_client(), REPORT, sidecar(run_id="x"), headers=ASYNC)

    for response in (as_json, xml):
        assert (response.status_code, response.json["status"]) == (200, "created")
        assert "Preference-Applied" not in response.headers
    assert queued_rows(queueing) == queued_rows(not_queueing) == []


def test_an_unknown_upload_is_a_json_404(client: Any) -> None:
    for path in (
        "/api/tests/uploads/12345",
        "/api/tests/uploads/abc",
        "/api/tests/uploads/99999999999999999999",
        "/api/tests/uploads/" + "9" * 5000,
    ):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json["code"] == "not_found"


# -- nothing accepted is lost ---------------------------------------------------------------


def _queue_directly(app: Flask, run_id: str, **columns: Any) -> int:
    """The committed state a 202 leaves behind, as if the worker died before ingesting."""
    with app.app_context():
        upload = queue_upload(
            db.session, gzip.compress(REPORT), gzip.compress(sidecar(run_id=run_id)), None, run_id
        )
        if columns:
            db.session.execute(
                update(QueuedUpload).where(QueuedUpload.id == upload.id).values(**columns)
            )
            db.session.commit()
        upload_id: int = upload.id
        db.session.remove()
        return upload_id


def test_what_was_queued_is_ingested_by_any_worker_later(make_app: AppFactory) -> None:
    before = make_app()
    upload_id = _queue_directly(before, "left-behind")

    restarted = make_app()  # the web app itself runs nothing: a worker does
    status = restarted.test_client().get(f"/api/tests/uploads/{upload_id}").json
    assert status["state"] == "queued"
    settled(restarted)

    status = restarted.test_client().get(f"/api/tests/uploads/{upload_id}").json
    assert (status["state"], status["result"]["status"]) == ("done", "created")
    assert run_count(restarted) == 1


@pytest.mark.parametrize(
    ("lease_left", "taken"),
    [
        (timedelta(seconds=-1), True),  # its worker died: the lease ran out
        (timedelta(seconds=30), False),  # its worker is still at it
    ],
)
def test_a_claimed_upload_is_taken_over_only_once_its_lease_has_run_out(
    make_app: AppFactory, lease_left: timedelta, taken: bool
) -> None:
    app = make_app()
    upload_id = _queue_directly(app, "claimed")
    with app.app_context():
        db.session.execute(
            update(Job)
            .where(Job.kind == "ingest", Job.key == str(upload_id))
            .values(
                state="running",
                attempts=1,
                claimed_by="elsewhere.invalid:1:dead",
                lease_until=utcnow() + lease_left,
            )
        )
        db.session.commit()

    assert Worker(app, schedule=False).run_once() is taken

    assert run_count(app) == (1 if taken else 0)
    job = ingest_job(app, upload_id)
    assert (job.state, job.attempts) == (("done", 2) if taken else ("running", 1))


def test_unexpected_failures_are_retried_with_backoff_then_given_up(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure that is not the report's fault (the database, a bug) leaves the upload
    queued and its job retried later and later, until it has failed MAX_ATTEMPTS times."""
    app = make_app()
    upload_id = _queue_directly(app, "unlucky")

    def broken(*args: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr("server.ingest.queued.ingest_run", broken)
    worker = Worker(app, schedule=False)
    waits = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        before = utcnow()
        assert worker.run_once()
        assert not worker.run_once()  # not due again yet: backoff
        job = ingest_job(app, upload_id)
        assert job.attempts == attempt
        assert "RuntimeError: the database went away" in (job.last_error or "")
        if attempt < MAX_ATTEMPTS:
            assert job.state == "queued"
            waits.append((job.run_after - before).total_seconds())
            status = app.test_client().get(f"/api/tests/uploads/{upload_id}").json
            assert (status["state"], status["attempts"]) == ("queued", attempt)
            make_due(app)
        else:
            assert job.state == "failed"
    # The backoff doubles (a loaded machine adds the attempt's own time, under a second).
    assert [round(wait) for wait in waits] == pytest.approx([5, 10, 20, 40], abs=2), waits

    status = app.test_client().get(f"/api/tests/uploads/{upload_id}").json
    assert status["state"] == "failed"
    assert status["error"]["status"] == 500
    assert status["error"]["code"] == "ingest_failed"
    assert f"gave up after {MAX_ATTEMPTS} attempts" in status["error"]["message"]
    assert "RuntimeError" in status["error"]["message"]

    # Its bytes are kept: once the database is back, a person queues it again.
    monkeypatch.undo()
    result = app.test_cli_runner().invoke(args=["requeue-uploads", str(upload_id)])
    assert result.exit_code == 0, result.output
    assert "1 failed uploads queued again" in result.output
    settled(app)
    status = app.test_client().get(f"/api/tests/uploads/{upload_id}").json
    assert (status["state"], status["attempts"]) == ("done", 1)
    assert run_count(app) == 1


def test_a_worker_that_dies_on_every_attempt_does_not_loop_for_ever(
    make_app: AppFactory,
) -> None:
    """Each attempt killed its worker (out of memory, say): its lease runs out and another
    worker takes the job over, so without a cap the upload would kill worker after worker."""
    app = make_app()
    upload_id = _queue_directly(app, "poison")
    with app.app_context():
        db.session.execute(
            update(Job)
            .where(Job.kind == "ingest", Job.key == str(upload_id))
            .values(
                state="running",
                attempts=MAX_ATTEMPTS,
                claimed_by="elsewhere.invalid:1:dead",
                lease_until=utcnow() - timedelta(seconds=1),
            )
        )
        db.session.commit()

    settled(app)

    status = app.test_client().get(f"/api/tests/uploads/{upload_id}").json
    assert status["state"] == "failed"
    assert "none of them finished" in status["error"]["message"]
    assert run_count(app) == 0
    job = ingest_job(app, upload_id)
    assert (job.state, job.attempts) == ("failed", MAX_ATTEMPTS)
    assert "none of them finished" in (job.last_error or "")


def test_a_worker_whose_lease_was_taken_over_does_not_overwrite_the_new_holder(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow ingest outlives its lease; another worker takes the job over meanwhile. The
    first may still store the run (idempotent), but the job is not its to finish any more."""
    from server.ingest import queued as module

    app = make_app()
    upload_id = _queue_directly(app, "slow")
    real_ingest = module.ingest_run
    taken_over = {"claimed_by": "elsewhere.invalid:7:x", "attempts": 2}

    def slow_ingest(*args: Any) -> Any:
        with db.engine.begin() as connection:  # another worker, on its own connection
            connection.execute(update(Job).where(Job.kind == "ingest").values(**taken_over))
        return real_ingest(*args)

    monkeypatch.setattr(module, "ingest_run", slow_ingest)
    assert Worker(app, schedule=False).run_once()

    job = ingest_job(app, upload_id)
    assert (job.state, job.claimed_by, job.attempts) == ("running", "elsewhere.invalid:7:x", 2)
    assert run_count(app) == 1


# -- hostile input on the queued path -------------------------------------------------------


def queue_xml(client: Any, body: bytes, **headers: str) -> Any:
    return post_xml(client, body, headers={**ASYNC, **headers})


def test_gzip_bytes_sent_as_identity_are_parsed_as_sent_not_unzipped(
    make_app: AppFactory,
) -> None:
    """``Content-Encoding: identity`` says the body is not zipped: a body that merely starts
    like gzip is a report to parse (and so malformed), never unzipped without a bound."""
    app = make_app(max_upload_mb=1)
    client = app.test_client()
    bomb = gzip.compress(b"<testsuite>" + b" " * (8 * 1024 * 1024) + b"</testsuite>")

    synchronous = post_xml(client, bomb, headers={"Content-Encoding": "identity"})
    queued = queue_xml(client, bomb, **{"Content-Encoding": "identity"})

    assert (synchronous.status_code, synchronous.json["code"]) == (400, "malformed_report")
    assert queued.status_code == 202
    settled(app)
    error = client.get(queued.json["url"]).json["error"]
    assert (error["status"], error["code"]) == (400, "malformed_report")


@pytest.mark.parametrize(
    ("body", "headers", "status", "code"),
    [
        (b"", {}, 400, "malformed_report"),
        (b" \n ", {}, 400, "malformed_report"),
        (gzip.compress(b" " * (2 * 1024 * 1024)), {"Content-Encoding": "gzip"}, 413, "too_large"),
        (gzip.compress(REPORT)[:-10], {"Content-Encoding": "gzip"}, 400, "bad_encoding"),
        (REPORT, {"Content-Encoding": "br"}, 415, "unsupported_encoding"),
    ],
)
def test_an_empty_report_or_a_bad_encoding_is_refused_before_anything_is_queued(
    make_app: AppFactory, body: bytes, headers: dict[str, str], status: int, code: str
) -> None:
    app = make_app(max_upload_mb=1)

    response = queue_xml(app.test_client(), body, **headers)

    assert (response.status_code, response.json["code"]) == (status, code)
    assert queued_rows(app) == []


def test_the_ingest_token_that_sent_an_upload_may_follow_it(make_app: AppFactory) -> None:
    app = make_app(ingest_tokens=("ci-token",), read_tokens=("reader",))
    client = app.test_client()
    accepted = queue_xml(client, REPORT, Authorization="Bearer ci-token")
    assert accepted.status_code == 202

    followed = [
        client.get(accepted.json["url"], headers={"Authorization": f"Bearer {token}"})
        for token in ("ci-token", "reader", "wrong")
    ]

    assert [response.status_code for response in followed] == [200, 200, 401]
    assert client.get(accepted.json["url"]).status_code == 401
    # An ingest token reads nothing else.
    runs = client.get("/api/tests/runs", headers={"Authorization": "Bearer ci-token"})
    assert runs.status_code == 401


def test_a_project_token_follows_its_own_projects_uploads_only(make_app: AppFactory) -> None:
    app = make_app(ingest_tokens=("shop:shop-token", "cli:cli-token"), read_tokens=("reader",))
    client = app.test_client()
    shop = post_multipart(
        client,
        REPORT,
        sidecar(project="shop"),
        headers={**ASYNC, "Authorization": "Bearer shop-token"},
    )
    assert shop.status_code == 202

    as_other = client.get(shop.json["url"], headers={"Authorization": "Bearer cli-token"})
    as_owner = client.get(shop.json["url"], headers={"Authorization": "Bearer shop-token"})

    assert (as_other.status_code, as_other.json["code"]) == (404, "not_found")
    assert as_owner.status_code == 200


# -- the run's page, before the run is stored --------------------------------------------------


def test_the_run_page_shows_a_queued_upload_until_the_run_is_stored(
    make_app: AppFactory,
) -> None:
    """The plugin's summary links the run's page at once: it must not be a bare 404."""
    app = make_app()
    upload_id = _queue_directly(app, "run-page-1")

    waiting = app.test_client().get("/runs/run-page-1")

    assert waiting.status_code == 200
    page = waiting.get_data(as_text=True)
    assert "is storing it" in page
    assert '<meta http-equiv="refresh" content="2">' in page
    assert f"/api/tests/uploads/{upload_id}" in page

    settled(app)  # a worker stores it
    stored = app.test_client().get("/runs/run-page-1")

    assert stored.status_code == 200
    assert "http-equiv" not in stored.get_data(as_text=True)
    assert "is storing it" not in stored.get_data(as_text=True)


def test_the_run_page_says_why_an_upload_failed(make_app: AppFactory) -> None:
    app = make_app()
    client = app.test_client()
    response = post_multipart(
        client, b"<testsuites><testcase name='a'>", sidecar(run_id="broken-1"), headers=ASYNC
    )
    settled(app)

    page = client.get("/runs/broken-1")

    assert page.status_code == 404
    text = page.get_data(as_text=True)
    assert "malformed_report" in text
    assert f"requeue-uploads {response.json['upload_id']}" in text
    assert "http-equiv" not in text
    assert client.get("/runs/never-sent").status_code == 404
