"""Failure fingerprints over the shared JUnit corpus: how failures group, for a person to review.

Parses every file the corpus's MANIFEST.tsv lists with ``parse_junit_xml`` and prints, per
producer, the failures (failed and errored results) and their distinct fingerprints. Then it
lists every fingerprint shared by failures whose message or text differ: each differing
failure against the group's first, with file, test names and both messages shortened, so
each merge can be judged a real same-cause pair or a wrong one.

Exits 1 when two Go failures (producer gotestsum or go-junit-report) with different texts
share a fingerprint: Go writes ``message="Failed"`` for every failure, so there a shared
fingerprint over different texts is almost always a wrong merge.

    python bench/fingerprints.py [--corpus DIR] [--width 100] [--quiet]
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The corpus sits beside the checkout: <checkout>/bench/fingerprints.py -> ../shared/corpus/junit.
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "junit"

try:
    from pytest_testviz.core import JUnitParseError, parse_junit_xml
except ImportError:  # not installed: import the checkout
    sys.path.insert(0, str(HERE.parent))
    from pytest_testviz.core import JUnitParseError, parse_junit_xml

#: Producers that write ``message="Failed"`` and the real failure in the text.
GO_PRODUCERS = ("gotestsum", "go-junit-report")
PRODUCER_WIDTH = 60  # characters of a producer's name in the table


@dataclass(frozen=True)
class Failure:
    file: str
    producer: str
    classname: str
    name: str
    message: str
    text: str
    fingerprint: str

    @property
    def is_go(self) -> bool:
        return any(self.producer.startswith(go) for go in GO_PRODUCERS)

    @property
    def test(self) -> str:
        return f"{self.classname}::{self.name}" if self.classname else self.name


def failures(corpus: Path) -> Iterator[Failure]:
    """Every failed or errored result of every file the manifest lists (bad files skipped)."""
    with (corpus / "MANIFEST.tsv").open(encoding="utf-8", newline="") as rows:
        manifest = list(csv.DictReader(rows, delimiter="\t", quoting=csv.QUOTE_NONE))
    for row in manifest:
        try:
            report = parse_junit_xml(corpus / row["file"], detect_sidecar=False)
        except JUnitParseError:
            continue
        for result in report.results:
            if result.status in ("failed", "error") and result.fingerprint is not None:
                yield Failure(
                    row["file"],
                    row["producer"] or "(unknown)",
                    result.classname,
                    result.name,
                    result.message or "",
                    result.text or "",
                    result.fingerprint,
                )


def shorten(value: str, width: int) -> str:
    """One line: whitespace runs folded, cut to ``width`` characters."""
    flat = " ".join(value.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def print_table(found: list[Failure]) -> None:
    by_producer: dict[str, list[Failure]] = defaultdict(list)
    for failure in found:
        by_producer[failure.producer].append(failure)
    print(f"{'producer':<{PRODUCER_WIDTH}}  files  failures  fingerprints")
    for producer in sorted(by_producer, key=str.lower):
        group = by_producer[producer]
        files = len({failure.file for failure in group})
        distinct = len({failure.fingerprint for failure in group})
        name = shorten(producer, PRODUCER_WIDTH)
        print(f"{name:<{PRODUCER_WIDTH}}  {files:>5}  {len(group):>8}  {distinct:>12}")
    files = len({failure.file for failure in found})
    distinct = len({failure.fingerprint for failure in found})
    print(f"{'all':<{PRODUCER_WIDTH}}  {files:>5}  {len(found):>8}  {distinct:>12}")


def shared_groups(found: list[Failure]) -> list[list[Failure]]:
    """Per fingerprint, one failure per distinct (message, text), where there is more than one."""
    groups: dict[str, dict[tuple[str, str], Failure]] = defaultdict(dict)
    for failure in found:
        groups[failure.fingerprint].setdefault((failure.message, failure.text), failure)
    return [list(group.values()) for group in groups.values() if len(group) > 1]


def print_pairs(groups: list[list[Failure]], width: int) -> None:
    pairs = sum(len(group) - 1 for group in groups)
    print(f"\n{len(groups)} fingerprints shared by different messages/texts ({pairs} pairs)")
    for group in groups:
        first = group[0]
        print(f"\n{first.fingerprint}  {first.producer}")
        for other in group[1:]:
            for failure in (first, other):
                print(f"  {failure.file}  {shorten(failure.test, width)}")
                print(f"      message: {shorten(failure.message, width)}")
                print(f"      text:    {shorten(failure.text, width)}")
            print("  --")


def go_merges(groups: list[list[Failure]]) -> list[tuple[Failure, Failure]]:
    """Pairs of Go failures with different texts under one fingerprint."""
    merges: list[tuple[Failure, Failure]] = []
    for group in groups:
        go = [failure for failure in group if failure.is_go]  # each (message, text) once
        merges.extend((go[0], other) for other in go[1:])
    return merges


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS, help=f"default {CORPUS}")
    parser.add_argument("--width", type=int, default=100, help="characters per shortened value")
    parser.add_argument("--quiet", action="store_true", help="only the table and the verdict")
    args = parser.parse_args(argv)
    if not (args.corpus / "MANIFEST.tsv").is_file():
        parser.error(f"no MANIFEST.tsv in {args.corpus}")

    found = list(failures(args.corpus))
    print_table(found)
    groups = shared_groups(found)
    if not args.quiet:
        print_pairs(groups, args.width)
    merges = go_merges(groups)
    if merges:
        print(
            f"\nFAIL: {len(merges)} pairs of Go failures with different texts share a fingerprint"
        )
        for first, other in merges:
            print(f"  {first.fingerprint}: {first.file} {first.test} / {other.file} {other.test}")
        return 1
    print("\nOK: no two Go failures with different texts share a fingerprint")
    return 0


if __name__ == "__main__":
    sys.exit(main())
