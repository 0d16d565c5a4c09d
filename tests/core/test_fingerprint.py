"""error_fingerprint: one short hash per cause of a failure, blind to incidental detail and to
which test reached the cause."""

from __future__ import annotations

import re

import pytest

from pytest_testviz.core import error_fingerprint, normalise_message
from pytest_testviz.core.fingerprint import _extract_error_fingerprint, frame_names

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


# -- incidental numbers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # id() printed in decimal
        ("handle id=140568058514896 closed", "handle id=139721493290768 closed"),
        # epoch seconds, as a float and as an integer, and epoch milliseconds
        ("expired at 1733310000.123", "expired at 1796400833.7697482"),
        ("created 1733310000, too old", "created 1796400833, too old"),
        ("deadline 1733310000123 passed", "deadline 1796400833774 passed"),
        # time.ctime(), and an HTTP date
        ("stale since Thu Dec  4 16:05:24 2026", "stale since Mon Jan 12 03:00:01 2027"),
        ("Date: Thu, 04 Dec 2026 16:05:24 GMT", "Date: Fri, 05 Dec 2026 01:02:03 GMT"),
        # Go's goroutine numbers
        ("Write at 0x00c000138168 by goroutine 8:", "Write at 0x00c0001a0000 by goroutine 12:"),
    ],
)
def test_incidental_numbers_are_masked(first: str, second: str) -> None:
    assert fp(first) == fp(second)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("expected 123456789 items", "expected 123456788 items"),  # nine digits: a count
        ("pi is 3.1415926535", "pi is 3.1415926536"),  # the digits of a fraction
        ("checksum a1234567890", "checksum a1234567891"),  # digits inside a word
    ],
)
def test_meaningful_numbers_are_kept(first: str, second: str) -> None:
    assert fp(first) != fp(second)


def test_a_raised_message_with_id_epoch_and_ctime_recurs_run_after_run() -> None:
    # As pytest reports `raise RuntimeError(f"handle id={id(h)} at {time.time()} on {ctime}")`.
    run_a = (
        "RuntimeError: handle id=140603185241360 at 1796400826.7365007 on Fri Dec  4 16:13:46 2026"
    )
    run_b = (
        "RuntimeError: handle id=139721493290768 at 1796400832.016526 on Sat Dec  5 09:01:02 2026"
    )

    assert fp(run_a) == fp(run_b)


# -- messages that say nothing specific ------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "error_type"),
    [
        ("Failed", ""),  # gotestsum, go-junit-report
        ("", None),
        ("failed", None),
        ("Test failed", None),
        ("Failure", None),
        ("Failed!", None),
        ("Build error", None),  # go-junit-report
        ("Runtime error", None),
        ("AssertionError", None),  # a bare exception type
        ("java.lang.AssertionError", "java.lang.AssertionError"),
    ],
)
def test_a_message_that_says_nothing_gives_way_to_the_text(
    message: str, error_type: str | None
) -> None:
    first = fp(message, "    calc_test.go:12: got 1, want 2", error_type)
    moved = fp(message, "    calc_test.go:40: got 1, want 2", error_type)
    other = fp(message, "    calc_test.go:12: got 3, want 2", error_type)

    assert first == moved
    assert first != other


def test_a_specific_message_is_not_replaced_by_the_text() -> None:
    assert fp("got 1, want 2", "some output\nmore output") == fp("got 1, want 2", "other output")


def gotestsum(name: str, line: int, said: str, seconds: str = "0.00") -> str:
    """A failure's text as gotestsum writes it: the test's whole output, scaffolding included."""
    return (
        f"=== RUN   {name}\n=== PAUSE {name}\n=== CONT  {name}\n"
        f"    fails_test.go:{line}: {said}\n--- FAIL: {name} ({seconds}s)\n"
    )


