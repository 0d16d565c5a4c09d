"""The <report>.meta.json sidecar: found beside a report, merged into the run, validated."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_testviz.core import (
    JUnitParseError,
    Sidecar,
    SidecarError,
    TestvizInputError,
    find_sidecar,
    parse_junit_xml,
    parse_sidecar,
    sidecar_path,
    test_id,
)
from pytest_testviz.core.identity import content_run_digest
from pytest_testviz.core.sidecar import SidecarRun, check_sidecar

from .helpers import case, junit

REPORT = junit(
    case("test_a", "tests.test_mod"),
    case("test_b", "tests.test_mod", body='<failure message="no"/>'),
    case("test_c", "tests.test_mod"),
)

META = {
    "schema_version": 1,
    "project": "shop",
    "session_id": "session-1",
    "git_sha": "ABCDEF1234567890",
    "branch": "main",
    "env_fingerprint": "py3.12-linux",
    "env": {"python": "3.12.1", "ci": "github"},
    "started_at": "2026-01-02T03:04:05+00:00",
    "finished_at": "2026-01-02T03:05:00+00:00",
    "producer": "pytest-testviz 0.1.0",
    "tests": {
        test_id("shop", "tests.test_mod", "test_a"): {"tags": ["smoke"], "owner": "@alice"},
        "tests.test_mod::test_b": {
            "tags": ["payments", "slow"],
            "owner": "@bob",
            "markers": ["flaky"],
            "source_hash": "h1",
        },
    },
    "unknown_future_field": {"ignored": True},
}


def report_sha256(path: Path) -> bytes:
    return hashlib.sha256(path.read_bytes()).digest()


@pytest.mark.parametrize(
    ("report", "sidecar"),
    [
        ("out/report.xml", "out/report.meta.json"),
        ("out/TEST-Calc.XML", "out/TEST-Calc.meta.json"),
        ("results", "results.meta.json"),
        ("a.b.xml", "a.b.meta.json"),
    ],
)
def test_sidecar_path(report: str, sidecar: str) -> None:
    assert sidecar_path(report) == Path(sidecar)


def test_missing_sidecar_leaves_run_metadata_empty(write_file) -> None:
    path = write_file(REPORT)

    assert find_sidecar(path) is None
    report = parse_junit_xml(path)

    assert report.run.project == "default"
    assert report.run.git_sha is None
    assert report.run.branch is None
    assert report.run.env == {}
    assert report.run.run_id == content_run_digest(report_sha256(path))
    assert report.run.source == "report.xml"
    assert all(r.tags == [] and r.owner is None for r in report.results)


def test_sidecar_beside_the_report_is_merged(write_file) -> None:
    path = write_file(REPORT)
    meta = write_file(json.dumps(META), "report.meta.json")

    assert find_sidecar(path) == meta
    report = parse_junit_xml(path)

    run = report.run
    assert run.project == "shop"
    assert run.session_id == "session-1"
    assert run.git_sha == "abcdef1234567890"
    assert run.branch == "main"
    assert run.env_fingerprint == "py3.12-linux"
    assert run.env == {"python": "3.12.1", "ci": "github"}
    assert run.started_at == "2026-01-02T03:04:05+00:00"
    assert run.finished_at == "2026-01-02T03:05:00+00:00"
    # Without a run_id in the sidecar, the id comes from both files' bytes.
    assert run.run_id == content_run_digest(report_sha256(path), meta.read_bytes())

    a, b, c = report.results
    assert a.test_id == test_id("shop", "tests.test_mod", "test_a")  # the sidecar's project
    assert (a.tags, a.owner) == (["smoke"], "@alice")  # keyed by test_id
    assert (b.tags, b.owner, b.markers, b.source_hash) == (
        ["payments", "slow"],
        "@bob",
        ["flaky"],
        "h1",
    )  # keyed by classname::name
    assert (c.tags, c.owner) == ([], None)


def test_sidecar_run_id_wins(write_file) -> None:
    path = write_file(REPORT)
    write_file(json.dumps({"run_id": "gh-123.4"}), "report.meta.json")

    assert parse_junit_xml(path).run.run_id == "gh-123.4"


def test_explicit_project_beats_the_sidecars(write_file) -> None:
    path = write_file(REPORT)
    write_file(json.dumps(META), "report.meta.json")

    report = parse_junit_xml(path, project="other")

    assert report.run.project == "other"
    assert report.results[0].test_id == test_id("other", "tests.test_mod", "test_a")
    assert report.results[0].tags == []  # that key was the shop project's test_id


def test_detect_sidecar_false_ignores_it(write_file) -> None:
    path = write_file(REPORT)
    write_file(json.dumps(META), "report.meta.json")

    assert parse_junit_xml(path, detect_sidecar=False).run.project == "default"


@pytest.mark.parametrize("form", ["path", "str", "bytes", "model"])
def test_explicit_meta(write_file, form: str) -> None:
    path = write_file(REPORT)
    meta_path = write_file(json.dumps(META), "elsewhere/any-name.json")
    meta = {
        "path": meta_path,
        "str": str(meta_path),
        "bytes": meta_path.read_bytes(),
        "model": parse_sidecar(meta_path.read_bytes()),
    }[form]

    report = parse_junit_xml(path, meta=meta)

    assert report.run.branch == "main"
    assert report.results[1].owner == "@bob"


def test_explicit_meta_beats_the_one_beside_the_report(write_file) -> None:
    path = write_file(REPORT)
    write_file(json.dumps({"branch": "beside"}), "report.meta.json")
    explicit = write_file(json.dumps({"branch": "explicit"}), "explicit.json")

    assert parse_junit_xml(path, meta=explicit).run.branch == "explicit"


def test_sidecar_with_bytes_report(write_file) -> None:
    # No path, so nothing to look beside: only an explicit sidecar applies.
    report = parse_junit_xml(REPORT, meta=json.dumps({"branch": "b"}).encode())

    assert report.run.branch == "b"
    assert report.run.source is None


def test_sidecar_round_trips_through_dump() -> None:
    sidecar = parse_sidecar(json.dumps(META))

    again = parse_sidecar(sidecar.dump())

    assert again == sidecar
    assert isinstance(again, Sidecar)
    assert "unknown_future_field" not in sidecar.dump().decode()


# -- malformed sidecars ----------------------------------------------------------------------


def test_json_nested_too_deeply_is_a_sidecar_error() -> None:
    """Found by the hostile-input tests: Python's RecursionError escaped as a server 500."""
    with pytest.raises(SidecarError, match="not valid JSON: arrays or objects nested too deeply"):
        parse_sidecar(b"[" * 100_000, "deep.meta.json")
    nested = b'{"branch": "main", "x": ' + b"[" * 200 + b"]" * 200 + b"}"
    assert parse_sidecar(nested).branch == "main"  # deep, but Python reads it: ignored field


