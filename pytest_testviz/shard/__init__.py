"""``--testviz-shard=K/N``: run the K-th of N parts of the selected tests, split by duration.

The settings are read here (cheaply, at configure time, so a bad value is a usage error
before anything runs); :mod:`.plugin` selects the part, :mod:`.sources` fetches what the plan
needs, :mod:`pytest_testviz.core.sharding` makes it. Sharding works without a server or a
report directory: it then splits from the cache, or by count, and says so.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from .. import options
from ..core.sharding import MAX_TOTAL

GROUPS = ("module", "class")
#: Seconds to wait for the server's durations and plan, unless ``testviz_timeout`` says.
DEFAULT_TIMEOUT = 5.0
_SHARD = re.compile(r"(\d+)\s*/\s*(\d+)")


@dataclass(frozen=True)
class ShardSettings:
    index: int  # 1-based
    total: int
    group: str | None
    url: str | None
    project: str
    token: str | None
    timeout: float
    #: Where the durations cache is kept: the report directory (default ``.testviz/``).
    directory: Path
    build: str | None


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` as ``(K, N)``, with ``1 <= K <= N <= MAX_TOTAL``; else :class:`ValueError`."""
    match = _SHARD.fullmatch(text.strip())
    if match is None:
        raise ValueError
    index, total = int(match[1]), int(match[2])
    if not 1 <= index <= total <= MAX_TOTAL:
        raise ValueError
    return index, total


def parse_group(text: str) -> str:
    value = text.strip().lower()
    if value not in GROUPS:
        raise ValueError
    return value


def resolve(config: pytest.Config, env: Mapping[str, str] | None = None) -> ShardSettings | None:
    """The shard settings, or ``None`` without ``--testviz-shard``; bad values are usage
    errors that name where they came from, as for the plugin's other options."""
    env = os.environ if env is None else env
    shard = options._get(
        config,
        env,
        options.SHARD,
        parse_shard,
        f"K/N with 1 <= K <= N <= {MAX_TOTAL}, such as 2/4",
    )
    group = options._get(config, env, options.SHARD_GROUP, parse_group, " or ".join(GROUPS))
    if shard is None:  # a group set in the ini file for the CI's runs is no error locally
        return None
    root = Path(config.rootpath)
    timeout = options._get(
        config, env, options.TIMEOUT, options._number(float, 0, True), "a number of seconds > 0"
    )
    directory = options._get(config, env, options.DIR) or options.DEFAULT_DIR
    return ShardSettings(
        index=shard[0],
        total=shard[1],
        group=group,
        url=options._get(config, env, options.URL, options.server_url, options.SERVER_URL),
        project=options._get(config, env, options.PROJECT) or root.name or "default",
        token=options._get(config, env, options.TOKEN),
        timeout=timeout or DEFAULT_TIMEOUT,
        directory=(root / directory).resolve(),
        build=options.build(config, env),
    )
