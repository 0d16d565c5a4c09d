"""The OpenAPI 3.1 document, generated from the pydantic models the API really uses."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from pytest_testviz.core.results import STATUSES

from .schemas import (
    ErrorBody,
    Health,
    IngestRunRequest,
    IngestRunResponse,
    IntegrityOut,
    QueuedUploadResponse,
    RunDetail,
    RunList,
    UploadStatus,
)
from .schemas_history import (
    BuildOut,
    FlakyList,
    GroupDetail,
    GroupList,
    Overview,
    ProjectList,
    RunDiff,
    SignalList,
    SummaryOut,
    TestHistory,
    Trend,
)
from .schemas_shard import DurationsOut, ShardPlanOut, ShardPlanRequest

_MODELS: tuple[type[BaseModel], ...] = (
    ErrorBody,
    Health,
    IngestRunRequest,
    IngestRunResponse,
    IntegrityOut,
    QueuedUploadResponse,
    RunDetail,
    RunList,
    UploadStatus,
    FlakyList,
    GroupDetail,
    GroupList,
    Overview,
    ProjectList,
    RunDiff,
    SignalList,
    TestHistory,
    Trend,
    BuildOut,
    SummaryOut,
    DurationsOut,
    ShardPlanOut,
    ShardPlanRequest,
)
#: Request bodies: their schemas are what the API accepts (validation mode).
_REQUESTS = (IngestRunRequest, ShardPlanRequest)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(model)}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(code): {"description": "error", "content": _json(ErrorBody)} for code in codes}


def _query(name: str, kind: str = "string", description: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": kind, **extra},
    }


def _path(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


_RUN_ID = _path("run_id")


def _get(
    summary: str, model: type[BaseModel], *parameters: dict[str, Any], errors: tuple[int, ...]
) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": list(parameters),
            "responses": {
                "200": {"description": "ok", "content": _json(model)},
                **_errors(*errors, 503),
            },
        }
    }


#: What the read API accepts in a free-text parameter (server/api_read.py ``_text_arg``).
_TEXT: dict[str, Any] = {"maxLength": 1024, "pattern": "^[^\x00]*$"}
#: At most 12 digits (``_int_arg``); larger values are capped at the endpoint's maximum.
_PAGE = [
    _query("page", "integer", "page number, from 1", minimum=1, maximum=10**12 - 1),
    _query("per_page", "integer", "items per page", minimum=1, maximum=10**12 - 1),
]
#: An empty value is the same as leaving the parameter out.
_EMPTY = [""]
_PROJECT = _query("project", description="project (default: the newest run's)", **_TEXT)
_BASE = _query("base", description="compare with this branch's latest earlier run", **_TEXT)
_BUILD_ID = _path("build_id")
_BUILD_PROJECT = _query(
    "project", description="the build's project (needed when several have that build id)", **_TEXT
)


@lru_cache(maxsize=1)
def _components() -> dict[str, Any]:
    _, schema = models_json_schema(
        [(model, "validation" if model in _REQUESTS else "serialization") for model in _MODELS],
        ref_template="#/components/schemas/{model}",
    )
    components = dict(schema.get("$defs", {}))
    for name in ("IngestRunRequest", "IngestResult", "ShardPlanRequest"):
        _no_nul(components.get(name, {}))
    return components


_NO_NUL = "^[^\x00]*$"


def _no_nul(node: Any) -> None:
    """Request strings may not hold NUL (databases cannot store it; the API says 422)."""
    if isinstance(node, list):
        for item in node:
            _no_nul(item)
        return
    if not isinstance(node, dict):
        return
    if node.get("type") == "string" and "pattern" not in node and "format" not in node:
        node["pattern"] = _NO_NUL
    if node.get("type") == "object" and "additionalProperties" in node:
        node.setdefault("propertyNames", {}).setdefault("pattern", _NO_NUL)
    for value in node.values():
        _no_nul(value)


def _secured(document: dict[str, Any]) -> dict[str, Any]:
    """Every operation but /healthz may need a token (server/auth.py): a 401, and the scheme."""
    for path, operations in document["paths"].items():
        if path == "/healthz":
            continue
        for operation in operations.values():
            operation["responses"].setdefault("401", _errors(401)["401"])
            operation.setdefault("security", [{"token": []}, {}])
    document["components"]["securitySchemes"] = {
        "token": {"type": "http", "scheme": "bearer", "description": "an ingest or read token"}
    }
    return document


def openapi_document(version: str) -> dict[str, Any]:
    return _secured(_document(version))


def _document(version: str) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pytest-testviz",
            "version": version,
            "description": "Ingest JUnit XML from any producer; read every run's history.",
        },
        "paths": {
            "/api/tests/ingest": {
                "post": {
                    "summary": "Store a run (idempotent by run_id)",
                    "parameters": [
                        _query("project", description="project, for XML bodies without a sidecar"),
                        {
                            "name": "Prefer",
                            "in": "header",
                            "required": False,
                            "description": "respond-async: store a JUnit upload, answer 202, "
                            "ingest it in the background (JSON bodies are always ingested "
                            "at once)",
                            "schema": {"type": "string"},
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": _ref(IngestRunRequest)},
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "required": ["report"],
                                    "properties": {
                                        "report": {"type": "string", "format": "binary"},
                                        "meta": {"type": "string", "format": "binary"},
                                        "project": {"type": "string"},
                                    },
                                }
                            },
                            "application/xml": {"schema": {"type": "string"}},
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "created or skipped",
                            "content": _json(IngestRunResponse),
                        },
                        "202": {
                            "description": "queued (Prefer: respond-async); follow Location",
                            "content": _json(QueuedUploadResponse),
                        },
                        **_errors(400, 401, 403, 413, 415, 422, 503),
                    },
                }
            },
            "/api/tests/runs": {
                "get": {
                    "summary": "Runs, newest first",
                    "parameters": [
                        _query("project", **_TEXT),
                        _query("branch", **_TEXT),
                        _query(
                            "status",
                            description="passed or failed",
                            enum=["passed", "failed", *_EMPTY],
                        ),
                        *_PAGE,
                    ],
                    "responses": {
                        "200": {"description": "runs", "content": _json(RunList)},
                        **_errors(422, 503),
                    },
                }
            },
            "/api/tests/runs/{run_id}": {
                "get": {
                    "summary": "One run with its results",
                    "parameters": [
                        _RUN_ID,
                        _query("status", enum=[*STATUSES, *_EMPTY]),
                        _query("q", description="substring of the test name", **_TEXT),
                        *_PAGE,
                    ],
                    "responses": {
                        "200": {"description": "the run", "content": _json(RunDetail)},
                        **_errors(404, 422, 503),
                    },
                }
            },
            "/api/tests/runs/{run_id}/integrity": {
                "get": {
                    "summary": "The run's integrity signals",
                    "parameters": [_RUN_ID],
                    "responses": {
                        "200": {"description": "signals", "content": _json(IntegrityOut)},
                        **_errors(404, 503),
                    },
                }
            },
            "/api/tests/runs/{run_id}/summary": _get(
                "The run's summary: totals, new failures and fixed tests against the previous "
                "run of its branch (or base's latest), flaky tests, top failure groups",
                SummaryOut,
                _RUN_ID,
                _BASE,
                errors=(404, 422),
            ),
            "/api/tests/builds/{build_id}": _get(
                "A CI build: its runs (jobs) and their totals together",
                BuildOut,
                _BUILD_ID,
                _BUILD_PROJECT,
                errors=(404, 422),
            ),
            "/api/tests/builds/{build_id}/summary": _get(
                "A CI build's runs summarised together, against the previous build of the "
                "branch (or base's latest)",
                SummaryOut,
                _BUILD_ID,
                _BUILD_PROJECT,
                _BASE,
                errors=(404, 422),
            ),
            "/api/tests/runs/{run_id}/diff": _get(
                "What changed since the previous run of the same branch",
                RunDiff,
                _RUN_ID,
                errors=(404,),
            ),
            "/api/tests/uploads/{upload_id}": _get(
                "A queued upload: queued, done (with the ingest's answer) or failed",
                UploadStatus,
                {
                    "name": "upload_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                },
                errors=(404,),
            ),
            "/api/tests/projects": _get("Projects with their run counts", ProjectList, errors=()),
            "/api/tests/overview": _get(
                "Latest run per branch, trends, top failure groups, flaky count, signals",
                Overview,
                _PROJECT,
                _query("branch", description="trend of one branch", **_TEXT),
                errors=(422,),
            ),
            "/api/tests/trends": _get(
                "Pass rate and duration of the latest runs, oldest first",
                Trend,
                _PROJECT,
                _query("branch", **_TEXT),
                _query("limit", "integer", "how many runs", minimum=1, maximum=10**12 - 1),
                errors=(422,),
            ),
            "/api/tests/tests/{test_id}": _get(
                "One test: definition, history newest first, failure groups, flakiness",
                TestHistory,
                _path("test_id"),
                _query("project", **_TEXT),
                *_PAGE,
                errors=(404, 422),
            ),
            "/api/tests/flaky": _get(
                "Flaky tests ranked by score with their evidence; environment-specific tests",
                FlakyList,
                _PROJECT,
                *_PAGE,
                errors=(422,),
            ),
            "/api/tests/failure-groups": _get(
                "Recurring failures by fingerprint",
                GroupList,
                _query("project", **_TEXT),
                _query("order", enum=["recent", "occurrences", "runs", *_EMPTY]),
                *_PAGE,
                errors=(422,),
            ),
            "/api/tests/failure-groups/{fingerprint}": _get(
                "One failure group: tests hit, recent occurrences, example traceback",
                GroupDetail,
                _path("fingerprint"),
                _query("project", **_TEXT),
                errors=(404, 422),
            ),
            "/api/tests/integrity": _get(
                "Integrity signals of every run, newest first",
                SignalList,
                _query("project", **_TEXT),
                _query("kind", description="e.g. tests_disappeared, test_count_drop", **_TEXT),
                *_PAGE,
                errors=(422,),
            ),
            "/api/tests/durations": _get(
                "Each test's median duration (seconds, by test_id) over its last runs on the "
                "project's default branch: what shard plans split by",
                DurationsOut,
                {**_query("project", minLength=1, **_TEXT), "required": True},
                _query("branch", description="(default: the project's default branch)", **_TEXT),
                errors=(403, 422),
            ),
            "/api/tests/shard-plans": {
                "post": {
                    "summary": "The CI build's shard plan for this collection: made by the "
                    "first job that asks, the same for every later one",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref(ShardPlanRequest)}},
                    },
                    "responses": {
                        "200": {
                            "description": "the plan an earlier job made",
                            "content": _json(ShardPlanOut),
                        },
                        "201": {"description": "made now", "content": _json(ShardPlanOut)},
                        **_errors(400, 401, 403, 413, 422, 503),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Ready when the database answers",
                    "responses": {"200": {"description": "ok", "content": _json(Health)}},
                }
            },
        },
        "components": {"schemas": _components()},
    }
