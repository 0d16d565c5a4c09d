"""The plugin's writers: the sidecar through the core's ``Sidecar`` model, the JUnit XML
through ElementTree (what XML cannot hold shown as pytest shows it), and the distribution
list of the environment fingerprint against ``importlib.metadata``'s own reading."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from importlib import metadata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_testviz.capture import TestRecord, xml_safe
from pytest_testviz.core.results import Attempt
from pytest_testviz.core.sidecar import AttemptMeta, Sidecar, TestMeta, parse_sidecar
from pytest_testviz.environment import installed_distributions
from pytest_testviz.writer import junit_xml, sidecar

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


# -- whatever the values, the model decides ------------------------------------------------------

_EDGY_TEXT = st.one_of(
    st.text(max_size=5),
    st.sampled_from(["", "a" * 200, "a" * 201, "b" * 255, "b" * 256, "c" * 1024, "c" * 1025]),
    st.sampled_from(["0123abcd", "ABCD", "abc", "g" * 40, "a" * 64, "a" * 65, "-x", "x y"]),
    st.sampled_from(["abcd\n", "abc\r\n", "\ud800", "ok \udcff", "é\ud83d", "nul\x00"]),
)
_TIMES = st.datetimes(
    timezones=st.sampled_from(
        [timezone.utc, timezone(timedelta(hours=-5, minutes=-30)), timezone(timedelta(seconds=30))]
    )
)


@settings(max_examples=200)
@given(
    field=st.sampled_from(
        ["run_id", "project", "session_id", "git_sha", "branch", "env_fingerprint", "producer"]
    ),
    value=st.none() | _EDGY_TEXT,
    env=st.dictionaries(_EDGY_TEXT, _EDGY_TEXT, max_size=2),
    started=_TIMES,
    owner=st.none() | _EDGY_TEXT,
)
def test_the_sidecar_is_the_models_or_a_value_error_naming_the_field(
    field: str, value: str | None, env: dict[str, str], started: datetime, owner: str | None
) -> None:
    """What the model accepts is written as the model writes it, and reads back; what it
    refuses is a ValueError, which the session reports as "could not write the report"."""
    run = {**RUN, field: value, "env": env, "started": started}
    record = TestRecord("tests/test_a.py::test_one", "tests.test_a", "test_one")
    record.meta = {"owner": owner} if owner is not None else None
    try:
        if owner and "\x00" in owner:
            raise ValueError("the model's NUL check reads dicts, not the models made here")
        expected = _through_the_model([record], **run)
    except ValueError:  # pydantic's ValidationError is one
        with pytest.raises(ValueError, match=f"invalid|{field}|NUL"):
            sidecar(**run, records=[record])  # type: ignore[arg-type]
        return
    written = sidecar(**run, records=[record])  # type: ignore[arg-type]
    assert written == expected
    parse_sidecar(written)


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


def test_xml_holds_any_text_as_pytest_shows_it() -> None:
    """ElementTree escapes; what XML 1.0 cannot hold at all is shown as ``#xNN`` first, as
    pytest's ``bin_xml_escape`` does. Each value reads back as that."""
    records = []
    for number, text in enumerate(TRICKY):
        record = TestRecord(f"t.py::test_{number}", f"t{text}", f"test_{number}{text}")
        record.status = "failed"
        record.message, record.text = text, text
        record.stdout, record.stderr = (text,), (text,)
        records.append(record)
    subtests = TestRecord("t.py::test_sub", "t", "test_sub")
    subtests.status = "failed"
    subtests.subtest_failures = tuple(Attempt("failed", None, text, text) for text in TRICKY)
    records.append(subtests)

    written = junit_xml(
        records,
        producer="p\x01",
        started=RUN["started"],  # type: ignore[arg-type]
        duration=1.0,
        hostname="h<o>st",
        max_output=1000,
    )

    assert written.startswith(b'<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest')
    suite = ET.fromstring(written).find("testsuite")
    assert suite is not None
    assert suite.get("hostname") == "h<o>st"
    assert suite.find("properties/property").get("value") == "p#x01"  # type: ignore[union-attr]
    cases = suite.findall("testcase")
    for text, case in zip(TRICKY, cases, strict=False):
        shown = xml_safe(text)
        # An XML parser reads a carriage return in text as a line feed (pytest's too).
        content = shown.replace("\r", "\n")
        assert case.get("classname") == f"t{shown}"
        assert case.get("name") == f"test_{TRICKY.index(text)}{shown}"
        failure = case.find("failure")
        assert failure is not None
        assert (failure.get("message"), failure.text or "") == (shown, content)
        assert case.findtext("system-out") == content
        assert (case.findtext("system-err") or "") == content  # no element for no output
    failures = cases[-1].findall("failure")
    assert [(f.get("message"), f.text or "") for f in failures] == [
        (xml_safe(text), xml_safe(text).replace("\r", "\n")) for text in TRICKY
    ]
    shown = xml_safe("bell\x07 nul\x00 del\x7f lone \ud800")
    assert shown == "bell#x07 nul#x00 del#x7F lone #xD800"


def test_distributions_are_read_as_importlib_metadata_reads_them() -> None:
    expected = sorted(
        {
            f"{dist.name.lower().replace('_', '-')}=={dist.version}"
            for dist in metadata.distributions()
            if dist.name
        }
    )

    assert installed_distributions() == expected


def test_the_plugins_modules_load_pydantic_to_write_and_requests_to_send() -> None:
    """Switching the plugin on loads neither the XML reader nor lxml, pydantic or requests;
    writing the sidecar loads pydantic (its model writes it), sending loads requests."""
    code = (
        "import sys, datetime, pytest_testviz.session, pytest_testviz.spool;"
        "from pytest_testviz.writer import sidecar;"
        "from pytest_testviz.capture import TestRecord;"
        "modules = ('lxml', 'pydantic', 'requests', 'pytest_testviz.core.junit');"
        "loaded = lambda: sorted(m for m in modules if m in sys.modules);"
        "print(loaded());"
        "now = datetime.datetime.now(datetime.timezone.utc);"
        "record = TestRecord('t.py::test_p[1]', 't', 'test_p[1]');"
        "record.meta = {'tags': ['api'], 'markers': ['api', 'parametrize'], 'owner': '@team',"
        " 'source_hash': '0123456789abcdef'};"
        "sidecar(run_id='abc', project='shop', session_id='abc', git_sha='a' * 40,"
        " branch='main', env_fingerprint='f' * 16, env={'os': 'Linux'}, started=now,"
        " finished=now, producer='pytest-testviz', records=[record]);"
        "print(loaded());"
        "import pytest_testviz.upload;"
        "print(loaded())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.splitlines() == ["[]", "['pydantic']", "['pydantic', 'requests']"]
