"""error_fingerprint: one short hash per reason for failing, blind to incidental detail."""

from __future__ import annotations

import re

import pytest

from pytest_testviz.core import _extract_error_fingerprint, error_fingerprint, normalise_message

from .helpers import case, junit, read


def fp(message: str, text: str | None = None, error_type: str | None = None) -> str | None:
    return error_fingerprint(error_type, message, text)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("AssertionError: failed at line 42", "AssertionError: failed at line 7"),
        ("assert failed in tests/test_x.py:42", "assert failed in tests/test_x.py:7"),
        ("at com.example.Foo.bar(Foo.java:42)", "at com.example.Foo.bar(Foo.java:7)"),
        (
            "at Object.<anonymous> (src/a.test.js:4:46)",
            "at Object.<anonymous> (src/a.test.js:10:2)",
        ),
        ("<Foo object at 0x7f3a2b1c4d50> is broken", "<Foo object at 0x55d0deadbeef> is broken"),
        ("expired at 2026-11-29T06:23:51.038744+00:00", "expired at 2025-01-02T11:22:33Z"),
        ("expired at 2026-11-29 06:23:51", "expired at 2024-02-03 01:02:03"),
        ("stamp 2026-11-29 bad", "stamp 2021-01-01 bad"),
        ("timed out at 12:34:56", "timed out at 01:02:03.5"),
        ("took 1.234s", "took 15ms"),
        ("Timeout of 2000ms exceeded", "Timeout of 5000ms exceeded"),
        ("waited 3 seconds", "waited 12 seconds"),
        (
            "no row 123e4567-e89b-12d3-a456-426614174000",
            "no row 9F1C2E3D-0000-4ABC-8DEF-0123456789AB",
        ),
        (
            "FileNotFoundError: No such file: '/tmp/pytest-of-user/pytest-12/test_foo0/data.txt'",
            "FileNotFoundError: No such file: '/tmp/pytest-of-ci/pytest-345/test_foo1/data.txt'",
        ),
        (  # pytest's base temp under a TMPDIR that is not /tmp
            "no file /run/user/1000/pytest-of-user/pytest-12/test_foo0/data.txt",
            "no file /run/user/1001/pytest-of-ci/pytest-3/test_foo1/data.txt",
        ),
        ("cannot open /tmp/tmpab12cd/x.json", "cannot open /tmp/tmpzz99yy/x.json"),
        ("cannot open /var/folders/ab/cd1/T/tmpx/y", "cannot open /var/folders/zz/q9/T/tmpq/y"),
        (
            r"cannot open C:\Users\me\AppData\Local\Temp\tmp1\x",
            r"cannot open C:\Users\ci\AppData\Local\Temp\tmp2\x",
        ),
        ("process 12345 exited", "process 999 exited"),
        ("worker pid=4242 died", "worker pid=7 died"),
        ("connect to localhost:54321 refused", "connect to localhost:8080 refused"),
        ("connect to 127.0.0.1:5432 refused", "connect to 127.0.0.1:60000 refused"),
        ("connect to [::1]:5432 refused", "connect to [::1]:60000 refused"),
        ("connect to db.example.com:5432 refused", "connect to db.example.com:6543 refused"),
        ("port 5000 already in use", "port 6001 already in use"),
        ("a   lot\n of\tspace", "a lot of space"),
    ],
)
def test_incidental_detail_is_masked(first: str, second: str) -> None:
    assert normalise_message(first) == normalise_message(second)
    assert fp(first) == fp(second)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("assert x == 3", "assert x == 4"),
        ("expected 3 items, got 4", "expected 3 items, got 5"),
        ("KeyError: 'name'", "KeyError: 'email'"),
        ("connection refused", "connection reset"),
    ],
)
def test_significant_detail_is_kept(first: str, second: str) -> None:
    assert fp(first) != fp(second)


