"""The exceptions the core raises for bad input: one family, each naming where it came from."""

from __future__ import annotations


class TestvizInputError(ValueError):
    """Bad input from a user: a report or sidecar that cannot be read as one."""

    __test__ = False

    def __init__(
        self, source: str, reason: str, line: int | None = None, column: int | None = None
    ) -> None:
        self.source = source
        self.reason = reason
        self.line = line
        self.column = column
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.reason}"

    def to_json(self) -> dict[str, object]:
        return {
            "source": self.source,
            "line": self.line,
            "column": self.column,
            "reason": self.reason,
        }


class JUnitParseError(TestvizInputError):
    """A report that is not well-formed JUnit XML (or is hostile)."""


class SidecarError(TestvizInputError):
    """A ``.meta.json`` sidecar that is not valid JSON or does not match the schema."""
