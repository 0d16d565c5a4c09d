"""What a run ran on: git commit and branch, CI provider, and an environment fingerprint.

Everything is read from explicit allow-lists, never by copying ``os.environ``: a sidecar is
uploaded, and must not carry secrets. The environment is passed in as a mapping so tests
hand in a plain dict.
"""

from __future__ import annotations

import hashlib
import platform
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path


@dataclass(frozen=True)
class CIInfo:
    provider: str
    build_url: str | None = None
    branch: str | None = None
    sha: str | None = None


def _github(env: Mapping[str, str]) -> CIInfo | None:
    if env.get("GITHUB_ACTIONS") != "true":
        return None
    server, repository, run = (
        env.get("GITHUB_SERVER_URL"),
        env.get("GITHUB_REPOSITORY"),
        env.get("GITHUB_RUN_ID"),
    )
    url = f"{server}/{repository}/actions/runs/{run}" if server and repository and run else None
    branch = env.get("GITHUB_HEAD_REF") or env.get("GITHUB_REF_NAME")
    return CIInfo("github-actions", url, branch, env.get("GITHUB_SHA"))


def _gitlab(env: Mapping[str, str]) -> CIInfo | None:
    if not env.get("GITLAB_CI"):
        return None
    branch = env.get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME") or env.get("CI_COMMIT_REF_NAME")
    return CIInfo("gitlab-ci", env.get("CI_JOB_URL"), branch, env.get("CI_COMMIT_SHA"))


def _buildkite(env: Mapping[str, str]) -> CIInfo | None:
    if not env.get("BUILDKITE"):
        return None
    return CIInfo(
        "buildkite",
        env.get("BUILDKITE_BUILD_URL"),
        env.get("BUILDKITE_BRANCH"),
        env.get("BUILDKITE_COMMIT"),
    )


def _jenkins(env: Mapping[str, str]) -> CIInfo | None:
    if not env.get("JENKINS_URL"):
        return None
    branch = env.get("BRANCH_NAME") or env.get("GIT_BRANCH")
    if branch and branch.startswith("origin/"):
        branch = branch.removeprefix("origin/")
    return CIInfo("jenkins", env.get("BUILD_URL"), branch, env.get("GIT_COMMIT"))


def _circleci(env: Mapping[str, str]) -> CIInfo | None:
    if not env.get("CIRCLECI"):
        return None
    return CIInfo(
        "circleci", env.get("CIRCLE_BUILD_URL"), env.get("CIRCLE_BRANCH"), env.get("CIRCLE_SHA1")
    )


_PROVIDERS = (_github, _gitlab, _buildkite, _jenkins, _circleci)


def detect_ci(env: Mapping[str, str]) -> CIInfo | None:
    """The CI provider running this process, from its own documented variables."""
    for provider in _PROVIDERS:
        found = provider(env)
        if found is not None:
            return found
    if env.get("CI", "").lower() in ("true", "1"):
        return CIInfo("generic")
    return None


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    value = done.stdout.strip()
    return value if done.returncode == 0 and value else None


@dataclass(frozen=True)
class GitInfo:
    sha: str | None = None
    branch: str | None = None


def git_info(cwd: Path, env: Mapping[str, str]) -> GitInfo:
    """HEAD's commit and branch; on a detached HEAD (CI checkouts), the CI's own variables.

    No git, or not a repository: both ``None``, without an error.
    """
    ci = detect_ci(env)
    # One git process for both: the commit, then the branch's short name ("HEAD" if detached).
    head = _git(["rev-parse", "HEAD", "--abbrev-ref", "HEAD"], cwd) or ""
    commit, _, name = head.partition("\n")
    sha = commit.strip() or None
    branch = name.strip() if name.strip() not in ("", "HEAD") else None
    if ci is not None:
        sha = sha or ci.sha
        branch = branch or ci.branch
    return GitInfo(sha=sha, branch=branch)


@dataclass(frozen=True)
class EnvironmentFacts:
    fingerprint: str
    facts: dict[str, str] = field(default_factory=dict)


def _name_and_version(dist: metadata.Distribution) -> tuple[str | None, str | None]:
    """``Name`` and ``Version`` from the head of the metadata file, without the email parser
    (which ``dist.name`` runs over the whole file: ten times slower over all distributions)."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO")
    name = version = None
    if text:
        for line in text.splitlines():
            if not line:
                break  # the headers end at the first blank line
            if line.startswith("Name:"):
                name = line[5:].strip()
            elif line.startswith("Version:"):
                version = line[8:].strip()
    if not (name and version):  # anything unusual: ask importlib.metadata
        return dist.name, dist.version
    return name, version


def installed_distributions() -> list[str]:
    """``name==version`` of every installed distribution, sorted and de-duplicated."""
    found = set()
    for dist in metadata.distributions():
        name, version = _name_and_version(dist)
        if name:
            found.add(f"{name.lower().replace('_', '-')}=={version}")
    return sorted(found)


def environment_facts(env: Mapping[str, str]) -> EnvironmentFacts:
    """The allow-listed facts and a fingerprint of interpreter, OS, machine and packages.

    The same environment gives the same fingerprint; any dependency change gives another.
    """
    facts = {
        "python_implementation": platform.python_implementation(),
        "python_version": platform.python_version(),
        "os": platform.system(),
        "os_release": platform.release(),
        "arch": platform.machine(),
    }
    ci = detect_ci(env)
    if ci is not None:
        facts["ci_provider"] = ci.provider
        if ci.build_url:
            facts["build_url"] = ci.build_url
    material = "\n".join(
        [
            facts["python_implementation"],
            sys.version.split()[0],
            facts["os"],
            facts["arch"],
            *installed_distributions(),
        ]
    )
    fingerprint = hashlib.sha256(material.encode()).hexdigest()[:16]
    return EnvironmentFacts(fingerprint, facts)