def test_go_failures_of_a_run_are_told_apart_by_their_text() -> None:
    fingerprints = {
        error_fingerprint("", "Failed", gotestsum(name, line, said))
        for name, line, said in [
            ("TestParallelTheFirst", 29, "failed the first"),
            ("TestParallelTheSecond", 35, "failed the second"),
            ("TestParallelTheThird", 41, "failed the third"),
            ("TestNestedParallelFailures/a", 50, "failed sub a"),
        ]
    }

    assert len(fingerprints) == 4


def test_a_go_failure_recurs_despite_its_line_and_duration() -> None:
    before = error_fingerprint("", "Failed", gotestsum("TestX", 29, "got 1, want 2", "0.01"))
    after = error_fingerprint("", "Failed", gotestsum("TestX", 31, "got 1, want 2", "1.52"))

    assert before == after


def test_a_failure_located_at_a_line_without_frames_is_grouped_per_test() -> None:
    # The same words at another line are another assertion (Catch2, Go's t.Errorf): with no
    # frames, only the test tells them apart; the same test failing alike stays one group.
    catch2_a = error_fingerprint(None, "false", "FAILED: REQUIRE( false ) at c2.cpp:10", "c::a")
    catch2_b = error_fingerprint(None, "false", "FAILED: REQUIRE( false ) at c2.cpp:14", "c::b")
    catch2_a_later = error_fingerprint(
        None, "false", "FAILED: REQUIRE( false ) at c2.cpp:12", "c::a"
    )
    go_a = error_fingerprint("", "Failed", gotestsum("TestA", 29, "got 1, want 2"), "p::TestA")
    go_b = error_fingerprint("", "Failed", gotestsum("TestB", 35, "got 1, want 2"), "p::TestB")

    assert catch2_a != catch2_b
    assert catch2_a == catch2_a_later
    assert go_a != go_b
    # Without a location the words are all there is: one group.
    assert error_fingerprint(None, "connection refused", None, "c::a") == error_fingerprint(
        None, "connection refused", None, "c::b"
    )


def test_go_scaffolding_alone_stands_for_the_test_a_subtest_failed() -> None:
    # A parent test fails because a subtest did: nothing but scaffolding in its text.
    parent_a = "=== RUN   TestNestedWithFailure\n--- FAIL: TestNestedWithFailure (0.00s)\n"
    parent_b = "=== RUN   TestNestedSuccess\n--- FAIL: TestNestedSuccess (0.00s)\n"

    assert error_fingerprint("", "Failed", parent_a) != error_fingerprint("", "Failed", parent_b)


def test_go_junit_report_output_before_the_test_report_counts() -> None:
    # go-junit-report keeps no scaffolding; stdout comes before the test's own reports.
    with_report = (
        "multi\nline\nstdout\nsingle-line stdout\n"
        "    stdout_test.go:11: single-line error\n    stdout_test.go:12: multi\n"
    )
    output_only = "multi\nline\nstdout\nsingle-line stdout"
    report_only = "    stdout_test.go:22: single-line error\n    stdout_test.go:23: multi\n"

    fingerprints = {error_fingerprint(None, "Failed", t) for t in (with_report, output_only)}
    fingerprints.add(error_fingerprint(None, "Failed", report_only))
    assert len(fingerprints) == 3


GO_PANIC = """panic: runtime error: index out of range [5] with length 3 [recovered]
\tpanic: runtime error: index out of range [5] with length 3

goroutine {goroutine} [running]:
testing.tRunner.func1.2({{0x5a5b40, 0xc0000a2018}})
\t/usr/local/go/src/testing/testing.go:1545 +0x238
panic({{0x5a5b40?, 0xc0000a2018?}})
\t/usr/local/go/src/runtime/panic.go:914 +0x21f
example.com/shop/cart.{function}(...)
\t/src/shop/cart/cart.go:{line}
example.com/shop/cart.{test}(0x0?)
\t/src/shop/cart/cart_test.go:8 +0x1d
testing.tRunner(0xc000007860, 0x5c2e88)
\t/usr/local/go/src/testing/testing.go:1595 +0xff
exit status 2"""


