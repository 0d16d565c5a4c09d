"""schemathesis against the OpenAPI document the server serves: every operation it lists.

The document is read from the running server (``GET /api/openapi.json``) on 127.0.0.1, so an
operation added to it is fuzzed with no change here. For each one schemathesis sends valid
and invalid requests; no answer may be a 5xx, and every answer must match the document
(status code, content type, body schema). Runs on SQLite and on PostgreSQL (which refuses
things SQLite stores, e.g. NUL characters). Example counts: tests/fuzzing.py.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection, positive_data_acceptance

from ..fuzzing import examples
from .helpers import case, junit

FAIL = '<failure message="AssertionError: assert 1 == 2" type="AssertionError">trace</failure>'


def operations(base_url: str) -> list[Any]:
    """Every operation the served document lists (an invalid one fails the test)."""
    schema = schemathesis.openapi.from_url(f"{base_url}/api/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]


def fuzz(operation: Any, mode: GenerationMode) -> None:
    """Send ``operation`` the generated requests of ``mode``; every answer validated."""

    # Negative data for a parameter that takes any string is mostly impossible: it is
    # filtered out, and an operation with nothing to violate ends as Unsatisfiable.
    @settings(
        max_examples=examples(ci=15, local=60),
        suppress_health_check=[
            *settings.default.suppress_health_check,
            HealthCheck.filter_too_much,
        ],
    )
    @given(request=operation.as_strategy(generation_mode=mode))
    def run(request: Any) -> None:
        # A schema cannot say "valid JUnit XML": for XML and multipart bodies a 400 for a
        # schema-valid request is right. JSON bodies are held to acceptance too.
        xml_body = request.media_type not in (None, "application/json")
        excluded = [positive_data_acceptance] if xml_body else []
        # The server is lenient by design where the document is strict: unknown query
        # parameters are ignored, an empty one is the default, pydantic reads 1 or "1.5"
        # as a number. Negative requests must still never get a 5xx or an undocumented answer.
        excluded.append(negative_data_rejection)
        request.call_and_validate(timeout=60, excluded_checks=excluded)

    run()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_within_its_document_and_never_5xx(
    live_server: str, mode: GenerationMode
) -> None:
    stored = requests.post(
        f"{live_server}/api/tests/ingest?project=shop",
        data=junit(case("test_a"), case("test_b", body=FAIL)),
        headers={"Content-Type": "application/xml"},
        timeout=60,
    )
    assert stored.status_code == 200, stored.text  # so that reads find something
    listed = operations(live_server)
    assert {op.label for op in listed} >= {"POST /api/tests/ingest", "GET /api/tests/runs"}

    failures = []
    for operation in listed:
        try:
            fuzz(operation, mode)
        except Unsatisfiable:
            # Nothing to get wrong (no parameters, no body): no negative request exists.
            assert mode is GenerationMode.NEGATIVE, operation.label
        except Exception as exc:  # every operation is tried; all failures are reported
            failures.append(f"--- {operation.label}\n{exc}")
    assert not failures, "\n".join(failures)


def test_times_are_written_with_their_offset_on_every_database(live_server: str) -> None:
    """Found by schemathesis: on SQLite the API wrote naive times (not RFC 3339 date-times)."""
    meta = b'{"run_id": "timed", "started_at": "2026-11-29T08:27:53+02:00"}'
    stored = requests.post(
        f"{live_server}/api/tests/ingest",
        files={"report": ("r.xml", junit(case("test_a"))), "meta": ("r.meta.json", meta)},
        timeout=60,
    )
    assert stored.status_code == 200, stored.text
    run = requests.get(f"{live_server}/api/tests/runs/timed", timeout=60).json()
    for name in ("ingested_at", "started_at"):
        assert datetime.fromisoformat(run[name].replace("Z", "+00:00")).utcoffset() is not None
    assert run["started_at"].startswith("2026-11-29T06:27:53")


def test_durations_that_add_up_past_the_largest_float_still_give_valid_json(
    live_server: str,
) -> None:
    """Found by schemathesis: the run's duration summed to inf, written as `Infinity`."""
    results = [{"name": f"t{n}", "status": "passed", "duration": 1.5e308} for n in range(2)]
    stored = requests.post(
        f"{live_server}/api/tests/ingest",
        json={"run_id": "endless", "results": results},
        timeout=60,
    )
    assert stored.status_code == 200, stored.text
    for url in ("/api/tests/runs", "/api/tests/runs/endless"):
        body = requests.get(f"{live_server}{url}", timeout=60).text
        assert "Infinity" not in body
        json.loads(body, parse_constant=refuse)  # what a strict JSON parser does


def refuse(token: str) -> None:
    raise AssertionError(f"not JSON: {token}")
