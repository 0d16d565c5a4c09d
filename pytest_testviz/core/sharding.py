"""Splitting a collection into N parts of about equal duration: the plan behind ``--testviz-shard``.

Pure and deterministic, so the server (which keeps one plan per CI build) and the plugin
(which plans alone when it cannot reach the server) give the same parts for the same inputs.
Tests are named by their ``test_id`` (:mod:`.identity`), the key the server stores durations
under; ties are broken on it, never on the order the tests came in (``pytest-randomly``
shuffles that).

A *unit* is what is placed whole: one test, or a group of them (a module, a class) whose
fixtures are too expensive to set up in two jobs. The plan is longest-processing-time-first
(each unit, longest first, into the part with the least work so far), then a local search
that moves or swaps units between the slowest part and the others while that shortens it:
LPT alone can be a few per cent off when the units are few and uneven (groups, many parts).
"""

from __future__ import annotations

import hashlib
import heapq
from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

#: Rounds of the local search at most: each strictly shortens the slowest part or the next.
MAX_ROUNDS = 500
#: Splits of at most this many parts are accepted (the server keeps the plan).
MAX_TOTAL = 1000

Source = Literal["durations", "count"]


@dataclass(frozen=True)
class Plan:
    #: The test ids of each part, sorted; part ``k`` (1-based) is ``parts[k - 1]``.
    parts: tuple[tuple[str, ...], ...]
    #: Each part's expected duration (seconds), or its number of tests when split by count.
    loads: tuple[float, ...]
    #: "durations" when some test had a known duration, else "count".
    source: Source
    #: Tests with a known duration; the others counted as the median of those.
    known: int

    def part(self, index: int) -> tuple[str, ...]:
        """Part ``index`` of :attr:`parts`, 1-based as on the command line."""
        return self.parts[index - 1]


def median(values: Iterable[float]) -> float | None:
    """The median, or ``None`` for no values."""
    ordered = sorted(values)
    if not ordered:
        return None
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def canonical_units(units: Iterable[Iterable[str]]) -> list[tuple[str, ...]]:
    """Units with each one's ids sorted and de-duplicated, sorted, and a test id that is in
    two units kept in the first: the same collection gives the same units whatever its order."""
    seen: set[str] = set()
    result = []
    for unit in sorted(tuple(sorted(set(unit))) for unit in units):
        kept = tuple(test for test in unit if test not in seen)
        seen.update(kept)
        if kept:
            result.append(kept)
    return result


def collection_hash(units: Iterable[Iterable[str]], group: str | None = None) -> str:
    """A digest of the collection as units, order-independent: the same tests, grouped the
    same way, give the same hash."""
    digest = hashlib.sha256(f"testviz-shard:1\0{group or ''}\0".encode())
    for unit in canonical_units(units):
        digest.update("\0".join(unit).encode("utf-8", "surrogatepass"))
        digest.update(b"\n")
    return digest.hexdigest()


def plan(units: Iterable[Iterable[str]], durations: Mapping[str, float], total: int) -> Plan:
    """Split ``units`` (each an iterable of test ids placed whole) into ``total`` parts.

    A test without a duration counts as the median of the known durations of the tests
    planned; when none is known, every test counts 1 (a split by count).
    """
    if not 1 <= total <= MAX_TOTAL:
        raise ValueError(f"the number of parts must be between 1 and {MAX_TOTAL}, not {total}")
    canonical = canonical_units(units)
    known = [durations[test] for unit in canonical for test in unit if test in durations]
    typical = median(known)
    source: Source = "durations" if typical is not None else "count"

    def weight(test: str) -> float:
        if typical is None:
            return 1.0
        return max(float(durations.get(test, typical)), 0.0)

    weights = [sum(weight(test) for test in unit) for unit in canonical]
    members = _local_search(_lpt(weights, total), weights)
    parts = tuple(
        tuple(sorted(test for unit in members[part] for test in canonical[unit]))
        for part in range(total)
    )
    loads = tuple(sum(weights[unit] for unit in members[part]) for part in range(total))
    return Plan(parts, loads, source, len(known))