def test_a_go_panic_is_grouped_by_where_it_was_raised_not_by_the_test() -> None:
    def panic(function: str, test: str, goroutine: int = 7, line: int = 10) -> str | None:
        text = GO_PANIC.format(function=function, test=test, goroutine=goroutine, line=line)
        return error_fingerprint(None, "Failed", text)

    assert panic("Get", "TestGet") == panic("Get", "TestTotal", goroutine=19, line=12)
    assert panic("Get", "TestGet") != panic("Sum", "TestGet")


# -- the cause's frames, not the test's ------------------------------------------------------

# pytest's reports (--tb=auto, short, long, native) of one KeyError raised in pkg/core.py.
PYTEST_AUTO = """def {test}():
>       load("zz")

tests/{module}.py:4:
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _
pkg/core.py:8: in load
    return _lookup(data, key)
           ^^^^^^^^^^^^^^^^^^
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _

data = {{'a': 1}}, key = 'zz'

    def _lookup(data, key):
>       return data[key]
               ^^^^^^^^^
E       KeyError: 'zz'

pkg/core.py:13: KeyError"""

PYTEST_SHORT = """tests/{module}.py:4: in {test}
    load("zz")
pkg/core.py:8: in load
    return _lookup(data, key)
           ^^^^^^^^^^^^^^^^^^
pkg/core.py:13: in _lookup
    return data[key]
           ^^^^^^^^^
E   KeyError: 'zz'"""

PYTEST_LONG = """def {test}():
>       load("zz")

tests/{module}.py:4:
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _

key = 'zz'

    def load(key):
        data = {{"a": 1}}
>       return _lookup(data, key)
               ^^^^^^^^^^^^^^^^^^

pkg/core.py:8:
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _

data = {{'a': 1}}, key = 'zz'

    def _lookup(data, key):
>       return data[key]
               ^^^^^^^^^
E       KeyError: 'zz'

pkg/core.py:13: KeyError"""

PYTEST_NATIVE = """Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/_pytest/runner.py", line 361, in from_call
    result: TResult | None = func()
  File "/venv/lib/python3.11/site-packages/_pytest/python.py", line 187, in pytest_pyfunc_call
    result = testfunction(**testargs)
  File "/tmp/pytest-of-ci/pytest-3/t0/tests/{module}.py", line 4, in {test}
    load("zz")
  File "/tmp/pytest-of-ci/pytest-3/t0/pkg/core.py", line 8, in load
    return _lookup(data, key)
  File "/tmp/pytest-of-ci/pytest-3/t0/pkg/core.py", line 13, in _lookup
    return data[key]
           ~~~~^^^^^
KeyError: 'zz'"""

PYTEST_STYLES = [PYTEST_AUTO, PYTEST_SHORT, PYTEST_LONG, PYTEST_NATIVE]


@pytest.mark.parametrize("trace", PYTEST_STYLES, ids=["auto", "short", "long", "native"])
def test_one_cause_reached_from_different_tests_is_one_group(trace: str) -> None:
    reached = {
        fp("KeyError: 'zz'", trace.format(module=module, test=test))
        for module, test in [("test_a", "test_one"), ("test_a", "test_two"), ("test_b", "test_x")]
    }

    assert len(reached) == 1


def test_the_cause_is_the_same_whatever_the_traceback_style() -> None:
    styles = {
        fp("KeyError: 'zz'", t.format(module="test_a", test="test_one")) for t in PYTEST_STYLES
    }

    assert len(styles) == 1


def test_the_cause_frames_still_matter() -> None:
    trace = PYTEST_SHORT.format(module="test_a", test="test_one")

    assert fp("KeyError: 'zz'", trace) != fp("KeyError: 'zz'", trace.replace("_lookup", "_find"))


ASSERT_AUTO = """def {test}():
        x = 3
>       assert x == 4
E       assert 3 == 4

tests/{module}.py:15: AssertionError"""

