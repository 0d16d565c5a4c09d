"""The same tests get the same ``test_id`` from the plugin's report and from pytest's own
``--junitxml``, whichever ``junit_family`` pytest writes."""

from __future__ import annotations

import pytest

from pytest_testviz.core import parse_junit_xml

from .conftest import Testviz
from .test_plugin_run import EVERY_OUTCOME, SUBTESTS

NAMES = """
import pytest

@pytest.mark.parametrize(
    "text", ["a b", "a  b", "ü", "x\\x01y", "[nested]", "dots.and/slashes"]
)
def test_odd_params(text):
    assert text

class TestOuter:
    class TestInner:
        def test_deep(self):
            pass

    @pytest.mark.parametrize("n", [1, 2], ids=["one", "two"])
    def test_ids(self, n):
        pass
"""

SKIPPED_MODULE = """
import pytest

pytest.skip("not on this platform", allow_module_level=True)

def test_never():
    pass
"""

DOCTESTS = '''
def double(n):
    """
    >>> double(2)
    4
    """
    return n * 2
'''


@pytest.mark.parametrize("family", ["xunit1", "xunit2"])
def test_same_ids_as_pytests_junitxml(testviz: Testviz, family: str) -> None:
    testviz.pytester.makepyfile(test_outcomes=EVERY_OUTCOME, test_subtests=SUBTESTS)
    package = testviz.pytester.mkpydir("pkg")
    (package / "test_names.py").write_text(NAMES, encoding="utf-8")
    (package / "test_skipped_module.py").write_text(SKIPPED_MODULE, encoding="utf-8")
    (package / "doubling.py").write_text(DOCTESTS, encoding="utf-8")
    theirs = testviz.pytester.path / "theirs.xml"

    testviz.run(*testviz.dir_args, "--doctest-modules")
    testviz.pytester.runpytest_inprocess(
        "-o", f"junit_family={family}", f"--junitxml={theirs}", "--doctest-modules"
    )

    (ours,) = testviz.directory.glob("*.xml")
    mine = parse_junit_xml(ours, project="parity")
    pytests = parse_junit_xml(theirs, project="parity")
    # pytest's XML cannot tell an xpass from a pass; the plugin's sidecar does.
    xpass = ("test_outcomes", "test_xpass")
    assert {(r.classname, r.name): r.status for r in mine.results} == {
        (r.classname, r.name): "xpassed" if (r.classname, r.name) == xpass else r.status
        for r in pytests.results
    }
    assert {r.test_id: (r.fingerprint, r.subtests_failed) for r in mine.results} == {
        r.test_id: (r.fingerprint, r.subtests_failed) for r in pytests.results
    }
    # the outcomes, the names, the module skipped whole, the doctest, the subtests
    assert len(mine.results) == 12 + 9 + 1 + 1 + 3
