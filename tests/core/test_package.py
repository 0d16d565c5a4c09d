"""The core's public names load on first use, and the plugin's modules do without the reader."""

from __future__ import annotations

import subprocess
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


def test_the_plugins_modules_do_not_load_the_xml_reader_pydantic_or_requests() -> None:
    """Every pytest run with the plugin switched on imports these, writes a usual sidecar and
    may send it: lxml, pydantic and requests stay out (pydantic alone costs about 0.15 s,
    requests 0.1 s)."""
    code = (
        "import sys, datetime, pytest_testviz.session, pytest_testviz.spool;"
        "import pytest_testviz.upload;"
        "from pytest_testviz.writer import sidecar;"
        "from pytest_testviz.capture import TestRecord;"
        "now = datetime.datetime.now(datetime.timezone.utc);"
        "record = TestRecord('t.py::test_p[1]', 't', 'test_p[1]');"
        "record.meta = {'tags': ['api'], 'markers': ['api', 'parametrize'], 'owner': '@team',"
        " 'source_hash': '0123456789abcdef'};"
        "sidecar(run_id='abc', project='shop', session_id='abc', git_sha='a' * 40,"
        " branch='main', env_fingerprint='f' * 16, env={'os': 'Linux'}, started=now,"
        " finished=now, producer='pytest-testviz', records=[record]);"
        "print(sorted(m for m in ('lxml', 'pydantic', 'requests', 'pytest_testviz.core.junit')"
        " if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
