"""CODEOWNERS rules: who owns a path, as GitHub and GitLab decide it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_testviz.core.codeowners import CodeOwners, find_codeowners

# The example from GitHub's documentation, trimmed to the rules the tests below exercise.
GITHUB_EXAMPLE = """\
# These owners will be the default owners for everything in the repo.
*       @global-owner1 @global-owner2

# Order is important; the last matching pattern takes the most precedence.
*.js    @js-owner #This is an inline comment.
*.go docs@example.com
/build/logs/ @doctocat
docs/*  docs@example.com
apps/ @octocat
/docs/ @doctocat
/scripts/ @doctocat @octocat
**/logs @octocat
/apps/ @octocat
/apps/github
"""


@pytest.mark.parametrize(
    ("path", "owners"),
    [
        ("README.md", ("@global-owner1", "@global-owner2")),
        ("src/app.js", ("@js-owner",)),
        ("main.go", ("docs@example.com",)),
        ("build/logs/out.txt", ("@octocat",)),  # **/logs comes after /build/logs/
        ("build/other/out.txt", ("@global-owner1", "@global-owner2")),
        ("docs/getting-started.md", ("@doctocat",)),  # /docs/ comes after docs/*
        ("scripts/release.sh", ("@doctocat", "@octocat")),
        ("deep/logs/x.txt", ("@octocat",)),
        ("apps/web/index.html", ("@octocat",)),
        ("apps/github/main.py", ()),  # a pattern without owners: explicitly unowned
    ],
)
def test_github_example(path: str, owners: tuple[str, ...]) -> None:
    assert CodeOwners(GITHUB_EXAMPLE).owners(path) == owners


def test_last_matching_rule_wins() -> None:
    rules = CodeOwners("tests/ @qa\ntests/api/ @api-team\n")
    assert rules.owners("tests/api/test_users.py") == ("@api-team",)
    assert rules.owners("tests/test_core.py") == ("@qa",)
    reversed_rules = CodeOwners("tests/api/ @api-team\ntests/ @qa\n")
    assert reversed_rules.owners("tests/api/test_users.py") == ("@qa",)


def test_leading_slash_anchors_to_the_root() -> None:
    rules = CodeOwners("/docs/ @docs-team\n")
    assert rules.owners("docs/index.md") == ("@docs-team",)
    assert rules.owners("docs/guide/setup.md") == ("@docs-team",)
    assert rules.owners("src/docs/index.md") == ()
    assert rules.owners("docsite/index.md") == ()


def test_unanchored_pattern_matches_at_any_depth() -> None:
    rules = CodeOwners("*.js @frontend\n")
    assert rules.owners("app.js") == ("@frontend",)
    assert rules.owners("web/static/js/app.js") == ("@frontend",)
    assert rules.owners("app.json") == ()
    assert rules.owners("app.jsx") == ()


def test_unanchored_directory_matches_at_any_depth() -> None:
    rules = CodeOwners("fixtures/ @qa\n")
    assert rules.owners("fixtures/data.json") == ("@qa",)
    assert rules.owners("tests/fixtures/data.json") == ("@qa",)
    assert rules.owners("tests/fixtures.py") == ()


def test_pattern_with_inner_slash_is_anchored() -> None:
    rules = CodeOwners("src/api @api\n")
    assert rules.owners("src/api/views.py") == ("@api",)
    assert rules.owners("src/api") == ("@api",)
    assert rules.owners("lib/src/api/views.py") == ()


def test_single_star_stays_in_one_directory() -> None:
    """GitHub: ``docs/*`` owns ``docs/getting-started.md`` but not ``docs/build-app/x.md``."""
    rules = CodeOwners("docs/* @docs\n")
    assert rules.owners("docs/getting-started.md") == ("@docs",)
    assert rules.owners("docs/build-app/troubleshooting.md") == ()
    assert CodeOwners("/src/*.py @py\n").owners("src/pkg/mod.py") == ()


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("**/logs", "logs/app.log", True),
        ("**/logs", "var/tmp/logs/app.log", True),
        ("**/logs", "catalogs/app.log", False),
        ("docs/**", "docs/a/b/c.md", True),
        ("docs/**", "other/docs/c.md", False),
        ("src/**/test_*.py", "src/test_a.py", True),
        ("src/**/test_*.py", "src/pkg/sub/test_a.py", True),
        ("src/**/test_*.py", "src/pkg/helpers.py", False),
        ("/**/*.md", "a/b/README.md", True),
    ],
)
def test_double_star_crosses_directories(pattern: str, path: str, matches: bool) -> None:
    assert bool(CodeOwners(f"{pattern} @owner\n").owners(path)) is matches


def test_question_mark_is_one_character_within_a_segment() -> None:
    rules = CodeOwners("test_?.py @owner\n")
    assert rules.owners("tests/test_a.py") == ("@owner",)
    assert rules.owners("tests/test_ab.py") == ()


def test_comments_blank_lines_and_gitlab_sections_are_skipped() -> None:
    text = """\
# a comment
   # an indented comment

[Backend] @backend-leads
tests/api/ @api-team   # who to ask
^[Optional docs]
[Docs][2] @docs-leads
docs/ @writers
"""
    rules = CodeOwners(text)
    assert [rule.pattern for rule in rules.rules] == ["tests/api/", "docs/"]
    assert rules.owners("tests/api/test_x.py") == ("@api-team",)
    assert rules.owners("docs/index.md") == ("@writers",)


@pytest.mark.parametrize(
    "path", ["./tests/api/test_x.py", "/tests/api/test_x.py", "tests\\api\\test_x.py"]
)
def test_path_spellings_are_normalised(path: str) -> None:
    assert CodeOwners("/tests/api/ @api-team\n").owners(path) == ("@api-team",)


def test_no_match_is_empty() -> None:
    rules = CodeOwners("/docs/ @docs\n*.js @frontend\n")
    assert rules.owners("src/main.py") == ()
    assert rules.owner("src/main.py") is None
    assert CodeOwners("").owners("anything.py") == ()


def test_owner_joins_several_owners_and_accepts_no_path() -> None:
    rules = CodeOwners("* @a @b\n")
    assert rules.owner("x.py") == "@a @b"
    assert rules.owner(None) is None
    assert rules.owner("") is None


def test_special_characters_in_patterns_are_literal() -> None:
    rules = CodeOwners("/src/c++/ @cpp\n/a.b/ @dots\n")
    assert rules.owners("src/c++/main.cc") == ("@cpp",)
    assert rules.owners("a.b/x") == ("@dots",)
    assert rules.owners("axb/x") == ()


@pytest.mark.parametrize(
    "location", ["CODEOWNERS", ".github/CODEOWNERS", ".gitlab/CODEOWNERS", "docs/CODEOWNERS"]
)
def test_find_codeowners_where_github_and_gitlab_look(tmp_path: Path, location: str) -> None:
    assert find_codeowners(tmp_path) is None
    path = tmp_path / location
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("* @owner\n", encoding="utf-8")
    assert find_codeowners(tmp_path) == path
