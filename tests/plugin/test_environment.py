"""What a run ran on: git commit and branch (with the CI's variables on a detached HEAD), the
CI provider, and the environment fingerprint, with nothing copied out of the environment."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_testviz.environment import GitInfo, detect_ci, environment_facts, git_info

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

#: What each provider sets on a build of commit c0ffee on branch feature/x.
PROVIDERS = {
    "github-actions": {
        "GITHUB_ACTIONS": "true",
        "GITHUB_SHA": "c0ffee",
        "GITHUB_REF_NAME": "feature/x",
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "acme/shop",
        "GITHUB_RUN_ID": "42",
    },
    "gitlab-ci": {
        "GITLAB_CI": "true",
        "CI_COMMIT_SHA": "c0ffee",
        "CI_COMMIT_REF_NAME": "feature/x",
        "CI_JOB_URL": "https://gitlab.example/acme/shop/-/jobs/42",
    },
    "buildkite": {
        "BUILDKITE": "true",
        "BUILDKITE_COMMIT": "c0ffee",
        "BUILDKITE_BRANCH": "feature/x",
        "BUILDKITE_BUILD_URL": "https://buildkite.com/acme/shop/builds/42",
    },
    "jenkins": {
        "JENKINS_URL": "https://jenkins.example/",
        "GIT_COMMIT": "c0ffee",
        "GIT_BRANCH": "origin/feature/x",
        "BUILD_URL": "https://jenkins.example/job/shop/42/",
    },
    "circleci": {
        "CIRCLECI": "true",
        "CIRCLE_SHA1": "c0ffee",
        "CIRCLE_BRANCH": "feature/x",
        "CIRCLE_BUILD_URL": "https://circleci.com/gh/acme/shop/42",
    },
}


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.invalid", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(repo)},
    )
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with one commit on branch feature/cart."""
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "symbolic-ref", "HEAD", "refs/heads/feature/cart")
    (tmp_path / "a.txt").write_text("a\n", encoding="utf-8")
    _git(tmp_path, "add", "a.txt")
    _git(tmp_path, "commit", "-q", "-m", "a", "--no-gpg-sign")
    return tmp_path


@needs_git
def test_commit_and_branch_come_from_git(repo: Path) -> None:
    sha = _git(repo, "rev-parse", "HEAD")

    assert git_info(repo, {}) == GitInfo(sha, "feature/cart")
    # git's answer beats the CI's variables, which may describe a merge ref
    assert git_info(repo, PROVIDERS["github-actions"]) == GitInfo(sha, "feature/cart")


@needs_git
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_a_detached_head_takes_the_branch_from_the_ci(repo: Path, provider: str) -> None:
    sha = _git(repo, "rev-parse", "HEAD")
    _git(repo, "checkout", "-q", "--detach")

    assert git_info(repo, {}) == GitInfo(sha, None)
    assert git_info(repo, PROVIDERS[provider]) == GitInfo(sha, "feature/x")


@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_outside_a_repository_the_ci_says_both(tmp_path: Path, provider: str) -> None:
    ci = detect_ci(PROVIDERS[provider])

    assert ci is not None
    assert ci.provider == provider
    assert ci.build_url is not None
    assert git_info(tmp_path, PROVIDERS[provider]) == GitInfo("c0ffee", "feature/x")


@needs_git
def test_a_repository_without_commits_has_neither(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")

    assert git_info(tmp_path, {}) == GitInfo(None, None)


@needs_git
def test_without_git_installed_there_is_no_error(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(repo / "nowhere"))

    assert git_info(repo, {}) == GitInfo(None, None)
    assert git_info(repo, PROVIDERS["gitlab-ci"]) == GitInfo("c0ffee", "feature/x")


def test_a_generic_ci_is_named_and_no_secret_is_copied() -> None:
    env = {"CI": "true", "AWS_SECRET_ACCESS_KEY": "s3cr3t", "GITHUB_TOKEN": "ghp_s3cr3t"}

    facts = environment_facts(env)

    assert facts.facts["ci_provider"] == "generic"
    assert set(facts.facts) == {
        "python_implementation",
        "python_version",
        "os",
        "os_release",
        "arch",
        "ci_provider",
    }
    assert "s3cr3t" not in repr(facts)


def test_the_fingerprint_is_stable_and_follows_the_installed_distributions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = environment_facts({}).fingerprint
    assert environment_facts({"CI": "true"}).fingerprint == before  # CI facts are not in it

    dist = tmp_path / "extra_pkg-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: extra-pkg\nVersion: 1.0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with_extra = environment_facts({}).fingerprint

    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: extra-pkg\nVersion: 1.1\n")
    upgraded = environment_facts({}).fingerprint

    assert len({before, with_extra, upgraded}) == 3
