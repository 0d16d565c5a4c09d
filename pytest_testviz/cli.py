"""The ``testviz`` command: parse, and (with the plugin) push, replay and meta.

Bad input is a one-line message on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from .core import TestvizInputError, parse_junit_xml

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

Command = Callable[[argparse.Namespace], int]


def _parse(args: argparse.Namespace) -> int:
    report = parse_junit_xml(
        args.report,
        meta=args.meta,
        project=args.project,
        detect_sidecar=not args.no_sidecar,
    )
    json.dump(report.to_json(), sys.stdout, indent=2 if args.indent else None, ensure_ascii=False)
    sys.stdout.write("\n")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="testviz", description="Test results from any JUnit XML producer, in one place."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    parse = commands.add_parser(
        "parse", help="print a JUnit XML report as JSON", description="Print a report as JSON."
    )
    parse.add_argument("report", help="the JUnit XML file")
    parse.add_argument("--meta", help="the sidecar (default: REPORT.meta.json when present)")
    parse.add_argument("--project", help="project name (default: the sidecar's, else 'default')")
    parse.add_argument("--no-sidecar", action="store_true", help="ignore a sidecar beside REPORT")
    parse.add_argument("--indent", action="store_true", help="pretty-print the JSON")
    parse.set_defaults(handler=_parse)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Command = args.handler
    try:
        return handler(args)
    except TestvizInputError as exc:
        print(f"testviz {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
