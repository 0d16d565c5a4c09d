"""The ``<report>.meta.json`` sidecar: what JUnit XML cannot say about a run.

A JUnit file has no place for the git commit, the branch, the environment or who owns a
test, so producers write those here, next to the report. The plugin writes it; ``testviz
meta`` writes one for any other producer; the server reads it. Version 1 of the schema is
:class:`Sidecar`; unknown fields are kept out (ignored), a wrong type is an error.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from .constants import (
    RUNNER_MARKERS,
    SCHEMA_VERSION,
    SIDECAR_SUFFIX,
    find_sidecar,
    sidecar_path,
)
from .errors import SidecarError

__all__ = [
    "RUNNER_MARKERS",
    "SCHEMA_VERSION",
    "SIDECAR_SUFFIX",
    "AttemptMeta",
    "BranchName",
    "BuildId",
    "ProjectName",
    "RunId",
    "ShortText",
    "Sidecar",
    "SidecarRun",
    "SourceHash",
    "TestMeta",
    "check_sidecar",
    "dump_sidecar",
    "find_sidecar",
    "load_sidecar",
    "nul_path",
    "parse_sidecar",
    "reject_nul",
    "sidecar_path",
]

_MAX_SIDECAR_BYTES = 64 * 1024 * 1024
_TOO_DEEP = "arrays or objects nested too deeply"

RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$"
GIT_SHA_PATTERN = r"^[0-9a-fA-F]{4,64}$"
#: Limits the server's columns have: a longer value is a clear error, not a database failure.
SHORT_MAX = 1024
PROJECT_MAX = 200
BRANCH_MAX = 255
SOURCE_HASH_MAX = 128
BUILD_ID_MAX = 200
#: Counts (subtests) must fit a 32-bit column.
MAX_COUNT = 2**31 - 1

RunId = Annotated[str, StringConstraints(pattern=RUN_ID_PATTERN)]
ShortText = Annotated[str, StringConstraints(max_length=SHORT_MAX)]
ProjectName = Annotated[str, StringConstraints(min_length=1, max_length=PROJECT_MAX)]
BranchName = Annotated[str, StringConstraints(max_length=BRANCH_MAX)]
SourceHash = Annotated[str, StringConstraints(max_length=SOURCE_HASH_MAX)]
#: Printable: a build id is shown in pages and URLs (see ``pytest_testviz.build``).
BuildId = Annotated[
    str, StringConstraints(min_length=1, max_length=BUILD_ID_MAX, pattern=r"^[^\x00-\x1f\x7f]+$")
]


def nul_path(value: Any, path: str = "") -> str | None:
    """Where a NUL character hides in decoded JSON (databases cannot store one), if anywhere."""
    if isinstance(value, str):
        return path or "(value)" if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return where
            found = nul_path(item, where)
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = nul_path(item, f"{path}.{index}" if path else str(index))
            if found:
                return found
    return None


def reject_nul(value: Any) -> Any:
    """A ``model_validator(mode="before")`` body: refuse NUL characters, naming the field."""
    where = nul_path(value)
    if where is not None:
        raise ValueError(f"field {where!r} contains a NUL character")
    return value


class AttemptMeta(BaseModel):
    """One failed try of a test that was then run again."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["failed", "error"] = "failed"
    error_type: ShortText | None = None
    message: str | None = None
    text: str | None = None


class TestMeta(BaseModel):
    """Per-test data: overrides of owner and tags, and the hash of the test's source."""

    __test__ = False
    model_config = ConfigDict(extra="ignore")

    tags: list[ShortText] = Field(default_factory=list)
    owner: ShortText | None = None
    markers: list[ShortText] = Field(default_factory=list)
    #: Hash of the test function's source, so history survives a rename.
    source_hash: SourceHash | None = None
    #: The pytest node id, where the producer is pytest.
    nodeid: str | None = None
    #: Earlier failed attempts of a test that was rerun (JUnit XML has no standard place).
    attempts: list[AttemptMeta] = Field(default_factory=list)
    #: pytest's category where JUnit XML has none: a non-strict xpass is a plain pass there.
    outcome: Literal["xfailed", "xpassed"] | None = None
    #: Subtests of this test by outcome (a JUnit file can only show the failed ones).
    subtests_failed: Annotated[int, Field(ge=0, le=MAX_COUNT)] = 0
    subtests_passed: Annotated[int, Field(ge=0, le=MAX_COUNT)] = 0


