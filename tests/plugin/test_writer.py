"""The plugin's hand-written outputs against what they replace: the sidecar JSON against the
core's ``Sidecar`` model, the XML escaping against ``xml.sax.saxutils``, and the distribution
list of the environment fingerprint against ``importlib.metadata``'s own reading."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from importlib import metadata
from xml.sax.saxutils import escape, quoteattr

import pytest

from pytest_testviz.capture import TestRecord, xml_safe
from pytest_testviz.core.results import Attempt
from pytest_testviz.core.sidecar import AttemptMeta, Sidecar, TestMeta, parse_sidecar
from pytest_testviz.environment import installed_distributions
from pytest_testviz.writer import _attr, _text, sidecar

STARTED = datetime(2026, 11, 29, 10, 0, 0, 123456, tzinfo=timezone.utc)
RUN = {
    "run_id": "0123456789abcdef0123456789abcdef",
    "project": "shop",
    "session_id": "0123456789abcdef0123456789abcdef",
    "git_sha": "a" * 40,
    "branch": "main",
    "env_fingerprint": "f" * 16,
    "env": {"os": "Linux", "python_version": "3.11.7"},
    "started": STARTED,
    "finished": STARTED + timedelta(seconds=12),
    "producer": "pytest-testviz/0 pytest/9",
}


def _records() -> list[TestRecord]:
    plain = TestRecord("tests/test_a.py::test_one", "tests.test_a", "test_one")
    plain.meta = {"source_hash": "0123456789abcdef"}
    marked = TestRecord("tests/test_a.py::test_p[1]", "tests.test_a", "test_p[1]")
    marked.meta = {
        "tags": ["api", "smoke"],
        "owner": "team-search",
        "markers": ["parametrize", "smoke"],
        "source_hash": "fedcba9876543210",
    }
    rerun = TestRecord("tests/test_b.py::test_flaky", "tests.test_b", "test_flaky")
    rerun.meta = {"markers": ["flaky"]}
    rerun.attempts = (
        Attempt("failed", "AssertionError", "AssertionError: no", "trace"),
        Attempt("error", None, 'failed on setup with "boom"', None),
    )
    collected = TestRecord("tests/test_c.py", "tests", "test_c")  # a collection error
    return [plain, marked, rerun, collected]


def _through_the_model(records: list[TestRecord], **run: object) -> bytes:
    """The sidecar as the plugin wrote it before: one pydantic model per test."""
    run = {**RUN, **run}
    tests = {}
    for record in records:
        meta = record.meta or {}
        if not (meta or record.attempts):
            continue
        tests[f"{record.classname}::{record.name}"] = TestMeta(
            tags=meta.get("tags", []),
            owner=meta.get("owner"),
            markers=meta.get("markers", []),
            source_hash=meta.get("source_hash"),
            nodeid=record.nodeid,
            attempts=[
                AttemptMeta(
                    status="error" if a.status == "error" else "failed",
                    error_type=a.error_type,
                    message=a.message,
                    text=a.text,
                )
                for a in record.attempts
            ],
        )
    return Sidecar(
        run_id=run["run_id"],
        project=run["project"],
        session_id=run["session_id"],
        git_sha=run["git_sha"],
        branch=run["branch"],
        env_fingerprint=run["env_fingerprint"],
        env=run["env"],
        started_at=run["started"],
        finished_at=run["finished"],
        producer=run["producer"],
        tests=tests,
    ).dump()


def test_the_sidecar_is_byte_for_byte_what_the_model_dumps() -> None:
    records = _records()

    written = sidecar(**RUN, records=records)  # type: ignore[arg-type]

    assert written == _through_the_model(records)
    parsed = parse_sidecar(written)
    assert parsed.tests["tests.test_b::test_flaky"].attempts[1].status == "error"
    assert "tests::test_c" not in parsed.tests  # nothing to say about it


def test_a_sidecar_without_git_or_tests_leaves_them_out() -> None:
    no_git = {"git_sha": None, "branch": None}

    written = sidecar(**{**RUN, **no_git}, records=[])  # type: ignore[arg-type]

    assert written == _through_the_model([], **no_git)
    assert b"git_sha" not in written
    assert b"branch" not in written
    assert b"tests" not in written


@pytest.mark.parametrize(
    ("meta", "where"),
    [
        ({"owner": "x" * 1025}, "owner"),
        ({"tags": ["ok", "y" * 1025]}, "tags"),
        ({"owner": "team\x00"}, "NUL"),
        ({"source_hash": "abc\x00"}, "NUL"),
    ],
)
def test_a_value_the_schema_refuses_is_a_value_error(meta: dict[str, object], where: str) -> None:
    record = TestRecord("tests/test_a.py::test_one", "tests.test_a", "test_one")
    record.meta = meta

    with pytest.raises(ValueError, match=where):
        sidecar(**RUN, records=[record])  # type: ignore[arg-type]


def test_a_run_field_the_schema_refuses_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="branch"):
        sidecar(**{**RUN, "branch": "b" * 256}, records=[])  # type: ignore[arg-type]


TRICKY = [
    "",
    "plain",
    "a<b>&c",
    'say "hi"',
    "it's",
    "both \" and '",
    "line\nbreak\r\tand tab",
    "bell\x07 esc\x1b nul\x00 del\x7f",
    "nbsp\u00a0 nel\u0085 lone \ud800 nonchar \ufffe",
    "été €",
]


@pytest.mark.parametrize("text", TRICKY)
def test_xml_escaping_matches_saxutils(text: str) -> None:
    assert _attr(text) == quoteattr(xml_safe(text))
    assert _text(text) == escape(xml_safe(text))


def test_distributions_are_read_as_importlib_metadata_reads_them() -> None:
    expected = sorted(
        {
            f"{dist.name.lower().replace('_', '-')}=={dist.version}"
            for dist in metadata.distributions()
            if dist.name
        }
    )

    assert installed_distributions() == expected
