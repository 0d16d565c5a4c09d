"""A run's (or a CI build's) summary where people look: the CI job's summary page, a file,
the terminal, or GitHub Actions annotations.

:mod:`.model` says what a summary holds, :mod:`.render` writes it as Markdown, text or
workflow commands, :mod:`.client` asks the server for it, :mod:`.job` is the plugin's part.
Nothing here is imported by a test run that does not ask for a summary.
"""

from __future__ import annotations

from .model import Summary, SummaryError, TestEntry, TestList, Totals, from_json, from_records
from .render import FORMATS, escape_data, escape_markdown, escape_property, render

__all__ = [
    "FORMATS",
    "Summary",
    "SummaryError",
    "TestEntry",
    "TestList",
    "Totals",
    "escape_data",
    "escape_markdown",
    "escape_property",
    "from_json",
    "from_records",
    "render",
]
