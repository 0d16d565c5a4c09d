"""The plugin's hand-written outputs against what they replace: the sidecar JSON against the
core's ``Sidecar`` model, the XML escaping against ``xml.sax.saxutils``, and the distribution
list of the environment fingerprint against ``importlib.metadata``'s own reading."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from importlib import metadata
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_testviz.capture import TestRecord, xml_safe
from pytest_testviz.core.results import Attempt
from pytest_testviz.core.sidecar import AttemptMeta, Sidecar, TestMeta, parse_sidecar
from pytest_testviz.core.sidecar_limits import entry_fits, run_fits
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
        ({"tags": ["ok", "\ud800"]}, "tags"),
        ({"source_hash": "abc\x00"}, "NUL"),
    ],
)
def test_a_value_the_schema_refuses_is_a_value_error(meta: dict[str, object], where: str) -> None:
    record = TestRecord("tests/test_a.py::test_one", "tests.test_a", "test_one")
    record.meta = meta

    with pytest.raises(ValueError, match=where):
        sidecar(**RUN, records=[record])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value", "where"),
    [
        ("branch", "b" * 256, "branch"),
        ("git_sha", "not a sha", "git_sha"),
        ("env", {"os": "Linux\x00"}, "env.os"),
        ("project", "", "project"),
        ("git_sha", "a" * 40 + "\n", "git_sha"),  # from a CI variable, unstripped
        ("branch", "main\ud800", "branch"),
    ],
)
def test_a_run_field_the_schema_refuses_is_a_value_error(
    field: str, value: object, where: str
) -> None:
    with pytest.raises(ValueError, match=where):
        sidecar(**{**RUN, field: value}, records=[])  # type: ignore[arg-type]


# -- the quick check that keeps pydantic out of a usual run -----------------------------------

_EDGY_TEXT = st.one_of(
    st.text(max_size=5),
    st.sampled_from(["", "a" * 200, "a" * 201, "b" * 255, "b" * 256, "c" * 1024, "c" * 1025]),
    st.sampled_from(["0123abcd", "ABCD", "abc", "g" * 40, "a" * 64, "a" * 65, "-x", "x y"]),
    st.sampled_from(["abcd\n", "abc\r\n", "\ud800", "ok \udcff", "é\ud83d"]),
)
_TIMES = st.datetimes(
    timezones=st.sampled_from(
        [
            timezone.utc,
            timezone(timedelta(hours=-5, minutes=-30)),
            timezone(timedelta(seconds=30)),  # pydantic writes no seconds of an offset
        ]
    )
)


@settings(max_examples=300)
@given(
    field=st.sampled_from(
        ["run_id", "project", "session_id", "git_sha", "branch", "env_fingerprint", "producer"]
    ),
    value=st.none() | _EDGY_TEXT,
    env=st.dictionaries(_EDGY_TEXT, _EDGY_TEXT, max_size=2),
    started=_TIMES,
)
def test_run_fields_the_quick_check_accepts_are_what_the_model_writes(
    field: str, value: str | None, env: dict[str, str], started: datetime
) -> None:
    """A usual run with one field (and the env) edgy: nothing the quick check lets through
    is refused by the model, and the bytes are the model's own. Whatever it does not let
    through goes to the model, which names the field."""
    run = {**RUN, field: value, "env": env, "started": started}
    fields = {
        **{k: v for k, v in run.items() if k not in ("started", "finished")},
        "started_at": run["started"],
        "finished_at": run["finished"],
    }
    if not run_fits(fields) or "\\u0000" in json.dumps(fields, default=str):
        return  # NULs are the writer's JSON check's business, not the quick check's
    Sidecar.model_validate(fields)
    assert sidecar(**run, records=[]) == _through_the_model([], **run)  # type: ignore[arg-type]


@given(
    st.dictionaries(
        st.sampled_from(["tags", "owner", "markers", "source_hash", "nodeid"]),
        st.one_of(_EDGY_TEXT, st.lists(_EDGY_TEXT, max_size=3), st.none(), st.integers()),
    )
)
def test_entries_the_quick_check_accepts_the_model_accepts(entry: dict[str, object]) -> None:
    if entry_fits(entry):
        TestMeta.model_validate(entry)


def test_the_quick_check_leaves_doubtful_values_to_the_model() -> None:
    fields = {"run_id": "abc", "project": "shop", "started_at": STARTED}
    assert run_fits(fields)
    assert not run_fits({**fields, "project": ""})
    assert not run_fits({**fields, "project": "p" * 201})
    assert not run_fits({**fields, "git_sha": "not hex"})
    assert not run_fits({**fields, "started_at": STARTED.replace(tzinfo=None)})
    assert not run_fits({**fields, "codeowners": "* @team"})  # not a field it knows
    assert not run_fits({**fields, "run_id": "abc\n"})
    assert not run_fits({**fields, "started_at": STARTED.astimezone(timezone(timedelta(0, 30)))})
    assert not run_fits({**fields, "branch": "\udcff"})
    assert not entry_fits({"attempts": []})
    assert not entry_fits({"owner": "o" * 1025})


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