ASSERT_NATIVE = """Traceback (most recent call last):
  File "/venv/lib/python3.11/site-packages/_pytest/python.py", line 187, in pytest_pyfunc_call
    result = testfunction(**testargs)
  File "/src/tests/{module}.py", line 15, in {test}
    assert x == 4
AssertionError: assert 3 == 4"""


@pytest.mark.parametrize("trace", [ASSERT_AUTO, ASSERT_NATIVE], ids=["auto", "native"])
def test_an_assert_in_the_test_itself_stays_with_its_test(trace: str) -> None:
    one = fp("assert 3 == 4", trace.format(module="test_a", test="test_assert"))
    same = fp("assert 3 == 4", trace.format(module="test_a", test="test_assert"))
    other_test = fp("assert 3 == 4", trace.format(module="test_a", test="test_other"))
    other_file = fp("assert 3 == 4", trace.format(module="test_b", test="test_assert"))

    assert one == same
    assert len({one, other_test, other_file}) == 3


UNITTEST_NATIVE = """Traceback (most recent call last):
  File "/usr/lib/python3.11/unittest/case.py", line 579, in _callTestMethod
    if method() is not None:
  File "/src/tests/test_u.py", line 5, in {test}
    self.assertEqual(3, 4)
  File "/usr/lib/python3.11/unittest/case.py", line 873, in assertEqual
    assertion_func(first, second, msg=msg)
  File "/usr/lib/python3.11/unittest/case.py", line 866, in _baseAssertEqual
    raise self.failureException(msg)
AssertionError: 3 != 4"""


def test_an_assertion_helper_the_test_called_counts_as_the_test() -> None:
    first = fp("AssertionError: 3 != 4", UNITTEST_NATIVE.format(test="test_eq"))
    second = fp("AssertionError: 3 != 4", UNITTEST_NATIVE.format(test="test_eq2"))
    short = fp(
        "AssertionError: 3 != 4", "tests/test_u.py:5: in test_eq\n    self.assertEqual(3, 4)"
    )

    assert first != second
    assert first == short  # unittest's own frames are left out


def test_a_fixture_error_in_conftest_groups_by_the_fixture_not_the_test() -> None:
    setup = """file tests/unit/test_{name}.py, line 64
  def test_{name}(self, cursor_db):
conftest.py:57: in cursor_db
    yield from _open_cursor_db(tmp_path_factory)
src/app/db.py:246: in _open_cursor_db
    raise RuntimeError(message)
E   RuntimeError: database is locked (pid {pid})"""
    message = 'failed on setup with "RuntimeError: database is locked (pid {pid})"'

    first = fp(message.format(pid=18753), setup.format(name="import", pid=18753))
    second = fp(message.format(pid=13174), setup.format(name="export", pid=13174))

    assert first == second


JAVA = """java.lang.IllegalStateException: no stock
\tat com.shop.Inventory.take(Inventory.java:{line})
\tat com.shop.Cart.add(Cart.java:31)
\tat com.shop.CartTest.{test}(CartTest.java:20)
\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(Unknown Source)
\tat org.junit.platform.engine.support.hierarchical.NodeTestTask.execute(NodeTestTask.java:90)"""

JAVA_ASSERT = """org.opentest4j.AssertionFailedError: expected: <1> but was: <2>
\tat org.junit.jupiter.api.AssertionUtils.fail(AssertionUtils.java:55)
\tat org.junit.jupiter.api.Assertions.assertEquals(Assertions.java:145)
\tat com.shop.CartTest.{test}(CartTest.java:{line})
\tat java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke(Unknown Source)"""


def test_java_an_exception_from_the_code_groups_across_tests() -> None:
    message = "no stock"

    first = fp(message, JAVA.format(test="addsOne", line=12))
    second = fp(message, JAVA.format(test="addsTwo", line=14))

    assert first == second


