"""The core shared by the plugin, the CLI and the server: one parser, one identity, one
fingerprint, one sidecar format.

The names below are imported on first use (PEP 562): the pytest plugin needs only a few
modules of the core, and every pytest run with the plugin on would otherwise pay for the XML
reader and lxml too.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .constants import find_sidecar, sidecar_path
    from .errors import JUnitParseError, SidecarError, TestvizInputError
    from .fingerprint import error_fingerprint, normalise_message
    from .identity import canonical_identity, content_run_id, test_id
    from .junit import DEFAULT_MAX_OUTPUT, JUnitReader
    from .names import infer_path, split_params
    from .report import DEFAULT_PROJECT, fold_repeats, parse_junit_xml, resolve_project
    from .results import (
        Attempt,
        DeclaredTotals,
        Report,
        RunInfo,
        Status,
        Suite,
        TestResult,
        Totals,
    )
    from .sidecar import Sidecar, TestMeta, load_sidecar, parse_sidecar

#: Each public name and the module of the core that defines it.
_HOMES = {
    "JUnitParseError": "errors",
    "SidecarError": "errors",
    "TestvizInputError": "errors",
    "error_fingerprint": "fingerprint",
    "normalise_message": "fingerprint",
    "canonical_identity": "identity",
    "content_run_id": "identity",
    "test_id": "identity",
    "DEFAULT_MAX_OUTPUT": "junit",
    "JUnitReader": "junit",
    "infer_path": "names",
    "split_params": "names",
    "DEFAULT_PROJECT": "report",
    "fold_repeats": "report",
    "parse_junit_xml": "report",
    "resolve_project": "report",
    "Attempt": "results",
    "DeclaredTotals": "results",
    "Report": "results",
    "RunInfo": "results",
    "Status": "results",
    "Suite": "results",
    "TestResult": "results",
    "Totals": "results",
    "Sidecar": "sidecar",
    "TestMeta": "sidecar",
    "find_sidecar": "constants",
    "load_sidecar": "sidecar",
    "parse_sidecar": "sidecar",
    "sidecar_path": "constants",
}

__all__ = [
    "DEFAULT_MAX_OUTPUT",
    "DEFAULT_PROJECT",
    "Attempt",
    "DeclaredTotals",
    "JUnitParseError",
    "JUnitReader",
    "Report",
    "RunInfo",
    "Sidecar",
    "SidecarError",
    "Status",
    "Suite",
    "TestMeta",
    "TestResult",
    "TestvizInputError",
    "Totals",
    "canonical_identity",
    "content_run_id",
    "error_fingerprint",
    "find_sidecar",
    "fold_repeats",
    "infer_path",
    "load_sidecar",
    "normalise_message",
    "parse_junit_xml",
    "parse_sidecar",
    "resolve_project",
    "sidecar_path",
    "split_params",
    "test_id",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value  # once found, an ordinary module attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
