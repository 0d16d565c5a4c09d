"""The sidecar's file names and the limits of its schema, without pydantic.

:mod:`.sidecar` states the schema as pydantic models built from these limits. The plugin
writes a sidecar on every run, and its values nearly always fit: :func:`run_fits` and
:func:`entry_fits` recognise values that certainly do, so a test run does not pay for
importing pydantic (about 0.15 s) just to learn that. They are conservative: whatever they
do not recognise goes through the models, which accept it or say which field is wrong. A
test checks that nothing they accept is refused by the models.
"""

from __future__ import annotations

import os
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

SIDECAR_SUFFIX = ".meta.json"
SCHEMA_VERSION: Literal[1] = 1

RUN_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@+-]{0,127}$"
GIT_SHA_PATTERN = r"^[0-9a-fA-F]{4,64}$"
#: Limits the server's columns have: a longer value is a clear error, not a database failure.
SHORT_MAX = 1024
PROJECT_MAX = 200
BRANCH_MAX = 255
SOURCE_HASH_MAX = 128
#: Counts (subtests) must fit a 32-bit column.
MAX_COUNT = 2**31 - 1

#: pytest markers that say how a test runs, not what it is about: not feature tags.
RUNNER_MARKERS = frozenset(
    {
        "parametrize",
        "skip",
        "skipif",
        "xfail",
        "usefixtures",
        "filterwarnings",
        "testviz",
        "flaky",
        "timeout",
        "asyncio",
        "anyio",
        "django_db",
        "order",
        "dependency",
        "tryfirst",
        "trylast",
        "no_cover",
    }
)

_RUN_ID = re.compile(RUN_ID_PATTERN)
_GIT_SHA = re.compile(GIT_SHA_PATTERN)
#: Lone surrogates cannot be written as UTF-8; the models refuse them, naming the field.
_SURROGATE = re.compile("[\ud800-\udfff]")
_MINUTE = timedelta(minutes=1)
#: The run's fields the writer passes; anything else is left to the model.
_RUN_FIELDS = frozenset(
    {
        "run_id",
        "project",
        "session_id",
        "git_sha",
        "branch",
        "env_fingerprint",
        "env",
        "started_at",
        "finished_at",
        "producer",
    }
)


def sidecar_path(report: str | os.PathLike[str]) -> Path:
    """``report.xml`` -> ``report.meta.json``, beside it."""
    path = Path(report)
    stem = path.name[: -len(".xml")] if path.name.lower().endswith(".xml") else path.name
    return path.with_name(stem + SIDECAR_SUFFIX)


def find_sidecar(report: str | os.PathLike[str]) -> Path | None:
    """The sidecar beside a report file, if there is one."""
    candidate = sidecar_path(report)
    return candidate if candidate.is_file() else None


def _text(value: object, longest: int = SHORT_MAX) -> bool:
    return (
        type(value) is str
        and len(value) <= longest
        and (value.isascii() or _SURROGATE.search(value) is None)
    )


def _matches(pattern: re.Pattern[str], value: object) -> bool:
    # fullmatch: "$" in a pattern also matches before a final newline, the models' does not
    return type(value) is str and pattern.fullmatch(value) is not None


def _time(value: object) -> bool:
    """Aware, with an offset of whole minutes (pydantic writes no seconds of an offset)."""
    if type(value) is not datetime:
        return False
    offset = value.utcoffset()
    return offset is not None and offset % _MINUTE == timedelta(0)


def _texts(value: object) -> bool:
    return type(value) is list and all(_text(item) for item in value)


def run_fits(fields: dict[str, Any]) -> bool:
    """True when the run's fields (as the plugin passes them) certainly fit the schema.

    NUL characters are not looked for here: the writer finds them in the JSON text.
    """
    if not _RUN_FIELDS.issuperset(fields):
        return False
    run_id, git_sha, env = fields.get("run_id"), fields.get("git_sha"), fields.get("env", {})
    return (
        (run_id is None or _matches(_RUN_ID, run_id))
        and (git_sha is None or _matches(_GIT_SHA, git_sha))
        and (fields.get("project") is None or _text(fields["project"], PROJECT_MAX))
        and fields.get("project") != ""
        and all(
            fields.get(name) is None or _text(fields[name])
            for name in ("session_id", "env_fingerprint", "producer")
        )
        and (fields.get("branch") is None or _text(fields["branch"], BRANCH_MAX))
        and type(env) is dict
        and all(_text(key) and _text(value) for key, value in env.items())
        and all(
            fields.get(name) is None or _time(fields[name])
            for name in ("started_at", "finished_at")
        )
    )


def entry_fits(entry: dict[str, Any]) -> bool:
    """True when a per-test entry (tags, owner, markers, source_hash, nodeid, outcome,
    subtest counts) certainly fits.

    Failed attempts are left to the model.
    """
    for key, value in entry.items():
        if key in ("tags", "markers"):
            if not _texts(value):
                return False
        elif key == "owner":
            if not _text(value):
                return False
        elif key == "source_hash":
            if not _text(value, SOURCE_HASH_MAX):
                return False
        elif key == "nodeid":
            if not _text(value, sys.maxsize):
                return False
        elif key == "outcome":
            if value not in ("xfailed", "xpassed"):
                return False
        elif key in ("subtests_failed", "subtests_passed"):
            if type(value) is not int or not 0 <= value <= MAX_COUNT:
                return False
        else:
            return False
    return True
