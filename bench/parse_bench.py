"""Parser benchmark: testviz's JUnit XML reader against junitparser, ElementTree and a floor.

Generates a realistic pytest-style report (see ``_gen.py``), then times five ways of reading
it, each in a fresh subprocess so that the peak RSS is the method's own, interleaved over
``--repeat`` rounds so that drift on a shared machine hits every method alike:

* ``parse_junit_xml``  the whole Report: ids, fingerprints, folded results, totals
* ``JUnitReader``      testviz's streaming reader, results iterated and dropped
* ``junitparser``      ``JUnitXml.fromfile`` then every suite, case and result touched
* ``ElementTree``      ``xml.etree.ElementTree.iterparse``, the minimal equivalent work
* ``lxml floor``       ``lxml.etree.iterparse(tag="testcase")`` doing only ``elem.clear()``

Each child reports wall-clock and CPU seconds and its peak RSS; the table gives the median
of each and computes throughput and ratios from the CPU median, since on a shared machine the
wall clock also measures the neighbours.

Then streams a 1,000,000-testcase report through ``JUnitReader`` (``--skip-million`` to
skip) and says whether the targets are met. It never fails on a missed target: it prints.
Reports go to a temporary directory, removed afterwards, unless ``--workdir`` (e.g.
``bench/out``, which git ignores) keeps them.

    python bench/parse_bench.py [--repeat 3] [--tests 100000] [--skip-million] [--profile]
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from _gen import ReportStats, write_report

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MIB = 1024 * 1024
MILLION = 1_000_000

# Targets from the issue: throughput ratios (higher is faster) and a memory ceiling.
TARGET_VS_JUNITPARSER = 1.5
TARGET_VS_FLOOR = 0.3
TARGET_MILLION_RSS_MIB = 1024

_RESULT_TAGS = frozenset(("failure", "error", "skipped"))
_OUTPUT_TAGS = frozenset(("system-out", "system-err"))


def import_testviz() -> None:
    """Make ``pytest_testviz`` importable: installed, on PYTHONPATH, or else from the checkout."""
    try:
        importlib.import_module("pytest_testviz")
    except ImportError:
        sys.path.insert(0, str(REPO))
        importlib.import_module("pytest_testviz")


# -- the methods: each reads the report at ``path``; returns (testcases, non-passed) ----------


def run_parse_junit_xml(path: str) -> tuple[int, int | None]:
    from pytest_testviz.core import parse_junit_xml

    report = parse_junit_xml(path)
    return report.testcases, report.totals.tests - report.totals.passed


def run_junit_reader(path: str) -> tuple[int, int | None]:
    from pytest_testviz.core import JUnitReader

    cases = not_passed = 0
    for result in JUnitReader(path, project="bench"):
        cases += 1
        not_passed += result.status != "passed"
    return cases, not_passed


def run_junitparser(path: str) -> tuple[int, int | None]:
    from junitparser import JUnitXml

    cases = not_passed = 0
    for suite in JUnitXml.fromfile(path):
        for case in suite:  # a TestSuite yields its nested suites' cases too
            cases += 1
            _ = (case.name, case.classname, case.time)
            results = case.result
            not_passed += bool(results)
            for result in results:
                _ = (result.message, result.text)
    return cases, not_passed


def run_elementtree(path: str) -> tuple[int, int | None]:
    from xml.etree.ElementTree import iterparse

    cases = not_passed = 0
    for _event, elem in iterparse(path, events=("end",)):
        tag = elem.tag
        if tag == "testcase":
            cases += 1
            _ = (elem.get("name"), elem.get("classname"), elem.get("time"))
            failed = False
            for child in elem:
                if child.tag in _RESULT_TAGS:
                    failed = True
                    _ = (child.get("type"), child.get("message"), child.text)
                elif child.tag in _OUTPUT_TAGS:
                    _ = child.text
            not_passed += failed
            elem.clear()
        elif tag == "testsuite":
            elem.clear()
    return cases, not_passed


def run_lxml_floor(path: str) -> tuple[int, int | None]:
    from lxml import etree

    cases = 0
    for _event, elem in etree.iterparse(path, events=("end",), tag="testcase"):
        elem.clear()
        cases += 1
    return cases, None


@dataclass(frozen=True)
class Method:
    label: str
    run: Callable[[str], tuple[int, int | None]]
    imports: tuple[str, ...]  # imported before the clock starts


METHODS: dict[str, Method] = {
    "parse_junit_xml": Method("parse_junit_xml", run_parse_junit_xml, ("pytest_testviz.core",)),
    "reader": Method("JUnitReader (stream)", run_junit_reader, ("pytest_testviz.core",)),
    "junitparser": Method("junitparser", run_junitparser, ("junitparser",)),
    "elementtree": Method("ElementTree iterparse", run_elementtree, ("xml.etree.ElementTree",)),
    "floor": Method("lxml iterparse floor", run_lxml_floor, ("lxml.etree",)),
}


# -- one measurement, in a child process ------------------------------------------------------


@dataclass
class Sample:
    seconds: float  # wall clock
    cpu_seconds: float  # this process's user + system time
    rss_mib: float  # peak RSS of the whole child process
    base_rss_mib: float  # peak RSS after the imports, before reading
    cases: int
    not_passed: int | None


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(method: str, path: str) -> None:
    """Run one method once and print its Sample as JSON (the ``--child`` entry point)."""
    chosen = METHODS[method]
    if "pytest_testviz.core" in chosen.imports:
        import_testviz()
    for module in chosen.imports:
        importlib.import_module(module)
    base = _peak_rss_mib()
    start, cpu_start = time.perf_counter(), time.process_time()
    cases, not_passed = chosen.run(path)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(json.dumps(Sample(seconds, cpu, _peak_rss_mib(), base, cases, not_passed).__dict__))


def measure(method: str, path: Path) -> Sample | None:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", method, str(path)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"  ! {method} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
        return None
    return Sample(**json.loads(done.stdout.splitlines()[-1]))


# -- runner -------------------------------------------------------------------------------------


@dataclass
class Figures:
    label: str
    samples: list[Sample]

    @property
    def median(self) -> float:
        return statistics.median(sample.seconds for sample in self.samples)

    @property
    def best(self) -> float:
        return min(sample.seconds for sample in self.samples)

    @property
    def cpu(self) -> float:
        """Median CPU seconds: what the throughput and ratio columns are computed from."""
        return max(statistics.median(sample.cpu_seconds for sample in self.samples), 1e-6)

    @property
    def rss(self) -> float:
        return max(sample.rss_mib for sample in self.samples)

    @property
    def base_rss(self) -> float:
        return max(sample.base_rss_mib for sample in self.samples)


def run_rounds(path: Path, repeat: int) -> dict[str, Figures]:
    """``repeat`` rounds; each runs every method once, the order rotated round to round."""
    names = list(METHODS)
    samples: dict[str, list[Sample]] = {name: [] for name in names}
    for round_ in range(repeat):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for name in order:
            sample = measure(name, path)
            if sample is not None:
                samples[name].append(sample)
                print(
                    f"  round {round_ + 1}/{repeat}  {name:<16} {sample.seconds:6.2f} s wall"
                    f" {sample.cpu_seconds:6.2f} s cpu {sample.rss_mib:7.1f} MiB",
                    flush=True,
                )
    return {name: Figures(METHODS[name].label, found) for name, found in samples.items() if found}


def print_table(figures: dict[str, Figures], stats: ReportStats) -> None:
    jp = figures.get("junitparser")
    floor = figures.get("floor")
    size_mib = stats.size / MIB
    header = (
        f"{'method':<22} {'wall s':>7} {'best':>6} {'cpu s':>6} {'MiB/s':>6} {'cases/s':>8} "
        f"{'vs junitparser':>14} {'vs floor':>8} {'peak RSS MiB':>12} {'(imports)':>9}"
    )
    print(header)
    print("-" * len(header))
    for fig in figures.values():
        vs_jp = f"{jp.cpu / fig.cpu:.2f}x" if jp else "-"
        vs_floor = f"{floor.cpu / fig.cpu:.2f}x" if floor else "-"
        print(
            f"{fig.label:<22} {fig.median:>7.2f} {fig.best:>6.2f} {fig.cpu:>6.2f} "
            f"{size_mib / fig.cpu:>6.1f} {stats.tests / fig.cpu:>8,.0f} {vs_jp:>14} "
            f"{vs_floor:>8} {fig.rss:>12.1f} {fig.base_rss:>9.1f}"
        )
    print(
        "wall s: median wall-clock seconds, best: fastest wall-clock run, cpu s: median CPU\n"
        "seconds of the child. MiB/s, cases/s and the ratios use the CPU median (on a shared\n"
        "machine wall time also measures the neighbours); a ratio above 1x is faster than the\n"
        "reference. Peak RSS is the child's ru_maxrss, (imports) before reading the file."
    )


def check_counts(figures: dict[str, Figures], stats: ReportStats) -> None:
    """Every method must have seen every testcase (and the same failures, where it looks)."""
    expected_not_passed = stats.tests - stats.passed
    for name, fig in figures.items():
        for sample in fig.samples:
            wrong_cases = sample.cases != stats.tests
            wrong_fails = sample.not_passed not in (None, expected_not_passed)
            if wrong_cases or wrong_fails:
                print(
                    f"  ! {name} saw {sample.cases} testcases / {sample.not_passed} not passed;"
                    f" expected {stats.tests} / {expected_not_passed}"
                )


def run_million(workdir: Path, seed: int) -> Sample | None:
    path = workdir / "report-1m.xml"
    print(f"\nGenerating a {MILLION:,}-testcase report ...", flush=True)
    start = time.perf_counter()
    stats = write_report(path, MILLION, seed=seed)
    print(f"  {path.name}: {stats.size / MIB:,.1f} MiB in {time.perf_counter() - start:.1f} s")
    print("Streaming it through JUnitReader (child process) ...", flush=True)
    sample = measure("reader", path)
    if sample is not None:
        print(
            f"  {sample.cases:,} testcases in {sample.seconds:.1f} s wall, "
            f"{sample.cpu_seconds:.1f} s cpu ({stats.size / MIB / sample.cpu_seconds:.1f} MiB/s, "
            f"{sample.cases / sample.cpu_seconds:,.0f} cases/s on cpu time), "
            f"peak RSS {sample.rss_mib:.1f} MiB (imports alone {sample.base_rss_mib:.1f} MiB)"
        )
    return sample


def print_targets(figures: dict[str, Figures], million: Sample | None) -> None:
    def line(target: str, figure: str, met: bool | None) -> None:
        verdict = "not measured" if met is None else "MET" if met else "MISSED"
        print(f"  {target:<50} {figure:>22}  {verdict}")

    print("\nTargets (verdict on CPU time; wall-clock ratio in brackets)")
    parse, jp, floor = (figures.get(name) for name in ("parse_junit_xml", "junitparser", "floor"))
    for reference, label, goal in (
        (jp, "junitparser", TARGET_VS_JUNITPARSER),
        (floor, "lxml floor", TARGET_VS_FLOOR),
    ):
        if parse and reference:
            ratio = reference.cpu / parse.cpu
            wall = reference.median / parse.median
            line(
                f"parse_junit_xml throughput >= {goal}x {label}",
                f"{ratio:.2f}x ({wall:.2f}x)",
                ratio >= goal,
            )
    target = "1M-testcase JUnitReader stream peak RSS < 1 GiB"
    if million is None:
        line(target, "-", None)
    else:
        line(target, f"{million.rss_mib:.0f} MiB", million.rss_mib < TARGET_MILLION_RSS_MIB)


def profile(path: Path, top: int = 25) -> None:
    """cProfile of ``parse_junit_xml`` on the report, in this process (``--profile``)."""
    import cProfile
    import pstats

    import_testviz()
    from pytest_testviz.core import parse_junit_xml

    profiler = cProfile.Profile()
    profiler.runcall(parse_junit_xml, str(path))
    print(f"\ncProfile of parse_junit_xml (top {top} by own time; timings inflated by profiling)")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds per method (default 3)")
    parser.add_argument("--tests", type=int, default=100_000, help="testcases in the report")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-million", action="store_true", help="skip the 1M streaming run")
    parser.add_argument("--workdir", type=Path, help="keep the generated reports here")
    parser.add_argument("--profile", action="store_true", help="cProfile parse_junit_xml too")
    parser.add_argument("--child", nargs=2, metavar=("METHOD", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="testviz-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        print(
            f"testviz parser benchmark, {datetime.date.today()}: Python "
            f"{platform.python_version()}, lxml {version('lxml')}, junitparser "
            f"{version('junitparser')}, {os.cpu_count()} CPUs"
        )
        path = workdir / f"report-{args.tests}.xml"
        start = time.perf_counter()
        stats = write_report(path, args.tests, seed=args.seed)
        print(
            f"report: {stats.tests:,} testcases ({stats.passed:,} passed, {stats.failed:,} "
            f"failed, {stats.errors:,} errors, {stats.skipped:,} skipped), {stats.suites:,} "
            f"suites, {stats.size / MIB:.1f} MiB, written in {time.perf_counter() - start:.1f} s"
        )
        print(f"{args.repeat} rounds x {len(METHODS)} methods, one fresh process each:", flush=True)
        figures = run_rounds(path, args.repeat)
        print()
        check_counts(figures, stats)
        print_table(figures, stats)
        million = None if args.skip_million else run_million(workdir, args.seed)
        print_targets(figures, million)
        if args.profile:
            profile(path)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
