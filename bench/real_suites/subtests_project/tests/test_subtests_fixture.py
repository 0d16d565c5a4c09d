"""pytest 9's built-in ``subtests`` fixture: passing, failing, skipped and xfailed subtests."""

import pytest


def test_all_subtests_pass(subtests: pytest.Subtests) -> None:
    for number in range(3):
        with subtests.test(msg="even", number=number):
            assert (number * 2) % 2 == 0


def test_one_subtest_fails(subtests: pytest.Subtests) -> None:
    for number in range(3):
        with subtests.test(number=number):
            assert number != 1, "one is not allowed"


def test_two_subtests_fail(subtests: pytest.Subtests) -> None:
    for word in ("alpha", "beta", "gamma"):
        with subtests.test(word=word):
            assert word.startswith("a"), f"{word} does not start with a"


def test_subtest_skipped(subtests: pytest.Subtests) -> None:
    with subtests.test(msg="runs"):
        assert True
    with subtests.test(msg="skips"):
        pytest.skip("not on this platform")


def test_subtest_xfails(subtests: pytest.Subtests) -> None:
    with subtests.test(msg="known bug"):
        pytest.xfail("known bug in the subject under test")
    with subtests.test(msg="fine"):
        assert True


def test_subtest_fails_then_test_fails(subtests: pytest.Subtests) -> None:
    with subtests.test(msg="first"):
        assert len("ab") == 3
    raise AssertionError("the test itself fails too")


@pytest.mark.parametrize("size", [1, 2])
def test_parametrized_subtests(subtests: pytest.Subtests, size: int) -> None:
    for index in range(size):
        with subtests.test(index=index):
            assert index < 1


def test_no_subtests() -> None:
    assert sum([1, 2]) == 3


def test_plain_target_a() -> None:
    assert "a".upper() == "A"


def test_plain_target_b() -> None:
    assert "b".upper() == "B"


def test_plain_target_c() -> None:
    assert "c".upper() == "C"
