"""What the server stores: runs, test definitions, results, failure groups, integrity signals.

Indexes follow the visualizer's questions: the history of one test (results by definition),
the latest runs of a branch (runs by project, branch, time), failures by fingerprint.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql import text
from sqlalchemy.types import TypeDecorator

from .db import db


class UTCDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that reads back timezone-aware on every database.

    Every stored time is UTC, but SQLite keeps no offset and hands back naive datetimes,
    which the API then wrote without one (not an RFC 3339 date-time; found by schemathesis).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Run(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(128), unique=True)
    project: Mapped[str] = mapped_column(String(200))
    branch: Mapped[str | None] = mapped_column(String(255))
    git_sha: Mapped[str | None] = mapped_column(String(64))
    session_id: Mapped[str | None] = mapped_column(String(1024))
    #: The CI build the run is one job of (see migration 0009).
    build_id: Mapped[str | None] = mapped_column(String(200))
    env_fingerprint: Mapped[str | None] = mapped_column(String(1024))
    env: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    hostname: Mapped[str | None] = mapped_column(String(255))
    source: Mapped[str | None] = mapped_column(String(1024))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration: Mapped[float] = mapped_column(Float, default=0.0)
    tests: Mapped[int] = mapped_column(Integer, default=0)
    passed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    #: pytest's expected failures and (non-strict) unexpected passes; see migration 0006.
    xfailed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    xpassed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: Subtests of the run's tests by outcome (pytest's ``subtests``, unittest's ``subTest``).
    subtests_failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    subtests_passed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    flaky: Mapped[int] = mapped_column(Integer, default=0)
    #: Testcase elements in the report before retries were folded.
    testcases: Mapped[int] = mapped_column(Integer, default=0)
    declared_tests: Mapped[int | None] = mapped_column(Integer)
    declared_failures: Mapped[int | None] = mapped_column(Integer)
    declared_errors: Mapped[int | None] = mapped_column(Integer)
    declared_skipped: Mapped[int | None] = mapped_column(Integer)
    #: What ingest noticed for the integrity check: duplicate ids, nameless testcases.
    notes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    codeowners: Mapped[str | None] = mapped_column(Text)
    #: Post-ingest analysis: pending -> running -> done | failed | off.
    mapping_state: Mapped[str] = mapped_column(String(16), default="pending")
    integrity_state: Mapped[str] = mapped_column(String(16), default="pending")
    #: No longer used since migration 0008: an ``analysis`` job claims the run (server.jobs).
    analysis_claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_runs_project_branch_id", "project", "branch", "id"),
        Index("ix_runs_project_id", "project", "id"),
        Index("ix_runs_analysis", "mapping_state", "integrity_state"),
        Index("ix_runs_project_git_sha", "project", "git_sha"),
        Index("ix_runs_project_build_id", "project", "build_id"),
    )


RUN_ID_LENGTH: int = Run.__table__.c.run_id.type.length


def run_id_can_exist(run_id: str) -> bool:
    """False for an id no run has: longer than the column, or with a NUL (which PostgreSQL
    refuses in a query)."""
    return "\x00" not in run_id and len(run_id) <= RUN_ID_LENGTH


class TestDefinition(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "test_definitions"
    __test__ = False

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project: Mapped[str] = mapped_column(String(200))
    test_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(Text)
    base_name: Mapped[str] = mapped_column(Text)
    params: Mapped[str | None] = mapped_column(Text)
    classname: Mapped[str] = mapped_column(Text)
    suite: Mapped[str | None] = mapped_column(Text)
    file: Mapped[str | None] = mapped_column(Text)
    line: Mapped[int | None] = mapped_column(Integer)
    source_hash: Mapped[str | None] = mapped_column(String(128))
    #: What the producer said (sidecar overrides, markers), as of the last run seen.
    declared_owner: Mapped[str | None] = mapped_column(String(1024))
    declared_tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    markers: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: A digest of the declared fields above: ingest compares it instead of every field.
    declared_hash: Mapped[str | None] = mapped_column(String(32))
    #: What mapping resolution decided, and from which source.
    owner: Mapped[str | None] = mapped_column(String(1024))
    owner_source: Mapped[str | None] = mapped_column(String(32))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    mapped_run_pk: Mapped[int | None] = mapped_column(BigId)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    first_run_pk: Mapped[int] = mapped_column(BigId)
    last_run_pk: Mapped[int] = mapped_column(BigId)

    __table_args__ = (
        UniqueConstraint("project", "test_id"),
        Index("ix_test_definitions_project_source_hash", "project", "source_hash"),
        # Room for each run's last-seen update beside the old row (see migration 0004).
        {"postgresql_with": {"fillfactor": 60}},
    )


class TestResultRow(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "test_results"
    __test__ = False

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_pk: Mapped[int] = mapped_column(BigId, ForeignKey("runs.id", ondelete="CASCADE"))
    definition_pk: Mapped[int] = mapped_column(
        BigId, ForeignKey("test_definitions.id", ondelete="CASCADE")
    )
    #: passed, failed, error, skipped, xfailed or xpassed (a strict xpass is failed).
    status: Mapped[str] = mapped_column(String(8))
    flaky: Mapped[bool] = mapped_column(Boolean, default=False)
    duration: Mapped[float] = mapped_column(Float, default=0.0)
    error_type: Mapped[str | None] = mapped_column(String(512))
    message: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    fingerprint: Mapped[str | None] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: The test's subtests by outcome; NULL for none (a test without subtests costs nothing).
    subtests_failed: Mapped[int | None] = mapped_column(Integer)
    subtests_passed: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("run_pk", "definition_pk"),
        Index("ix_test_results_definition_run", "definition_pk", "run_pk"),
        Index("ix_test_results_fingerprint_run", "fingerprint", "run_pk"),
    )


class FailureGroup(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "failure_groups"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(16))
    error_type: Mapped[str | None] = mapped_column(String(512))
    example_message: Mapped[str | None] = mapped_column(Text)
    example_text: Mapped[str | None] = mapped_column(Text)
    occurrences: Mapped[int] = mapped_column(Integer, default=0)
    #: Runs with at least one result in the group.
    runs_affected: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    first_run_pk: Mapped[int] = mapped_column(BigId)
    last_run_pk: Mapped[int] = mapped_column(BigId)

    __table_args__ = (
        UniqueConstraint("project", "fingerprint"),
        Index("ix_failure_groups_project_last_seen", "project", "last_seen_at"),
    )


class FailureGroupTest(db.Model):  # type: ignore[name-defined,misc]
    """Which tests a failure group has hit: one row per group and test, kept at ingest."""

    __tablename__ = "failure_group_tests"
    __test__ = False

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(16))
    definition_pk: Mapped[int] = mapped_column(
        BigId, ForeignKey("test_definitions.id", ondelete="CASCADE")
    )
    occurrences: Mapped[int] = mapped_column(Integer, default=0)
    first_run_pk: Mapped[int] = mapped_column(BigId)
    last_run_pk: Mapped[int] = mapped_column(BigId)

    __table_args__ = (
        UniqueConstraint("project", "fingerprint", "definition_pk"),
        Index("ix_failure_group_tests_definition", "definition_pk"),
    )


class TestEnvStatus(db.Model):  # type: ignore[name-defined,misc]
    """The latest pass/fail outcome of each test in each environment, kept at ingest.

    A change of outcome within one environment and branch is a flip (flakiness evidence); different
    outcomes in different environments make a test environment-specific, not flaky.
    Skipped, xfailed and xpassed results leave it alone.
    """

    __tablename__ = "test_env_status"
    __test__ = False

    definition_pk: Mapped[int] = mapped_column(
        BigId, ForeignKey("test_definitions.id", ondelete="CASCADE"), primary_key=True
    )
    #: The run's ``env_fingerprint``, or "" when the producer sent none.
    env_key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    project: Mapped[str] = mapped_column(String(200))
    outcome: Mapped[str] = mapped_column(String(8))  # "pass" or "fail"
    #: The branch of the run that set the outcome: a change seen on another branch is not a
    #: flip (a branch that breaks a test, interleaved with main, would look flaky otherwise).
    branch: Mapped[str | None] = mapped_column(String(255))
    since_run_pk: Mapped[int] = mapped_column(BigId)
    last_run_pk: Mapped[int] = mapped_column(BigId)

    __table_args__ = (Index("ix_test_env_status_project_outcome", "project", "outcome"),)


class FlakyEvidence(db.Model):  # type: ignore[name-defined,misc]
    """One piece of evidence that a test is flaky, found when a run was ingested.

    ``kind``: ``rerun`` (passed only after reruns), ``same_sha`` (passed and failed on the same
    git sha in the same environment), ``flip`` (its outcome changed within one environment).
    """

    __tablename__ = "flaky_evidence"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project: Mapped[str] = mapped_column(String(200))
    definition_pk: Mapped[int] = mapped_column(
        BigId, ForeignKey("test_definitions.id", ondelete="CASCADE")
    )
    run_pk: Mapped[int] = mapped_column(BigId, ForeignKey("runs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (
        UniqueConstraint("definition_pk", "run_pk", "kind"),
        Index("ix_flaky_evidence_project_run", "project", "run_pk"),
        Index("ix_flaky_evidence_run", "run_pk"),  # deleting a run cascades here
    )


class IntegritySignal(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "integrity_signals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_pk: Mapped[int] = mapped_column(BigId, ForeignKey("runs.id", ondelete="CASCADE"))
    project: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    session_id: Mapped[str | None] = mapped_column(String(1024))
    previous_run_pk: Mapped[int | None] = mapped_column(BigId)
    #: The tests involved: [{"test_id", "name", "classname"}], capped.
    tests: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    test_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_integrity_signals_run_pk", "run_pk"),
        Index("ix_integrity_signals_project_id", "project", "id"),
    )


class SyncedFile(db.Model):  # type: ignore[name-defined,misc]
    """A report file the directory sync has ingested (or set aside), by path and stat."""

    __tablename__ = "synced_files"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    path: Mapped[str] = mapped_column(String(4096), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mtime_ns: Mapped[int] = mapped_column(BigInteger)
    run_id: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(16))
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime())


class QueuedUpload(db.Model):  # type: ignore[name-defined,misc]
    """A JUnit upload accepted with ``Prefer: respond-async``, until it is ingested.

    The report and sidecar are dropped once the run is stored; a failed upload keeps them,
    with the error.
    """

    __tablename__ = "queued_uploads"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default="queued")  # queued, done, failed
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Named by the request (form field or query), else the sidecar's, else "default".
    project: Mapped[str | None] = mapped_column(String(200))
    #: The sidecar's run_id if it names one; the stored run's once done.
    run_id: Mapped[str | None] = mapped_column(String(128))
    #: Named by the request (form field or query), overriding the sidecar's; see 0009.
    build_id: Mapped[str | None] = mapped_column(String(200))
    #: Both parts gzip'd; loaded only when asked for (a status poll does not need them).
    report: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    meta: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    #: The attempts its ``ingest`` job has made (the job's, copied when it ends or retries).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: No longer used since migration 0008 (left NULL): the ``ingest`` job holds the claim.
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The ingest's answer (``IngestRunResponse``) once done.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: ``{"status", "code", "message"}``: what a synchronous upload would have been told.
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (
        Index("ix_queued_uploads_state_id", "state", "id"),
        # An id is never reused after a prune, so an old Location never shows another upload.
        {"sqlite_autoincrement": True},
    )


#: Job states that hold a (kind, key): at most one such job per kind and key.
ACTIVE_JOB = "state IN ('queued', 'running')"


class Job(db.Model):  # type: ignore[name-defined,misc]
    """One piece of background work, claimed by one worker at a time (see server.jobs).

    ``kind`` names the handler (``ingest``, ``analysis``, ``sync``, ``retention``, ...),
    ``key`` what it works on (an upload id, a run id, a directory). ``state``: queued ->
    running -> done | failed; a failed attempt goes back to queued with a later
    ``run_after`` until ``max_attempts``. A running job whose ``lease_until`` has passed
    belonged to a worker that died: any worker may claim it again.
    """

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(1024), default="")
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        # The same run is never analysed (an upload never ingested) by two jobs at once.
        Index(
            "ix_jobs_active_kind_key",
            "kind",
            "key",
            unique=True,
            postgresql_where=text(ACTIVE_JOB),
            sqlite_where=text(ACTIVE_JOB),
        ),
        Index("ix_jobs_state_run_after", "state", "run_after"),
    )


class ShardPlan(db.Model):  # type: ignore[name-defined,misc]
    """The test split of one CI build (see server.history.shard_plans): made by the first job
    that asks, read by the others. ``parts`` lists each part's test ids."""

    __tablename__ = "shard_plans"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project: Mapped[str] = mapped_column(String(200))
    build_id: Mapped[str] = mapped_column(String(200))
    total: Mapped[int] = mapped_column(Integer)
    #: "module", "class", or "" for none (a NULL would never conflict in the unique key).
    grouping: Mapped[str] = mapped_column(String(16))
    collection_hash: Mapped[str] = mapped_column(String(64))
    tests: Mapped[int] = mapped_column(Integer)
    parts: Mapped[list[list[str]]] = mapped_column(JSON)
    loads: Mapped[list[float]] = mapped_column(JSON)
    #: "durations", or "count" when none of the tests had one.
    source: Mapped[str] = mapped_column(String(16))
    known: Mapped[int] = mapped_column(Integer)
    #: The branch the durations came from.
    branch: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("project", "build_id", "total", "grouping", "collection_hash"),
        Index("ix_shard_plans_created_at", "created_at"),
    )
