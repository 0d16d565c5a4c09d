"""JUnitReader streams: a huge report is read testcase by testcase, never held whole."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_testviz.core import JUnitReader

from .helpers import subprocess_env

CASES = 200_000


def _write_big_report(path: Path, cases: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="utf-8"?>\n<testsuites><testsuite name="big">\n')
        for i in range(cases):
            if i % 1000 == 999:
                out.write(
                    f'<testcase classname="tests.test_big.TestBig" name="test_case[{i}]" '
                    f'time="0.001"><failure message="boom {i}">trace {i}</failure></testcase>\n'
                )
            else:
                out.write(
                    f'<testcase classname="tests.test_big.TestBig" name="test_case[{i}]" '
                    'time="0.001"/>\n'
                )
        out.write("</testsuite></testsuites>\n")


@pytest.fixture(scope="module")
def big_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("streaming") / "big.xml"
    _write_big_report(path, CASES)
    return path


# The process's peak resident size sees both Python objects and libxml2's tree: a reader
# that stopped freeing elements, or kept its results, fails this.
_PEAK_RSS_CHILD = """
import resource, sys
from pytest_testviz.core import JUnitReader
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
count = sum(1 for _ in JUnitReader(sys.argv[1]))
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(count, after - before)
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss is KiB on Linux only")
def test_200k_testcases_stream_in_bounded_process_memory(big_report: Path) -> None:
    child = subprocess.run(
        [sys.executable, "-c", _PEAK_RSS_CHILD, str(big_report)],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        check=True,
    )

    count, growth_kib = map(int, child.stdout.split())
    assert count == CASES
    # Streaming grows by about 55 MB here; keeping the tree (libxml2's nodes) takes ~235 MB.
    assert growth_kib < 150 * 1024, f"peak RSS grew by {growth_kib / 1024:.0f} MB"


class _CountingStream(io.RawIOBase):
    """A binary stream that records how many bytes have been handed out."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self._data.read(size)
        self.consumed += len(chunk)
        return chunk


def test_results_arrive_before_the_whole_stream_is_read() -> None:
    body = "".join(
        f'<testcase classname="c" name="t{i}"><system-out>{"x" * 1000}</system-out></testcase>'
        for i in range(5000)
    )
    data = f"<testsuites><testsuite name='s'>{body}</testsuite></testsuites>".encode()
    stream = _CountingStream(data)

    reader = iter(JUnitReader(stream, name="stream.xml"))
    first = next(reader)

    assert first.name == "t0"
    assert stream.consumed < len(data) // 2
    assert sum(1 for _ in reader) == 4999
    assert stream.consumed == len(data)
