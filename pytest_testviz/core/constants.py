"""The sidecar's file names, its schema version and the markers that are not tags.

Kept apart from :mod:`.sidecar` (the schema, as pydantic models) so that finding or naming a
sidecar does not import pydantic.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

SIDECAR_SUFFIX = ".meta.json"
SCHEMA_VERSION: Literal[1] = 1

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


def sidecar_path(report: str | os.PathLike[str]) -> Path:
    """``report.xml`` -> ``report.meta.json``, beside it."""
    path = Path(report)
    stem = path.name[: -len(".xml")] if path.name.lower().endswith(".xml") else path.name
    return path.with_name(stem + SIDECAR_SUFFIX)


def find_sidecar(report: str | os.PathLike[str]) -> Path | None:
    """The sidecar beside a report file, if there is one."""
    candidate = sidecar_path(report)
    return candidate if candidate.is_file() else None