class SidecarRun(BaseModel):
    """The run's fields of a sidecar: all of :class:`Sidecar` but the per-test entries."""

    model_config = ConfigDict(extra="ignore")

    schema_version: Literal[1] = SCHEMA_VERSION
    run_id: RunId | None = None
    project: ProjectName | None = None
    session_id: ShortText | None = None
    #: The CI build (pipeline, workflow run) the run is one job of.
    build_id: BuildId | None = None
    git_sha: Annotated[str, StringConstraints(pattern=GIT_SHA_PATTERN)] | None = None
    branch: BranchName | None = None
    env_fingerprint: ShortText | None = None
    #: Allow-listed facts only (Python version, OS, CI provider, build URL): never secrets.
    env: dict[ShortText, ShortText] = Field(default_factory=dict)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    #: CODEOWNERS-style rules ("pattern owner..." lines) for the server's owner mapping.
    codeowners: str | None = None
    producer: ShortText | None = None

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, value: Any, info: ValidationInfo) -> Any:
        if info.context is _NUL_FREE:
            return value  # the JSON text was searched already (see _nul_free)
        return reject_nul(value)


class Sidecar(SidecarRun):
    """Run metadata and per-test overrides for one JUnit report (schema version 1)."""

    #: Keyed by ``test_id`` or by ``"classname::name"``.
    tests: dict[str, TestMeta] = Field(default_factory=dict)

    def dump(self) -> bytes:
        """Compact JSON without empty fields: a sidecar for 10,000 tests stays small."""
        fields = self.model_dump_json(exclude_none=True, exclude_defaults=True)
        # schema_version first, always (exclude_defaults would leave it out).
        rest = fields[1:] if fields == "{}" else "," + fields[1:]
        return f'{{"schema_version":{SCHEMA_VERSION}{rest}\n'.encode()


def dump_sidecar(values: dict[str, Any]) -> bytes:
    """The sidecar of ``values`` (the fields of :class:`Sidecar`), validated by the model.

    A value the schema refuses raises :class:`pydantic.ValidationError` naming the field. NUL
    characters are looked for in the written JSON (the only way it can spell one is
    ``\\u0000``), not by walking every value; if there is one, the model says where.
    """
    sidecar = Sidecar.model_validate(values, context=_NUL_FREE)
    data = sidecar.dump()
    if not _nul_free(data):
        Sidecar.model_validate(values)  # raises, naming the field (or was a false alarm)
    return data


#: Validation context: the JSON text holds no NUL, so the decoded values hold none either.
_NUL_FREE: dict[str, bool] = {"nul_free": True}


def _nul_free(data: bytes | str) -> bool:
    """True when decoded JSON certainly holds no NUL character, from a search of the text.

    JSON can only spell a NUL as the escape ``\\u0000`` (a raw one is invalid), and text
    without any zero byte is not UTF-16 or UTF-32, where the escape would look different.
    A backslash escaped before ``u0000`` is a false alarm, which costs only the slow walk.
    """
    if isinstance(data, bytes):
        return b"\x00" not in data and b"\\u0000" not in data
    return "\x00" not in data and "\\u0000" not in data


def _decode(data: bytes | str, source: str) -> dict[str, Any]:
    """The sidecar's JSON object, of the schema version this code reads."""
    if len(data) > _MAX_SIDECAR_BYTES:
        raise SidecarError(source, f"sidecar larger than {_MAX_SIDECAR_BYTES} bytes")
    try:
        raw: Any = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        column = getattr(exc, "colno", None)
        reason = getattr(exc, "msg", None) or str(exc)
        raise SidecarError(source, f"not valid JSON: {reason}", line, column) from None
    except RecursionError:
        raise SidecarError(source, f"not valid JSON: {_TOO_DEEP}") from None
    if not isinstance(raw, dict):
        raise SidecarError(source, "a sidecar must be a JSON object")
    version = raw.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise SidecarError(
            source, f"unsupported schema_version {version!r}: this version reads {SCHEMA_VERSION}"
        )
    return raw


def parse_sidecar(data: bytes | str, source: str = "<sidecar>") -> Sidecar:
    """Validate sidecar JSON; a :class:`SidecarError` names the file and the bad field."""
    raw = _decode(data, source)
    try:
        return Sidecar.model_validate(raw, context=_NUL_FREE if _nul_free(data) else None)
    except RecursionError:
        raise SidecarError(source, f"not valid JSON: {_TOO_DEEP}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "(root)"
        raise SidecarError(source, f"invalid field {field!r}: {first['msg']}") from None


def check_sidecar(data: bytes | str, source: str = "<sidecar>") -> SidecarRun:
    """Validate a sidecar before its upload is queued: :func:`parse_sidecar`'s verdict.

    For an upload answered before it is parsed, so that the same sidecars pass and fail,
    with the same errors, as when the queued upload is ingested.
    """
    return parse_sidecar(data, source)


def load_sidecar(path: str | os.PathLike[str]) -> tuple[Sidecar, bytes]:
    """Read and validate a sidecar file; returns the model and the raw bytes (for run ids)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise SidecarError(os.fspath(path), f"cannot read the file: {exc.strerror}") from None
    return parse_sidecar(data, os.fspath(path)), data
