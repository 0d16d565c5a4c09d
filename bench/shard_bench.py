"""Shard plan benchmark: how close the slowest part comes to the ideal, against pytest-split.

Synthetic suites of 2,000 tests (seeded, so the same every time): log-normal durations plus a
few very slow tests, in modules of uneven size, about half of the tests in classes. Each is
split into N = 2, 4, 8, 16 parts four ways, from the same durations:

* ``count``      testviz's fallback without durations (every test counts 1)
* ``split-LD``   pytest-split's ``least_duration`` (LPT, ties in collection order)
* ``split-DBC``  pytest-split's ``duration_based_chunks`` (contiguous chunks)
* ``testviz``    :func:`pytest_testviz.core.sharding.plan` (LPT, then local search)

Three constraints: ``none`` (tests split freely), ``module`` and ``class`` (a module's or a
class's tests stay in one part). pytest-split has no groups, so there it is given one item
per group, with the group's summed duration: the same constraint, the same durations.

Each figure is the slowest part's duration over the ideal, total / N (1.000 is perfect).
``bound`` is the best possible: max(total / N, the longest unit) over the ideal. **Targets:**
testviz within 5 % of the bound, and never slower than either pytest-split algorithm.
Durations are the suites' own, not measured: the figures are exact and the same on every
machine. Prints its verdict; never fails on a missed target.

    python bench/shard_bench.py [--seed 0] [--tests 2000]
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace

from pytest_testviz.core.sharding import plan

PARTS = (2, 4, 8, 16)
GROUPINGS = ("none", "module", "class")
#: The very slow tests: their durations in seconds (an integration test, a big fixture).
SLOW = (15.0, 25.0, 35.0, 45.0, 60.0)
TARGET = 1.05


@dataclass(frozen=True)
class Test:
    nodeid: str
    module: str
    klass: str | None
    seconds: float


def suite(tests: int, seed: int) -> list[Test]:
    """``tests`` tests in modules of log-normal size, some in classes, in collection order."""
    rng = random.Random(seed)
    result: list[Test] = []
    module = 0
    while len(result) < tests:
        size = min(max(1, round(rng.lognormvariate(2.8, 0.9))), tests - len(result))
        path = f"tests/test_m{module:03d}.py"
        classes = rng.choice((0, 0, 1, 2, 3))
        for index in range(size):
            owner = index % (classes + 1)  # 0: a module-level function
            klass = f"{path}::TestC{owner}" if owner else None
            nodeid = f"{klass or path}::test_{index}"
            result.append(Test(nodeid, path, klass, rng.lognormvariate(-2.3, 1.3)))
        module += 1
    for slow, seconds in zip(rng.sample(range(len(result)), len(SLOW)), SLOW, strict=True):
        test = result[slow]
        result[slow] = Test(test.nodeid, test.module, test.klass, seconds)
    return result


def units(tests: Sequence[Test], grouping: str) -> dict[str, list[Test]]:
    """The units placed whole, keyed by name, in collection order."""
    grouped: dict[str, list[Test]] = {}
    for test in tests:
        if grouping == "module":
            key = test.module
        elif grouping == "class" and test.klass is not None:
            key = test.klass
        else:
            key = test.nodeid
        grouped.setdefault(key, []).append(test)
    return grouped


def _makespan(parts: Sequence[Sequence[str]], seconds: dict[str, float]) -> float:
    return max(sum(seconds[test] for test in part) for part in parts)


def testviz(grouped: dict[str, list[Test]], total: int) -> float:
    seconds = {test.nodeid: test.seconds for unit in grouped.values() for test in unit}
    found = plan([[test.nodeid for test in unit] for unit in grouped.values()], seconds, total)
    return _makespan(found.parts, seconds)


def count(grouped: dict[str, list[Test]], total: int) -> float:
    seconds = {test.nodeid: test.seconds for unit in grouped.values() for test in unit}
    found = plan([[test.nodeid for test in unit] for unit in grouped.values()], {}, total)
    return _makespan(found.parts, seconds)


def pytest_split(algorithm: str) -> Callable[[dict[str, list[Test]], int], float]:
    """pytest-split's algorithm through its public ``Algorithms`` enum, one item per unit."""
    from pytest_split.algorithms import Algorithms

    split = Algorithms[algorithm].value

    def run(grouped: dict[str, list[Test]], total: int) -> float:
        items = [SimpleNamespace(nodeid=key) for key in grouped]
        durations = {key: sum(test.seconds for test in unit) for key, unit in grouped.items()}
        return float(max(group.duration for group in split(total, items, durations)))

    return run


METHODS: dict[str, Callable[[dict[str, list[Test]], int], float]] = {
    "count": count,
    "split-LD": pytest_split("least_duration"),
    "split-DBC": pytest_split("duration_based_chunks"),
    "testviz": testviz,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tests", type=int, default=2000)
    args = parser.parse_args(argv)
    tests = suite(args.tests, args.seed)
    total_seconds = sum(test.seconds for test in tests)
    modules = len({test.module for test in tests})
    classes = len({test.klass for test in tests if test.klass})
    print(
        f"{len(tests)} tests, {total_seconds:.0f} s in all, longest {max(SLOW):.0f} s; "
        f"{modules} modules, {classes} classes; seed {args.seed}"
    )
    header = f"{'group':<7} {'N':>3} {'ideal s':>8} {'bound':>6}"
    header += "".join(f" {name:>9}" for name in METHODS) + "  verdict"
    print(header)
    print("-" * len(header))
    missed = 0
    for grouping in GROUPINGS:
        grouped = units(tests, grouping)
        longest = max(sum(test.seconds for test in unit) for unit in grouped.values())
        for total in PARTS:
            ideal = total_seconds / total
            bound = max(ideal, longest) / ideal
            ratios = {name: method(grouped, total) / ideal for name, method in METHODS.items()}
            ours = ratios["testviz"]
            best_split = min(ratios["split-LD"], ratios["split-DBC"])
            good = ours <= bound * TARGET and ours <= best_split * (1 + 1e-9)
            missed += not good
            row = f"{grouping:<7} {total:>3} {ideal:>8.1f} {bound:>6.3f}"
            row += "".join(f" {ratios[name]:>9.3f}" for name in METHODS)
            print(row + ("  ok" if good else "  MISSED"))
    print(
        f"\nTarget: testviz <= {TARGET:.2f} x bound and <= pytest-split: "
        + ("met in every row" if not missed else f"missed in {missed} rows")
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