def _lpt(weights: Sequence[float], total: int) -> list[list[int]]:
    """Longest first into the least loaded part (the lowest-numbered among equals).

    Units of equal weight keep their canonical order, so ties go the same way everywhere.
    """
    order = sorted(range(len(weights)), key=lambda unit: (-weights[unit], unit))
    heap = [(0.0, part) for part in range(total)]
    members: list[list[int]] = [[] for _ in range(total)]
    for unit in order:
        load, part = heapq.heappop(heap)
        members[part].append(unit)
        heapq.heappush(heap, (load + weights[unit], part))
    return members


def _local_search(members: list[list[int]], weights: Sequence[float]) -> list[list[int]]:
    """Shorten the slowest part by moving one unit out of it, or swapping one for a lighter
    one, into another part, while that helps; the best such change each round.

    Each change makes the slowest part shorter and leaves the other part shorter than the
    slowest was, so the loads sorted from the top go down in each round: it ends.
    """
    total = len(members)
    if total < 2:
        return members
    # Each part's units as sorted (weight, unit) pairs, for bisecting on weight.
    sorted_parts = [sorted((weights[unit], unit) for unit in part) for part in members]
    loads = [sum(weight for weight, _ in part) for part in sorted_parts]
    bound = max(sum(weights) / total, max(weights, default=0.0))
    for _ in range(MAX_ROUNDS):
        slowest = max(range(total), key=lambda part: (loads[part], -part))
        if loads[slowest] <= bound * (1 + 1e-12):
            break
        best = _best_change(sorted_parts, loads, slowest)
        if best is None:
            break
        _, other, out, back = best
        sorted_parts[slowest].remove(out)
        insort(sorted_parts[other], out)
        loads[slowest] -= out[0]
        loads[other] += out[0]
        if back is not None:
            sorted_parts[other].remove(back)
            insort(sorted_parts[slowest], back)
            loads[other] -= back[0]
            loads[slowest] += back[0]
    return [[unit for _, unit in part] for part in sorted_parts]


Pair = tuple[float, int]


def _best_change(
    parts: list[list[Pair]], loads: list[float], slowest: int
) -> tuple[float, int, Pair, Pair | None] | None:
    """The move (``back`` is ``None``) or swap out of ``slowest`` that leaves the two parts'
    larger load smallest, if that is below the slowest's load now."""
    best: tuple[float, int, Pair, Pair | None] | None = None
    heavy = parts[slowest]
    for other in range(len(parts)):
        gap = loads[slowest] - loads[other]
        if other == slowest or gap <= 0:
            continue
        light = parts[other]
        # Moving weight `delta` across leaves max(slowest - delta, other + delta): best at
        # delta = gap / 2, and an improvement for any 0 < delta < gap.
        candidates: list[tuple[Pair, Pair | None]] = [
            (out, None) for out in _nearest(heavy, gap / 2)
        ]
        candidates += [(out, back) for out in heavy for back in _nearest(light, out[0] - gap / 2)]
        for out, swapped in candidates:
            delta = out[0] - (swapped[0] if swapped is not None else 0.0)
            if not 0 < delta < gap:
                continue
            score = max(loads[slowest] - delta, loads[other] + delta)
            key = (score, other, out, swapped)
            if score < loads[slowest] and (best is None or _sort_key(key) < _sort_key(best)):
                best = key
    return best


def _sort_key(change: tuple[float, int, Pair, Pair | None]) -> tuple[float, int, Pair, Pair]:
    score, other, out, back = change
    return score, other, out, back if back is not None else (-1.0, -1)


def _nearest(part: list[Pair], weight: float) -> list[Pair]:
    """The pairs of ``part`` whose weights are nearest ``weight`` from below and above."""
    index = bisect_left(part, (weight, -1))
    return part[max(index - 1, 0) : index + 1]
