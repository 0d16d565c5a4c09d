"""Request and response bodies of the API, as pydantic models (they also make the OpenAPI)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

# pytest's outcome categories, as the core defines them (re-exported for schemas_history).
from pytest_testviz.core.results import Status as Status
from pytest_testviz.core.sidecar import (
    BranchName,
    BuildId,
    ProjectName,
    RunId,
    SourceHash,
    reject_nul,
)

Count = Annotated[int, Field(ge=0, le=2**31 - 1)]
Name = Annotated[str, StringConstraints(max_length=65536)]
Short = Annotated[str, StringConstraints(max_length=1024)]


class IngestResult(BaseModel):
    """One test's outcome, for producers that send structured results instead of XML."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    classname: Name = ""
    status: Status
    duration: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    file: Short | None = None
    line: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None
    suite: list[Short] = Field(default_factory=list)
    flaky: bool = False
    error_type: Short | None = None
    message: str | None = None
    text: str | None = None
    tags: list[Short] = Field(default_factory=list)
    owner: Short | None = None
    markers: list[Short] = Field(default_factory=list)
    source_hash: SourceHash | None = None
    #: Subtests of this test by outcome; a test with a failed subtest is ``failed``.
    subtests_failed: Count = 0
    subtests_passed: Count = 0


class IngestRunRequest(BaseModel):
    """A run with its results, as JSON. Without ``run_id`` one is derived from the content."""

    model_config = ConfigDict(extra="forbid")

    run_id: RunId | None = None
    project: ProjectName = "default"
    session_id: Short | None = None
    #: The CI build (pipeline, workflow run) the run is one job of.
    build_id: BuildId | None = None
    git_sha: Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F]{4,64}$")] | None = None
    branch: BranchName | None = None
    env_fingerprint: Short | None = None
    env: dict[Short, Short] = Field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    codeowners: str | None = None
    results: list[IngestResult]

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return reject_nul(value)


class IngestCounts(BaseModel):
    # Always sent; the defaults read the answers of uploads stored before they were counted.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    tests: int
    passed: int
    failed: int
    errors: int
    skipped: int
    xfailed: int = 0
    xpassed: int = 0
    subtests_failed: int = 0
    subtests_passed: int = 0
    new_definitions: int
    failure_groups: int


class IngestRunResponse(BaseModel):
    run_id: str
    status: Literal["created", "skipped"]
    counts: IngestCounts
    url: str | None = None


class UploadError(BaseModel):
    """What a synchronous upload of the same files would have been answered."""

    status: int
    code: str
    message: str


class UploadStatus(BaseModel):
    """A JUnit upload accepted with ``Prefer: respond-async`` (202), and where it is now."""

    upload_id: int
    state: Literal["queued", "done", "failed"]
    received_at: datetime
    finished_at: datetime | None = None
    #: The sidecar's run_id if it named one; the stored run's once done.
    run_id: str | None = None
    attempts: int
    #: This document.
    url: str
    run_url: str | None = None
    #: The ingest's answer, once done.
    result: IngestRunResponse | None = None
    error: UploadError | None = None


class QueuedUploadResponse(UploadStatus):
    """The 202 answer: the upload is stored and will be ingested in the background."""

    status: Literal["queued"] = "queued"


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class Totals(BaseModel):
    """Tests by outcome, as pytest counts them (an xfail is not a skip, an xpass not a
    pass), and the subtests within them."""

    tests: int
    passed: int
    failed: int
    errors: int
    skipped: int
    xfailed: int
    xpassed: int
    subtests_failed: int
    subtests_passed: int


class DeclaredTotals(BaseModel):
    tests: int | None
    failures: int | None
    errors: int | None
    skipped: int | None


class RunSummary(BaseModel):
    run_id: str
    project: str
    branch: str | None
    git_sha: str | None
    session_id: str | None
    env_fingerprint: str | None
    hostname: str | None
    source: str | None
    started_at: datetime | None
    finished_at: datetime | None
    ingested_at: datetime
    duration: float
    totals: Totals
    flaky: int
    mapping_state: str
    integrity_state: str
    #: The CI build the run is one job of (its page: ``/builds/<build_id>?project=``).
    build_id: str | None = None


class ResultOut(BaseModel):
    test_id: str
    name: str
    base_name: str
    params: str | None
    classname: str
    file: str | None
    line: int | None
    suite: list[str]
    status: Status
    flaky: bool
    duration: float
    error_type: str | None
    message: str | None
    fingerprint: str | None
    tags: list[str]
    owner: str | None
    #: The test's subtests by outcome (0 and 0 for a test without subtests).
    subtests_failed: int
    subtests_passed: int


class RunGroup(BaseModel):
    """The run's failures that share one fingerprint."""

    fingerprint: str
    error_type: str | None
    message: str | None
    count: int


class RunDetail(RunSummary):
    env: dict[str, Any]
    declared_totals: DeclaredTotals
    testcases: int
    #: The results that match the status filter and name search, paginated.
    results: list[ResultOut]
    results_total: int = 0
    failure_groups: list[RunGroup] = Field(default_factory=list)
    slowest: list[ResultOut] = Field(default_factory=list)
    previous_run_id: str | None = None


class Page(BaseModel):
    page: int
    per_page: int
    total: int


class RunList(BaseModel):
    runs: list[RunSummary]
    pagination: Page


class SignalTest(BaseModel):
    test_id: str
    name: str
    classname: str


class SignalOut(BaseModel):
    kind: str
    severity: str
    message: str
    session_id: str | None
    previous_run_id: str | None
    test_count: int
    tests: list[SignalTest]
    created_at: datetime


class IntegrityOut(BaseModel):
    run_id: str
    integrity_state: str
    mapping_state: str
    signals: list[SignalOut]


class Health(BaseModel):
    status: Literal["ok"]
    database: str
    enabled: bool
    version: str