def test_java_an_assertion_in_the_test_stays_with_its_test() -> None:
    message = "expected: <1> but was: <2>"

    first = fp(message, JAVA_ASSERT.format(test="addsOne", line=20))
    moved = fp(message, JAVA_ASSERT.format(test="addsOne", line=27))
    second = fp(message, JAVA_ASSERT.format(test="addsTwo", line=20))

    assert first == moved
    assert first != second


def test_javascript_an_error_thrown_in_the_code_groups_across_tests() -> None:
    error = "TypeError: Cannot read properties of undefined (reading 'id')"
    direct = """{error}
    at total (src/cart.js:4:20)
    at Object.<anonymous> (src/cart.test.js:7:5)
    at Promise.then.completed (node_modules/jest-circus/build/utils.js:298:28)"""
    through_a_helper = """{error}
    at total (src/cart.js:4:20)
    at addAndTotal (test/helpers.js:3:10)
    at Context.<anonymous> (test/checkout.spec.js:19:5)
    at process.processImmediate (node:internal/timers:476:21)"""

    assert fp("Cannot read", direct.format(error=error)) == fp(
        "Cannot read", through_a_helper.format(error=error)
    )


def test_dotnet_frames_run_into_the_message_are_read() -> None:
    # The VSTest TRX converter writes the first frame on the message's last line.
    trace = (
        "Assert.True() Failure\r\nExpected: True\r\nActual:   False"
        "   at Tests.CalculatorTests.{test}(Int32 i) in C:\\src\\Tests\\CalculatorTests.cs:line 59"
    )
    message = "Assert.True() Failure\r\nExpected: True\r\nActual:   False"

    assert fp(message, trace.format(test="Is_Even")) != fp(message, trace.format(test="Is_Odd"))


@pytest.mark.parametrize(
    ("text", "names"),
    [
        (PYTEST_AUTO.format(module="test_a", test="test_one"), ["test_one", "load", "_lookup"]),
        (PYTEST_LONG.format(module="test_a", test="test_one"), ["test_one", "load", "_lookup"]),
        (PYTEST_SHORT.format(module="test_a", test="test_one"), ["test_one", "load", "_lookup"]),
        (
            JAVA.format(test="addsOne", line=12),
            [
                "org.junit.platform.engine.support.hierarchical.NodeTestTask.execute",
                "java.base/jdk.internal.reflect.DirectMethodHandleAccessor.invoke",
                "com.shop.CartTest.addsOne",
                "com.shop.Cart.add",
                "com.shop.Inventory.take",
            ],
        ),
        (
            GO_PANIC.format(function="Get", test="TestGet", goroutine=7, line=10),
            [
                "testing.tRunner",
                "example.com/shop/cart.TestGet",
                "example.com/shop/cart.Get",
                "panic",
                "testing.tRunner.func1.2",
            ],
        ),
        (  # pytest writes a long entry's location line with a trailing space
            "def test_one():\n>       load()\n\ntests/test_a.py:4: \n_ _ _ _ _ \n\n"
            "    def load():\n>       raise KeyError\nE       KeyError\n\npkg/core.py:8: KeyError",
            ["test_one", "load"],
        ),
    ],
    ids=["pytest-auto", "pytest-long", "pytest-short", "java", "go-panic", "pytest-spaces"],
)
def test_frame_names_read_every_format_outermost_first(text: str, names: list[str]) -> None:
    assert frame_names(text) == names


# -- doctests ---------------------------------------------------------------------------------

# pytest's report of a doctest that raised, as its own --junitxml and this plugin write it.
DOCTEST_RAISED = """026 Get.
027
028     >>> get({{}})
UNEXPECTED EXCEPTION: {exception}
Traceback (most recent call last):
  File "/usr/lib/python3.11/doctest.py", line 1353, in __run
    exec(compile(example.source, filename, "single",
  File "<doctest pkg.{module}.get[0]>", line 1, in <module>
  File "{root}/pkg/{module}.py", line 31, in get
    return d["missing"]
           ~^^^^^^^^^^^
{last_line}
{root}/pkg/{module}.py:28: UnexpectedException"""