def test_exception_type_matters() -> None:
    assert fp("boom", error_type="KeyError") != fp("boom", error_type="AssertionError")
    assert fp("KeyError: 'x'") != fp("AssertionError: 'x'")
    # A type attribute and a "Type:" message prefix are the same type.
    assert fp("KeyError: 'x'") == fp("KeyError: 'x'", error_type="KeyError")


PY_TRACE = """Traceback (most recent call last):
  File "/src/tests/test_a.py", line {line}, in test_a
    helper()
  File "/src/tests/helpers.py", line 9, in {frame}
    raise KeyError("x")
KeyError: 'x'"""

JAVA_TRACE = """java.lang.IllegalStateException: bad state
\tat com.example.Service.{frame}(Service.java:{line})
\tat com.example.ServiceTest.runs(ServiceTest.java:20)"""

PYTEST_TRACE = """def test_a():
>       {frame}()

tests/test_a.py:{line}:
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _

    def {frame}():
>       assert False
E       assert False

tests/test_a.py:9: in {frame}
    assert False
E   assert False"""


@pytest.mark.parametrize(
    "trace", [PY_TRACE, JAVA_TRACE, PYTEST_TRACE], ids=["python", "java", "pytest"]
)
def test_traceback_frames_matter_but_their_line_numbers_do_not(trace: str) -> None:
    message = "it broke"

    same_a = fp(message, trace.format(frame="helper", line=3))
    same_b = fp(message, trace.format(frame="helper", line=33))
    other = fp(message, trace.format(frame="other_helper", line=3))

    assert same_a == same_b
    assert same_a != other


def test_text_stands_in_for_a_missing_message() -> None:
    go_a = error_fingerprint(None, None, "--- FAIL: TestX (0.01s)\n    x_test.go:12: got 1 want 2")
    go_b = error_fingerprint(None, None, "--- FAIL: TestX (0.53s)\n    x_test.go:40: got 1 want 2")
    go_c = error_fingerprint(None, None, "--- FAIL: TestX (0.01s)\n    x_test.go:12: got 3 want 2")

    assert go_a == go_b
    assert go_a != go_c


def test_fingerprints_are_16_hex_chars() -> None:
    value = fp("AssertionError: nope")

    assert value is not None
    assert re.fullmatch(r"[0-9a-f]{16}", value)


def test_nothing_to_fingerprint_gives_none() -> None:
    assert error_fingerprint(None, None, None) is None
    assert error_fingerprint(None, "", "") is None


def test_specification_name_is_the_same_function() -> None:
    assert _extract_error_fingerprint is error_fingerprint


def test_parser_fingerprints_only_failures_and_errors() -> None:
    results = read(
        junit(
            case("passed"),
            case("skipped", body='<skipped message="later"/>'),
            case("failed", body='<failure message="assert 1 == 2">trace</failure>'),
            case("errored", body='<error message="OSError: disk">trace</error>'),
        )
    )

    fingerprints = {r.name: r.fingerprint for r in results}
    assert fingerprints["passed"] is None
    assert fingerprints["skipped"] is None
    assert fingerprints["failed"] is not None
    assert fingerprints["errored"] is not None
    assert fingerprints["failed"] != fingerprints["errored"]


def test_same_failure_in_two_runs_shares_a_fingerprint() -> None:
    run_a = junit(
        case(
            "t",
            body='<failure message="timeout after 1.5s at 0x7f00aa11bb22" '
            'type="TimeoutError">File "/tmp/pytest-of-a/pytest-1/t0/x.py", line 3, in t</failure>',
        )
    )
    run_b = junit(
        case(
            "t",
            body='<failure message="timeout after 2.25s at 0x7f11cc22dd33" '
            'type="TimeoutError">File "/tmp/pytest-of-b/pytest-9/t0/x.py", line 30, in t</failure>',
        )
    )

    assert read(run_a)[0].fingerprint == read(run_b)[0].fingerprint
