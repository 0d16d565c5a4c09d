"""CODEOWNERS rules: who owns a file, as GitHub and GitLab decide it.

Each non-comment line is ``pattern owner...``; the *last* matching line wins; patterns follow
gitignore rules (a leading ``/`` anchors to the root, a trailing ``/`` matches a directory's
contents, ``*`` stays within one path segment, ``**`` crosses segments, and a pattern without
a ``/`` in its middle matches at any depth). GitLab's ``[Section]`` headers are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

CODEOWNERS_LOCATIONS = ("CODEOWNERS", ".github/CODEOWNERS", ".gitlab/CODEOWNERS", "docs/CODEOWNERS")


@dataclass(frozen=True, slots=True)
class Rule:
    pattern: str
    owners: tuple[str, ...]
    regex: re.Pattern[str]


class CodeOwners:
    """Parsed CODEOWNERS rules; :meth:`owners` answers for one path."""

    def __init__(self, text: str) -> None:
        self._cache: dict[str, tuple[str, ...]] = {}  # many tests share a file
        self.rules: list[Rule] = []
        for raw in text.splitlines():
            line = raw.split(" #", 1)[0].strip()
            if not line or line.startswith("#") or _is_section(line):
                continue
            pattern, *owners = line.split()
            self.rules.append(Rule(pattern, tuple(owners), _compile(pattern)))

    def owners(self, path: str) -> tuple[str, ...]:
        """The owners of ``path`` (relative to the repository root, ``/``-separated)."""
        cached = self._cache.get(path)
        if cached is None:
            cached = self._cache[path] = self._match(path)
        return cached

    def _match(self, path: str) -> tuple[str, ...]:
        path = path.replace("\\", "/")
        path = path.removeprefix("./").lstrip("/")
        for rule in reversed(self.rules):
            if rule.regex.search(path):
                return rule.owners
        return ()

    def owner(self, path: str | None) -> str | None:
        """The owners of ``path`` as one display string, or ``None``."""
        if not path:
            return None
        owners = self.owners(path)
        return " ".join(owners) if owners else None


def find_codeowners(root: Path) -> Path | None:
    """The CODEOWNERS file of a repository checkout, where GitHub or GitLab would look."""
    for name in CODEOWNERS_LOCATIONS:
        candidate = root / name
        if candidate.is_file():
            return candidate
    return None


def _is_section(line: str) -> bool:
    """A GitLab section header: ``[Name]``, ``^[Optional]``, ``[Name][2] @default-owner``."""
    return line.removeprefix("^").startswith("[") and "]" in line


def _compile(pattern: str) -> re.Pattern[str]:
    while "**/**/" in pattern:  # equivalent, and each extra one multiplies backtracking
        pattern = pattern.replace("**/**/", "**/")
    anchored = pattern.startswith("/") or "/" in pattern.rstrip("/")
    directory = pattern.endswith("/")
    body = pattern.strip("/")
    parts: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if body.startswith("**/", index):
            parts.append("(?:.*/)?")
            index += 3
            continue
        if body.startswith("**", index):
            parts.append(".*")
            index += 2
            continue
        if char == "*":
            parts.append("[^/]*")
        elif char == "?":
            parts.append("[^/]")
        else:
            parts.append(re.escape(char))
        index += 1
    regex = "".join(parts)
    prefix = "^" if anchored else "(?:^|/)"
    # A match also covers everything below a matched directory, except that a last segment
    # of just ``*`` (``docs/*``) owns the directory's files, not its subdirectories (GitHub).
    if directory:
        suffix = "/"
    elif body == "*" or body.endswith("/*"):
        suffix = "$"
    else:
        suffix = "(?:$|/)"
    return re.compile(prefix + regex + suffix)
