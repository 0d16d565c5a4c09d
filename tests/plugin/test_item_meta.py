"""Per-item metadata on collected items: the fields for each way a test can be marked, and
source hashes pinned to their values -- the server keeps them, so they must never change."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_testviz.session import ItemMeta, source_hash

MODULE = """
import functools

import pytest

pytestmark = [pytest.mark.testviz(owner="team-a", tags="module"), pytest.mark.slow]


def decorated(function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return function(*args, **kwargs)

    return wrapper


def test_plain():
    value = 1

    # a comment is part of the body
    assert value


def test_renamed():
    value = 1

    # a comment is part of the body
    assert value


@decorated
def test_decorated():
    assert True


@pytest.mark.testviz(owner="team-b", tags=("x", "y"))
def test_own_owner():
    pass


@pytest.mark.smoke
@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    assert n
def test_right_after():
    pass


async def test_async():
    pass


@pytest.mark.smoke
class TestGroup:
    def test_method(self):
        if True:
            pass

    @pytest.mark.testviz(tags=5)
    def test_tags_number(self):
        pass
"""

HASHES = {
    "test_plain": "884426ef28c14078",
    "test_renamed": "884426ef28c14078",  # a rename keeps the hash
    "test_decorated": "e250660e1da089b0",  # the body of the function it wraps
    "test_own_owner": "d74ff0ee8da3b980",
    "test_param[1]": "af7fcab8f8803aa5",
    "test_param[2]": "af7fcab8f8803aa5",
    "test_right_after": "d74ff0ee8da3b980",
    "test_async": "d74ff0ee8da3b980",
    "test_method": "2f7fc9a1b952b666",
    "test_tags_number": "d74ff0ee8da3b980",
}

MODULE_FIELDS = {"tags": ["module", "slow"], "owner": "team-a", "markers": ["slow", "testviz"]}

FIELDS: dict[str, dict[str, Any]] = {
    "test_plain": MODULE_FIELDS,
    "test_renamed": MODULE_FIELDS,
    "test_decorated": MODULE_FIELDS,
    "test_own_owner": {
        "tags": ["slow", "x", "y"],
        "owner": "team-b",
        "markers": ["slow", "testviz"],
    },
    "test_param[1]": {
        "tags": ["module", "slow", "smoke"],
        "owner": "team-a",
        "markers": ["parametrize", "slow", "smoke", "testviz"],
    },
    "test_right_after": MODULE_FIELDS,
    "test_async": MODULE_FIELDS,
    "test_method": {
        "tags": ["module", "slow", "smoke"],
        "owner": "team-a",
        "markers": ["slow", "smoke", "testviz"],
    },
    "test_tags_number": {"tags": ["5", "slow", "smoke"], "markers": ["slow", "smoke", "testviz"]},
}


@pytest.fixture
def items(pytester: pytest.Pytester) -> dict[str, pytest.Item]:
    pytester.makeini("[pytest]\nmarkers =\n    slow: long\n    smoke: quick\n")
    return {item.name: item for item in pytester.getitems(MODULE)}


def test_source_hashes_keep_their_values(items: dict[str, pytest.Item]) -> None:
    meta = ItemMeta()

    hashes = {name: meta(item).get("source_hash") for name, item in items.items()}

    assert hashes == HASHES


def test_fields_in_their_order(items: dict[str, pytest.Item]) -> None:
    meta = ItemMeta()

    fields = {name: meta(item) for name, item in items.items()}

    for name, expected in FIELDS.items():
        assert fields[name] == {**expected, "source_hash": HASHES[name]}
        assert list(fields[name]) == [*expected, "source_hash"]
    assert fields["test_param[1]"] is not fields["test_param[2]"]  # nothing shared


def test_without_source_nothing_is_hashed() -> None:
    assert source_hash(len) is None
    assert source_hash(type("Wrapper", (), {"__wrapped__": len})()) is None