def test_bad_json_names_the_file_line_and_column(write_file) -> None:
    path = write_file(REPORT)
    meta = write_file('{\n  "branch": "main",\n  oops\n}', "report.meta.json")

    with pytest.raises(SidecarError) as info:
        parse_junit_xml(path)

    error = info.value
    assert error.source == str(meta)
    assert (error.line, error.column) == (3, 3)
    assert str(error).startswith(f"{meta}:3:3: not valid JSON")


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ({"git_sha": "not-a-sha"}, "git_sha"),
        ({"branch": ["main"]}, "branch"),
        ({"env": {"python": 3.12}}, "env.python"),
        ({"started_at": "yesterday"}, "started_at"),
        ({"run_id": "has spaces"}, "run_id"),
        ({"project": ""}, "project"),
        ({"tests": {"c::n": {"tags": "smoke"}}}, "tests.c::n.tags"),
        ({"tests": {"c::n": {"owner": 7}}}, "tests.c::n.owner"),
        ({"tests": ["c::n"]}, "tests"),
    ],
)
def test_bad_field_is_named(write_file, content: dict[str, object], field: str) -> None:
    meta = write_file(json.dumps(content), "report.meta.json")

    with pytest.raises(SidecarError) as info:
        parse_junit_xml(write_file(REPORT))

    assert f"invalid field '{field}'" in info.value.reason
    assert str(info.value).startswith(f"{meta}: ")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("[1, 2]", "must be a JSON object"),
        ('"text"', "must be a JSON object"),
        ('{"schema_version": 2}', "unsupported schema_version 2"),
        ("", "not valid JSON"),
        (b"\xff\xfe{", "not valid JSON"),
    ],
)
def test_wrong_shape_is_refused(content: str | bytes, reason: str) -> None:
    with pytest.raises(SidecarError, match=reason) as info:
        parse_sidecar(content, "meta.json")

    assert info.value.source == "meta.json"


