"""Server settings, read once from the environment; a bad value names its variable."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """A setting with a value the server cannot use."""


@dataclass(frozen=True)
class Settings:
    """Everything the server can be told; see the README's configuration table."""

    database_url: str = field(repr=False)  # may hold a password
    enabled: bool = True
    mapping_enabled: bool = True
    integrity_enabled: bool = True
    results_dir: str = ""
    #: ``TOKEN`` or ``PROJECT:TOKEN`` entries (see :mod:`server.web.auth`); never in a repr.
    ingest_tokens: tuple[str, ...] = field(default=(), repr=False)
    read_tokens: tuple[str, ...] = field(default=(), repr=False)
    max_upload_mb: int = 256
    codeowners_file: str = ""
    count_drop_threshold: float = 0.10
    analysis_in_background: bool = True
    #: Honour ``Prefer: respond-async`` on JUnit uploads (202, ingested in the background).
    async_ingest: bool = True
    watch: bool = True
    auto_migrate: bool = True
    #: How many of a project's latest runs the flaky ranking looks at.
    flaky_window: int = 50
    #: Run a job worker in a thread of each serving process (``make serve``; tests). Off in
    #: production, where ``flask worker`` processes run the jobs.
    embedded_worker: bool = False
    #: Seconds a worker's claim on a job holds without a heartbeat.
    job_lease: int = 60
    #: Runs older than this (``90d``, ``12w``, ``48h``) are pruned hourly by a worker; empty: never.
    retention: str = ""
    #: Each project's default branch (``TESTVIZ_DEFAULT_BRANCHES=PROJECT:BRANCH,...``): the one
    #: shard plans take durations from. A project not named: ``main``, ``master``, or its
    #: branch with the most runs (server.history.durations).
    default_branches: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ConfigError(f"invalid {name}={raw!r} in the environment: use true or false")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(
            f"invalid {name}={raw!r} in the environment: not a whole number"
        ) from None
    if value < minimum:
        raise ConfigError(f"invalid {name}={raw!r} in the environment: at least {minimum}")
    return value


def _fraction(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"invalid {name}={raw!r} in the environment: not a number") from None
    if not 0 < value < 1:
        raise ConfigError(f"invalid {name}={raw!r} in the environment: between 0 and 1")
    return value


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


_UNITS = {"d": 86400, "h": 3600, "w": 7 * 86400}


def parse_age(text: str) -> timedelta:
    """``90d``, ``12h`` or ``2w``; anything else is a ValueError."""
    match = re.fullmatch(r"\s*(\d{1,6})\s*([dhw])\s*", text)
    if match is None:
        raise ValueError(
            f"{text!r}: a number and a unit, d (days), h (hours) or w (weeks), e.g. 90d"
        )
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def _age(env: Mapping[str, str], name: str) -> str:
    raw = env.get(name, "").strip()
    if raw:
        try:
            parse_age(raw)
        except ValueError as exc:
            raise ConfigError(f"invalid {name}={raw!r} in the environment: {exc}") from None
    return raw


def _branches(env: Mapping[str, str], name: str) -> dict[str, str]:
    """``PROJECT:BRANCH`` entries, split at the last colon (git refuses colons in branch
    names; a project name may hold them)."""
    branches = {}
    for position, entry in enumerate(_list(env, name), start=1):
        project, colon, branch = entry.rpartition(":")
        if not colon or not project.strip() or not branch.strip():
            raise ConfigError(
                f"invalid {name} entry #{position} {entry!r} in the environment: "
                "use PROJECT:BRANCH, with neither part empty"
            )
        branches[project.strip()] = branch.strip()
    return branches


def default_database_url(instance_path: str) -> str:
    return f"sqlite:///{Path(instance_path) / 'testviz.sqlite3'}"


def settings_from_env(env: Mapping[str, str], instance_path: str) -> Settings:
    """Build :class:`Settings` from environment variables."""
    database_url = env.get("TESTVIZ_DATABASE_URL") or default_database_url(instance_path)
    if database_url.startswith("postgres://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgres://")
    elif database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    tokens = _list(env, "TESTVIZ_INGEST_TOKENS")
    return Settings(
        database_url=database_url,
        enabled=_bool(env, "CCDASH_TEST_VISUALIZER_ENABLED", True),
        mapping_enabled=_bool(env, "TESTVIZ_MAPPING_ENABLED", True),
        integrity_enabled=_bool(env, "TESTVIZ_INTEGRITY_ENABLED", True),
        results_dir=env.get("TEST_RESULTS_DIR", "").strip(),
        ingest_tokens=tokens,
        read_tokens=_list(env, "TESTVIZ_READ_TOKENS"),
        max_upload_mb=_int(env, "TESTVIZ_MAX_UPLOAD_MB", 256),
        codeowners_file=env.get("TESTVIZ_CODEOWNERS_FILE", "").strip(),
        count_drop_threshold=_fraction(env, "TESTVIZ_COUNT_DROP_THRESHOLD", 0.10),
        watch=_bool(env, "TESTVIZ_WATCH", True),
        async_ingest=_bool(env, "TESTVIZ_ASYNC_INGEST", True),
        auto_migrate=_bool(env, "TESTVIZ_AUTO_MIGRATE", True),
        flaky_window=_int(env, "TESTVIZ_FLAKY_WINDOW", 50),
        embedded_worker=_bool(env, "TESTVIZ_EMBEDDED_WORKER", False),
        job_lease=_int(env, "TESTVIZ_JOB_LEASE", 60, minimum=3),
        retention=_age(env, "TESTVIZ_RETENTION"),
        default_branches=_branches(env, "TESTVIZ_DEFAULT_BRANCHES"),
    )


def load_settings(test_config: Mapping[str, Any] | None, instance_path: str) -> Settings:
    """Settings from the environment, overridden field by field by ``test_config``."""
    settings = settings_from_env(os.environ, instance_path)
    if not test_config:
        return settings
    known = {
        name: test_config[name] for name in Settings.__dataclass_fields__ if name in test_config
    }
    values = {**settings.__dict__, **known}
    for name in ("ingest_tokens", "read_tokens"):
        if name in known:
            values[name] = tuple(known[name])
    return Settings(**values)
