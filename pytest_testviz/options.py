"""The plugin's options: each a command-line flag, an environment variable and an ini key.

Precedence, everywhere: the command line, then the environment, then the ini file, then the
default. A bad value is a usage error that names where it came from.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

DEFAULT_DIR = ".testviz"
DEFAULT_TIMEOUT = 10.0
DEFAULT_KEEP = 20
DEFAULT_MAX_OUTPUT = 64 * 1024
DEFAULT_BACKLOG_SECONDS = 15.0
#: How long a run that wants a summary but did not ask to wait waits for the stored run.
SUMMARY_WAIT_SECONDS = 10.0
DEFAULT_WAIT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Option:
    name: str  # the ini key; the flag is --testviz-<rest>, the variable TESTVIZ_<REST>
    help: str
    metavar: str

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def dest(self) -> str:
        return self.name

    @property
    def env(self) -> str:
        return self.name.upper()


URL = Option("testviz_url", "send each run to the pytest-testviz server at URL", "URL")
DIR = Option(
    "testviz_dir",
    f"write the JUnit XML and sidecar of each run here (default: {DEFAULT_DIR}/)",
    "DIR",
)
PROJECT = Option("testviz_project", "project name (default: the rootdir's name)", "NAME")
TOKEN = Option(
    "testviz_token", "ingest token for the server (prefer the TESTVIZ_TOKEN variable)", "TOKEN"
)
TIMEOUT = Option(
    "testviz_timeout",
    f"seconds to wait for the server per request (default: {DEFAULT_TIMEOUT:g})",
    "SECONDS",
)
KEEP = Option(
    "testviz_keep", f"sent reports to keep in the directory (default: {DEFAULT_KEEP})", "N"
)
MAX_OUTPUT = Option(
    "testviz_max_output",
    f"characters of captured output kept per test (default: {DEFAULT_MAX_OUTPUT})",
    "N",
)
WAIT = Option(
    "testviz_wait",
    "wait until the server has stored the run (default: no; the server answers once the "
    "upload is safe and stores it in the background)",
    "yes|no",
)
WAIT_TIMEOUT = Option(
    "testviz_wait_timeout",
    "with --testviz-wait=yes, seconds to wait for the server to store the run "
    f"(default: {DEFAULT_WAIT_TIMEOUT:g})",
    "SECONDS",
)
BUILD = Option(
    "testviz_build",
    "the CI build this run belongs to (default: detected from the CI's variables)",
    "ID",
)
SUMMARY = Option(
    "testviz_summary",
    "write a Markdown summary of the run to PATH (under GitHub Actions it also goes to "
    "$GITHUB_STEP_SUMMARY)",
    "PATH",
)
SHARD = Option(
    "testviz_shard", "run only part K of N of the selected tests, split by duration", "K/N"
)
SHARD_GROUP = Option(
    "testviz_shard_group", "keep each module or class in one part when sharding", "module|class"
)
OPTIONS = (
    URL,
    DIR,
    PROJECT,
    TOKEN,
    TIMEOUT,
    KEEP,
    MAX_OUTPUT,
    WAIT,
    WAIT_TIMEOUT,
    BUILD,
    SUMMARY,
    SHARD,
    SHARD_GROUP,
)
_YES = {"1", "true", "yes", "on"}
_NO = {"0", "false", "no", "off"}


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("testviz", "pytest-testviz: send results to a test-results server")
    for option in OPTIONS:
        group.addoption(
            option.flag,
            dest=option.dest,
            default=None,
            metavar=option.metavar,
            help=f"{option.help} [env {option.env}, ini {option.name}]",
        )
        parser.addini(option.name, option.help, default=None)


@dataclass(frozen=True)
class Settings:
    url: str | None
    directory: Path
    project: str
    token: str | None
    timeout: float
    keep: int
    max_output: int
    wait: bool = False
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT
    #: Where to write the Markdown summary (besides GitHub's step summary), if anywhere.
    summary: Path | None = None


def _raw(config: pytest.Config, env: Mapping[str, str], option: Option) -> tuple[str | None, str]:
    """The value and a description of where it came from."""
    value = config.getoption(option.dest, None)
    if value is not None:
        return str(value), f"the command line ({option.flag})"
    if env.get(option.env):
        return env[option.env], f"the {option.env} environment variable"
    ini = config.getini(option.name)
    if ini:
        return str(ini), f"the {option.name} ini option"
    return None, "the default"


def _number(kind: Callable[[str], Any], minimum: float, exclusive: bool) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        value = kind(text)
        # "nan" and "inf" parse as floats, but no socket takes them as a timeout.
        if not math.isfinite(value) or value < minimum or (exclusive and value == minimum):
            raise ValueError
        return value

    return convert


def _get(
    config: pytest.Config,
    env: Mapping[str, str],
    option: Option,
    convert: Callable[[str], Any] | None = None,
    expected: str = "",
) -> Any:
    raw, source = _raw(config, env, option)
    if raw is None or convert is None:
        return raw
    try:
        return convert(raw.strip())
    except ValueError:
        raise pytest.UsageError(
            f"Invalid {option.name} {without_password(raw)!r} from {source}: expected {expected}"
        ) from None


def without_password(text: str) -> str:
    """A URL as it may be shown: a ``user:password@`` in it becomes ``***@``."""
    return re.sub(r"(://)[^/?#]*@", r"\1***@", text)


def _yes_no(text: str) -> bool:
    if text.lower() in _YES:
        return True
    if text.lower() in _NO:
        return False
    raise ValueError


#: What :func:`server_url` accepts, in the words of its error messages.
SERVER_URL = "an http:// or https:// URL, without user:password@, ?query or #fragment"


def server_url(text: str) -> str:
    """An http(s) URL with a host (and a valid port, if any), without its trailing slash.

    Credentials belong in the token, and ``/api/tests/ingest`` is appended to the path: a
    query or fragment would swallow it. A path with spaces or non-ASCII is percent-encoded.
    """
    parsed = urlsplit(text.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError
    parsed.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    if "@" in parsed.netloc or "?" in text or "#" in text:
        raise ValueError
    path = quote(parsed.path, safe="/%!$&'()*+,;=:@~")
    return urlunsplit((parsed.scheme, parsed.netloc, path, "", "")).rstrip("/")


def build(config: pytest.Config, env: Mapping[str, str] | None = None) -> str | None:
    """This run's CI build id: the option, else the CI's (see :mod:`.build`)."""
    from .build import build_id, valid_build_id

    env = os.environ if env is None else env
    explicit = _get(config, env, BUILD, valid_build_id, "a printable id of 1 to 200 characters")
    return build_id(env, explicit)


def resolve(config: pytest.Config, env: Mapping[str, str] | None = None) -> Settings | None:
    """The plugin's settings, or ``None`` when neither a URL, a directory nor a summary file
    is set."""
    env = os.environ if env is None else env
    url = _get(config, env, URL, server_url, SERVER_URL)
    directory = _get(config, env, DIR)
    summary = _get(config, env, SUMMARY)
    if url is None and directory is None and not summary:
        return None
    root = Path(config.rootpath)
    return Settings(
        url=url,
        directory=(root / (directory or DEFAULT_DIR)).resolve(),
        project=_get(config, env, PROJECT) or root.name or "default",
        token=_get(config, env, TOKEN),
        timeout=_get(config, env, TIMEOUT, _number(float, 0, True), "a number of seconds > 0")
        or DEFAULT_TIMEOUT,
        keep=_get(config, env, KEEP, _number(int, 0, False), "a whole number >= 0")
        if _raw(config, env, KEEP)[0] is not None
        else DEFAULT_KEEP,
        max_output=_get(config, env, MAX_OUTPUT, _number(int, 0, False), "a whole number >= 0")
        if _raw(config, env, MAX_OUTPUT)[0] is not None
        else DEFAULT_MAX_OUTPUT,
        wait=bool(_get(config, env, WAIT, _yes_no, "yes or no")),
        wait_timeout=_get(
            config, env, WAIT_TIMEOUT, _number(float, 0, True), "a number of seconds > 0"
        )
        or DEFAULT_WAIT_TIMEOUT,
        # Relative to where pytest was started, as --junitxml is.
        summary=Path(config.invocation_params.dir, summary) if summary else None,
    )