def test_missing_explicit_sidecar_is_an_error(write_file, tmp_path: Path) -> None:
    missing = tmp_path / "missing.meta.json"

    with pytest.raises(SidecarError, match="cannot read the file") as info:
        parse_junit_xml(write_file(REPORT), meta=missing)
    assert info.value.source == str(missing)


def test_sidecar_error_is_not_a_parse_error() -> None:
    with pytest.raises(SidecarError) as info:
        parse_sidecar("[]")

    assert isinstance(info.value, TestvizInputError)
    assert not isinstance(info.value, JUnitParseError)


# -- the check before an upload is queued ------------------------------------------------------


def _verdict(check: object, data: bytes | str) -> tuple[str, object]:
    """What a sidecar reader says: its error, or the run's fields it read."""
    try:
        sidecar = check(data, "meta.json")  # type: ignore[operator]
    except SidecarError as exc:
        return "refused", str(exc)
    return "read", {name: getattr(sidecar, name) for name in SidecarRun.model_fields}


_NUL = "\\u0000"  # the JSON escape
AGREEING = [
    json.dumps(META),
    json.dumps({**META, "tests": {"c::n": {"attempts": [{"status": "error", "message": "x"}]}}}),
    json.dumps({"tests": {"c::n": {"owner": 7}, "c::m": {"tags": ["ok"]}}}),
    json.dumps({"tests": {"c::n": {"tags": "smoke"}}}),
    json.dumps({"tests": ["c::n"]}),
    json.dumps({"tests": {"c::n": None}}),
    json.dumps({"git_sha": "not-a-sha", "tests": {"c::n": {"owner": 7}}}),
    json.dumps({"project": "", "tests": {}}),
    json.dumps({"tests": {"c::n": {"owner": "o" * 1025}}}),
    json.dumps({"tests": {"c::n": {"owner": "lone \ud800"}}}),
    '{"tests": {"c::n": {"owner": "a' + _NUL + 'b"}}}',  # in an entry
    '{"branch": "m' + _NUL + '", "tests": {}}',
    '{"tests": {"c' + _NUL + '::n": {}}}',
    '{"branch": "a\\\\u0000b"}',  # an escaped backslash, then "u0000": no NUL
    ("{" + '"tests": {"c::n": {"owner": "a' + _NUL + '"}}}').encode("utf-16"),
    json.dumps({**META, "schema_version": 2}),
    "[1]",
    "{oops",
]


@pytest.mark.parametrize("data", AGREEING)
def test_the_upload_check_agrees_with_the_parse(data: str | bytes) -> None:
    """Queued uploads are checked with check_sidecar, ingested with parse_sidecar: the same
    sidecars pass, and a bad one gets the same words from both."""
    assert _verdict(check_sidecar, data) == _verdict(parse_sidecar, data)


def test_the_upload_check_finds_a_nul_in_an_entry() -> None:
    data = '{"tests": {"c::n": {"tags": ["ok"], "owner": "a' + _NUL + '"}}}'

    verdict, message = _verdict(check_sidecar, data)

    assert verdict == "refused"
    assert "'tests.c::n.owner' contains a NUL character" in str(message)


_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(
        ["", "ok", "o" * 1025, "a\x00b", "\ud800", "é", "2026-01-02T03:04:05Z", "xpassed"]
    ),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)
_ENTRIES = st.dictionaries(
    st.sampled_from(
        [
            "tags",
            "owner",
            "markers",
            "source_hash",
            "nodeid",
            "attempts",
            "outcome",
            "subtests_failed",
            "subtests_passed",
            "other",
        ]
    ),
    _VALUES,
    max_size=4,
)


@given(
    run=st.dictionaries(
        st.sampled_from(["run_id", "project", "branch", "git_sha", "env", "started_at"]),
        _VALUES,
        max_size=3,
    ),
    tests=st.dictionaries(st.text(max_size=4), _ENTRIES | _VALUES, max_size=4) | _VALUES,
)
def test_the_upload_check_agrees_with_the_parse_on_any_document(
    run: dict[str, object], tests: object
) -> None:
    data = json.dumps({**run, "tests": tests})
    assert _verdict(check_sidecar, data) == _verdict(parse_sidecar, data)
