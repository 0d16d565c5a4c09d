"""The id of the CI build a run belongs to: one build, many jobs (shards, matrix entries).

Runs with the same build id are shown together, and the jobs of a shard plan agree on their
split through it. It is an opaque string: what the user set (``--testviz-build``,
``TESTVIZ_BUILD``, ini ``testviz_build``), else the CI provider's own id for the whole build,
not for one job. Read from an explicit allow-list of variables, like :mod:`.environment`.
"""

from __future__ import annotations

from collections.abc import Mapping

#: Longest build id kept; a longer one is a mistake (a whole URL, a log line), not an id.
MAX_LENGTH = 200


def _github(env: Mapping[str, str]) -> str | None:
    run = env.get("GITHUB_RUN_ID", "").strip()
    if not run:
        return None
    # A re-run of a workflow keeps its run id: the attempt tells the two builds apart.
    return f"{run}-{env.get('GITHUB_RUN_ATTEMPT', '').strip() or '1'}"


# The first of these that is set names the build. Each is the provider's id of the whole
# build (pipeline, workflow), shared by all its jobs: GitLab's CI_PIPELINE_ID, not CI_JOB_ID.
_VARIABLES = ("CI_PIPELINE_ID", "BUILDKITE_BUILD_ID", "CIRCLE_WORKFLOW_ID", "BUILD_TAG")


def detect_build_id(env: Mapping[str, str]) -> str | None:
    """The CI provider's build id, or ``None`` outside a CI build we know."""
    found = _github(env)
    if found:
        return found
    for name in _VARIABLES:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def valid_build_id(text: str) -> str:
    """``text`` stripped, if it is a usable build id; else :class:`ValueError`.

    Printable, at most :data:`MAX_LENGTH` characters: it ends up in URLs, headers and pages.
    """
    value = text.strip()
    if not value or len(value) > MAX_LENGTH or not value.isprintable():
        raise ValueError(f"a build id is 1 to {MAX_LENGTH} printable characters")
    return value


def build_id(env: Mapping[str, str], explicit: str | None = None) -> str | None:
    """The build id of this run: ``explicit`` (the option's value) if given, else the CI's.

    A detected id that is not usable (too long, control characters) is dropped rather than
    failing the run; an explicit one raises :class:`ValueError`, for a usage error.
    """
    if explicit is not None and explicit.strip():
        return valid_build_id(explicit)
    detected = detect_build_id(env)
    if detected is None:
        return None
    try:
        return valid_build_id(detected)
    except ValueError:
        return None
