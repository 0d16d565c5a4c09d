"""The core shared by the plugin, the CLI and the server: one parser, one identity, one
fingerprint, one sidecar format."""

from .errors import JUnitParseError, SidecarError, TestvizInputError
from .fingerprint import _extract_error_fingerprint, error_fingerprint, normalise_message
from .identity import canonical_identity, content_run_id, test_id
from .junit import DEFAULT_MAX_OUTPUT, JUnitReader
from .names import infer_path, split_params
from .report import DEFAULT_PROJECT, fold_repeats, parse_junit_xml
from .results import Attempt, DeclaredTotals, Report, RunInfo, Status, Suite, TestResult, Totals
from .sidecar import Sidecar, TestMeta, find_sidecar, load_sidecar, parse_sidecar, sidecar_path

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
    "_extract_error_fingerprint",
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
    "sidecar_path",
    "split_params",
    "test_id",
]
