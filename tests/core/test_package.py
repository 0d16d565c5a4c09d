"""The core's public names load on first use."""

from __future__ import annotations

import sys

import pytest

import pytest_testviz.core as core


@pytest.mark.parametrize("name", core.__all__)
def test_every_public_name_resolves_to_its_home_module(name: str) -> None:
    value = getattr(core, name)
    home = core._HOMES[name]
    assert value is getattr(sys.modules[f"pytest_testviz.core.{home}"], name)


def test_public_names_and_their_homes_agree() -> None:
    assert sorted(core.__all__) == sorted(core._HOMES)
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        core.nothing_here  # noqa: B018