DOCTEST_WRONG = """001 Usage
002 =====
003
004 >>> 1 + 1
Expected:
    3
Got:
    {got}

{root}/{file}:4: DocTestFailure"""


def doctest_raised(
    exception: str = "KeyError('missing')",
    last_line: str = "KeyError: 'missing'",
    module: str = "core",
    root: str = "/home/ci/shop",
    message: str | None = None,
) -> str | None:
    text = DOCTEST_RAISED.format(exception=exception, last_line=last_line, module=module, root=root)
    if message is None:  # the plugin's message: only the last line
        message = text.rpartition("\n")[2]
    return error_fingerprint(None, message, text)


def test_doctest_exceptions_of_different_types_do_not_share_a_group() -> None:
    key_error = doctest_raised()
    type_error = doctest_raised(
        exception="TypeError(\"unsupported operand type(s) for *: 'NoneType' and 'int'\")",
        last_line="TypeError: unsupported operand type(s) for *: 'NoneType' and 'int'",
    )

    assert key_error != type_error


def test_doctests_of_different_files_at_the_same_line_do_not_share_a_group() -> None:
    assert doctest_raised(module="core", root="/tmp/tmpab12cd") != doctest_raised(
        module="cart", root="/tmp/tmpzz99yy"
    )


def test_a_doctest_recurs_under_another_temporary_directory() -> None:
    assert doctest_raised(root="/tmp/pytest-of-a/pytest-1/x0") == doctest_raised(
        root="/tmp/pytest-of-b/pytest-7/x3"
    )


def test_a_doctest_reads_alike_from_pytests_junitxml_and_from_the_plugin() -> None:
    # pytest's own --junitxml writes the whole report as the message too.
    whole = DOCTEST_RAISED.format(
        exception="KeyError('missing')",
        last_line="KeyError: 'missing'",
        module="core",
        root="/home/ci/shop",
    )

    assert doctest_raised(message=whole) == doctest_raised()


def test_doctest_wrong_output_is_told_apart_by_output_and_file() -> None:
    def wrong(got: str, file: str = "docs/usage.rst", root: str = "/tmp/tmpab12cd") -> str | None:
        text = DOCTEST_WRONG.format(got=got, file=file, root=root)
        return error_fingerprint(None, text.rpartition("\n")[2], text)

    assert wrong("2") == wrong("2", root="/tmp/tmpzz99yy")
    assert wrong("2") != wrong("5")
    assert wrong("2") != wrong("2", file="README.rst")


def test_assertion_helpers_by_name_or_behind_a_module_prefix_keep_tests_apart() -> None:
    # Two tests failing in the same assertion helper are two failures, not one cause.
    mock_a = (
        'Traceback (most recent call last):\n  File "tests/test_a.py", line 5, in test_a\n'
        "    m.assert_called_once()\n"
        '  File "/usr/lib/python3.11/unittest/mock.py", line 918, in assert_called_once\n'
        "    raise AssertionError(msg)\n"
    )
    mock_b = mock_a.replace("test_a", "test_b")
    message = "AssertionError: Expected 'mock' to have been called once. Called 0 times."
    assert fp(message, mock_a) != fp(message, mock_b)

    gradle = (
        "org.opentest4j.AssertionFailedError: expected: <true> but was: <false>\n"
        "\tat app//org.junit.jupiter.api.AssertionUtils.fail(AssertionUtils.java:55)\n"
        "\tat app//org.junit.jupiter.api.Assertions.assertTrue(Assertions.java:40)\n"
        "\tat app//com.shop.CartTest.{test}(CartTest.java:12)\n"
    )
    said = "expected: <true> but was: <false>"
    assert fp(said, gradle.format(test="adds")) != fp(said, gradle.format(test="removes"))
