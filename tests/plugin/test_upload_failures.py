"""A server that refuses, fails or hangs: pytest's verdict stands, the report waits on disk,
and the summary says what happened and what to do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from pytest_testviz.cli import main
from pytest_testviz.upload import RETRIES

from .conftest import FakeServer, Testviz, server_runs

PASSING = "def test_one():\n    pass\n"


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    """The server with an ingest token, counting the requests that reach it."""
    app = make_app(ingest_tokens=("right",))
    seen: list[str] = []
    inner = app.wsgi_app

    def counting(environ: dict[str, Any], start_response: Any) -> Any:
        seen.append(f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}")
        return inner(environ, start_response)

    app.wsgi_app = counting  # type: ignore[method-assign]
    app.config["SEEN"] = seen
    return app


def _ingests(app: Flask) -> int:
    return sum(1 for request in app.config["SEEN"] if request == "POST /api/tests/ingest")


def _no_internal_error(result: pytest.RunResult) -> None:
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


def test_a_refused_report_is_not_retried(testviz: Testviz, live_server: str, app: Flask) -> None:
    testviz.pytester.makepyfile(test_one=PASSING)

    result = testviz.run(f"--testviz-url={live_server}", *testviz.dir_args, "--testviz-token=wrong")

    assert result.ret == pytest.ExitCode.OK
    _no_internal_error(result)
    assert _ingests(app) == 1
    (pending,) = testviz.pending()
    run_id = pending.removesuffix(".xml")
    result.stdout.fnmatch_lines(
        [
            f"testviz: the server refused run {run_id}: HTTP 401: the ingest token is not valid;"
            f" the report stays in {testviz.directory} (after fixing it: testviz replay *"
        ]
    )
    assert server_runs(live_server) == []

    assert main(["replay", str(testviz.directory), "--url", live_server, "--token", "right"]) == 0
    assert [run["run_id"] for run in server_runs(live_server)] == [run_id]


def test_the_token_from_the_environment_is_sent(
    testviz: Testviz, live_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    testviz.pytester.makepyfile(test_one=PASSING)
    monkeypatch.setenv("TESTVIZ_TOKEN", "right")

    result = testviz.run(f"--testviz-url={live_server}", *testviz.dir_args)

    assert result.ret == pytest.ExitCode.OK
    assert len(server_runs(live_server)) == 1
    assert testviz.pending() == []


def test_a_token_with_a_trailing_newline_is_sent_without_it(
    testviz: Testviz, live_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    testviz.pytester.makepyfile(test_one=PASSING)
    monkeypatch.setenv("TESTVIZ_TOKEN", "right\n")  # as read from a file

    result = testviz.run(f"--testviz-url={live_server}", *testviz.dir_args)

    assert len(server_runs(live_server)) == 1, result.stdout.str()


@pytest.mark.parametrize("token", ["secret-9c4d\nline-two", "wrong-secret-51ab"])
def test_a_bad_token_never_shows_in_the_output(
    testviz: Testviz, live_server: str, monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    """An HTTP library quotes a header it refuses in its error: that message is not shown."""
    testviz.pytester.makepyfile(test_one=PASSING)
    monkeypatch.setenv("TESTVIZ_TOKEN", token)

    result = testviz.run(f"--testviz-url={live_server}", *testviz.dir_args)

    assert result.ret == pytest.ExitCode.OK
    _no_internal_error(result)
    output = result.stdout.str() + result.stderr.str()
    assert "testviz: " in output
    for part in token.split("\n"):
        assert part not in output
    assert len(testviz.pending()) == 1


def test_a_failing_server_is_retried_a_bounded_number_of_times(
    testviz: Testviz, unavailable_server: FakeServer
) -> None:
    testviz.pytester.makepyfile(test_one="def test_one():\n    assert False\n")

    result = testviz.run(f"--testviz-url={unavailable_server.url}", *testviz.dir_args)

    assert result.ret == pytest.ExitCode.TESTS_FAILED
    _no_internal_error(result)
    assert unavailable_server.requests == ["/api/tests/ingest"] * RETRIES
    (pending,) = testviz.pending()
    result.stdout.fnmatch_lines(
        [
            f"testviz: could not send run {pending.removesuffix('.xml')}: "
            "HTTP 503: down for maintenance; the report stays in *; send it later with: *"
        ]
    )


def test_a_waiting_backlog_costs_one_try_when_the_server_still_fails(
    testviz: Testviz, unavailable_server: FakeServer
) -> None:
    testviz.pytester.makepyfile(test_one=PASSING)
    testviz.run(f"--testviz-url={unavailable_server.url}", *testviz.dir_args)
    unavailable_server.requests.clear()

    result = testviz.run(f"--testviz-url={unavailable_server.url}", *testviz.dir_args)

    assert result.ret == pytest.ExitCode.OK
    assert len(unavailable_server.requests) == 1 + RETRIES
    assert len(testviz.pending()) == 2


def test_a_server_that_never_answers_times_out(testviz: Testviz, silent_server: FakeServer) -> None:
    testviz.pytester.makepyfile(test_one=PASSING)

    result = testviz.run(
        f"--testviz-url={silent_server.url}", *testviz.dir_args, "--testviz-timeout=0.5"
    )

    assert result.ret == pytest.ExitCode.OK
    _no_internal_error(result)
    # At most RETRIES: a request the server thread has not read yet may not be counted.
    assert 0 < len(silent_server.requests) <= RETRIES
    assert len(testviz.pending()) == 1
    result.stdout.fnmatch_lines(
        [
            f"testviz: could not send run *: cannot reach {silent_server.url}: "
            "no answer within 0.5 s (timed out); *"
        ]
    )


def test_an_impossible_proxy_leaves_the_verdict_alone(
    testviz: Testviz, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found in review: urllib let socket raise OverflowError for this proxy's port."""
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:99999999999999999999")
    testviz.pytester.makepyfile(test_one=PASSING)

    result = testviz.run("--testviz-url=http://testviz.invalid", *testviz.dir_args)

    assert result.ret == pytest.ExitCode.OK
    _no_internal_error(result)
    result.stdout.fnmatch_lines(
        ["testviz: could not send run *: cannot send to http://testviz.invalid: Failed to parse*"]
    )
    assert len(testviz.pending()) == 1
