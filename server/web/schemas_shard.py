"""Bodies of the shard endpoints: recent durations, and a CI build's shard plan."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from pytest_testviz.core.sharding import MAX_TOTAL
from pytest_testviz.core.sidecar import BranchName, BuildId, ProjectName, reject_nul

#: A ``test_id``: the SHA-256 hex digest of the test's identity (docs/identity.md).
TestId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
#: Units one plan may split (the body's size bounds the tests: 16 MB, some 240,000 ids).
MAX_UNITS = 100_000
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class DurationsOut(BaseModel):
    """Each test's recent duration in seconds, keyed by ``test_id``."""

    project: str
    #: The project's default branch (or the one asked for); ``None`` without runs.
    branch: str | None
    #: The branch's latest runs the figures come from.
    runs: int
    #: Results per test the median is taken over, at most.
    per_test: int
    durations: dict[str, float]


class ShardPlanRequest(BaseModel):
    """The collection one job of a CI build is about to split, as units placed whole."""

    model_config = ConfigDict(extra="forbid")

    project: ProjectName
    build_id: BuildId
    total: Annotated[int, Field(ge=1, le=MAX_TOTAL)]
    group: Literal["module", "class"] | None = None
    #: Each entry is a unit: one test id, or a group's (a module's, a class's) placed whole.
    #: A test id repeated is kept in its first unit only.
    tests: Annotated[
        list[Annotated[list[TestId], Field(min_length=1)]],
        Field(min_length=1, max_length=MAX_UNITS),
    ]

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return reject_nul(value)


class ShardPlanOut(BaseModel):
    """The build's plan: ``parts[k - 1]`` holds the test ids of part ``k``."""

    plan_id: str
    project: str
    build_id: str
    total: int
    group: Literal["module", "class"] | None
    collection_hash: str
    parts: list[list[str]]
    #: Each part's expected seconds (its number of tests when ``source`` is ``count``).
    loads: list[float]
    #: ``durations``, or ``count`` when none of the tests had a duration.
    source: Literal["durations", "count"]
    #: Tests with a duration; the others counted as the median of those.
    known: int
    #: The branch the durations came from.
    branch: BranchName | None
    #: Whether this request made the plan (else an earlier job of the build did).
    created: bool
    created_at: datetime
