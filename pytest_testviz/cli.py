"""The ``testviz`` command: parse, and (with the plugin) push, replay, meta and summary.

Bad input is a one-line message on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pydantic import ValidationError

from . import spool
from .build import build_id
from .core import Sidecar, TestvizInputError, find_sidecar, parse_junit_xml, sidecar_path
from .environment import environment_facts, git_info
from .options import DEFAULT_WAIT_TIMEOUT, SERVER_URL, server_url, without_password
from .summary.render import FORMATS
from .upload import send, send_spooled

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


def _progress(index: int, total: int, name: str, detail: str) -> None:
    width = 24
    done = width * index // max(total, 1)
    bar = "#" * done + "-" * (width - done)
    print(f"[{bar}] {index}/{total} {name}: {detail}", file=sys.stderr)


def _push(args: argparse.Namespace) -> int:
    reports = [Path(name) for name in args.reports]
    for report in reports:
        if not report.is_file():
            raise TestvizInputError(str(report), "no such file")
    failures = 0
    for index, report in enumerate(reports, 1):
        meta = Path(args.meta) if args.meta and len(reports) == 1 else find_sidecar(report)
        outcome = send(
            args.url,
            report,
            meta,
            token=args.token,
            timeout=args.timeout,
            project=args.project,
            wait_timeout=args.wait_timeout,
        )
        _progress(index, len(reports), report.name, outcome.detail)
        if outcome.ok:
            print(f"{report}: run {outcome.run_id} {outcome.detail}: {outcome.url}")
        else:
            failures += 1
            print(f"testviz push: {report}: {outcome.detail}", file=sys.stderr)
    return EXIT_FAILURE if failures else EXIT_OK


def _replay(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    if not directory.is_dir():
        raise TestvizInputError(str(directory), "not a directory")
    waiting = spool.pending(directory)
    if not waiting:
        print(f"nothing to replay in {directory}")
        return EXIT_OK
    failures = 0
    for index, spooled in enumerate(waiting, 1):
        # Stored on the server is sent, as the plugin's backlog: not waited for.
        outcome = send_spooled(
            spooled, args.url, token=args.token, timeout=args.timeout, wait=False
        )
        _progress(index, len(waiting), spooled.xml.name, outcome.detail)
        if outcome.ok:
            spool.mark_sent(spooled, args.keep)
        else:
            failures += 1
    sent = len(waiting) - failures
    print(f"replayed {sent} of {len(waiting)} reports from {directory}")
    return EXIT_FAILURE if failures else EXIT_OK


def _meta(args: argparse.Namespace) -> int:
    report = Path(args.report)
    if not report.is_file():
        raise TestvizInputError(str(report), "no such file")
    parse_junit_xml(report, detect_sidecar=False)  # refuse to describe a report we cannot read
    env = dict(os.environ)
    git = git_info(Path.cwd(), env)
    facts = environment_facts(env)
    try:
        build = build_id(env, args.build or env.get("TESTVIZ_BUILD"))
    except ValueError:
        reason = "expected a printable id of 1 to 200 characters"
        raise TestvizInputError("TESTVIZ_BUILD", reason) from None
    meta = Sidecar(
        run_id=args.run_id,
        project=args.project,
        session_id=env.get("TESTVIZ_SESSION_ID"),
        build_id=build,
        git_sha=git.sha,
        branch=git.branch,
        env_fingerprint=facts.fingerprint,
        env=facts.facts,
        producer=args.producer,
    )
    target = Path(args.output) if args.output else sidecar_path(report)
    target.write_bytes(meta.dump())
    print(target)
    return EXIT_OK


def _summary(args: argparse.Namespace) -> int:
    """Print a stored run's (or a CI build's) summary; the server is the only source."""
    from .summary.client import SummaryUnavailable, fetch_build, fetch_run, latest_run_id
    from .summary.render import render

    options = {"token": args.token, "timeout": args.timeout, "base": args.base}
    try:
        if args.build is not None:
            summary = fetch_build(args.url, args.build, project=args.project, **options)
        else:
            run_id = args.run_id or latest_run_id(
                args.url, project=args.project, token=args.token, timeout=args.timeout
            )
            summary = fetch_run(args.url, run_id, **options)
    except SummaryUnavailable as exc:
        print(f"testviz summary: {exc}", file=sys.stderr)
        return EXIT_USAGE if exc.refused else EXIT_FAILURE
    sys.stdout.write(render(summary, args.format, args.max_annotations))
    return EXIT_OK


def _build_id(text: str) -> str:
    from .build import MAX_LENGTH, valid_build_id

    try:
        return valid_build_id(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a printable id of 1 to {MAX_LENGTH} characters, not {text[:50]!r}"
        ) from None


def _text(text: str) -> str:
    """A non-empty value (a branch, a project, a run id)."""
    if not text.strip() or "\x00" in text:
        raise argparse.ArgumentTypeError(f"expected a non-empty value, not {text!r}")
    return text.strip()


def _seconds(text: str) -> float:
    """A timeout: a finite number of seconds > 0 (what a socket accepts)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds > 0, not {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, not {text!r}")
    return value


def _url(text: str) -> str:
    try:
        return server_url(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected {SERVER_URL}, not {without_password(text)!r}"
        ) from None


def _add_server_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--url",
        type=_url,
        default=os.environ.get("TESTVIZ_URL"),
        required=not os.environ.get("TESTVIZ_URL"),
        help="the server (default: $TESTVIZ_URL)",
    )
    command.add_argument(
        "--token",
        default=os.environ.get("TESTVIZ_TOKEN"),
        help="ingest token (default: $TESTVIZ_TOKEN)",
    )
    command.add_argument("--timeout", type=_seconds, default=30.0, help="seconds per request")


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

    push = commands.add_parser(
        "push",
        help="upload JUnit XML reports (with their sidecars) to a server",
        description="Upload JUnit XML reports from any producer; REPORT.meta.json is sent along.",
    )
    push.add_argument("reports", nargs="+", metavar="REPORT.xml")
    push.add_argument("--meta", help="the sidecar, for a single report (default: beside it)")
    push.add_argument("--project", help="project (overrides the sidecar's)")
    _add_server_options(push)
    push.add_argument(
        "--wait-timeout",
        type=_seconds,
        default=DEFAULT_WAIT_TIMEOUT,
        help=f"seconds to wait for each run to be stored (default: {DEFAULT_WAIT_TIMEOUT:g})",
    )
    push.set_defaults(handler=_push)

    replay = commands.add_parser(
        "replay",
        help="send every pending report in a directory (e.g. .testviz/)",
        description="Send reports a test session could not; a second replay sends nothing twice.",
    )
    replay.add_argument("directory", metavar="DIR")
    replay.add_argument("--keep", type=_count, default=20, help="sent reports to keep in DIR/sent")
    _add_server_options(replay)
    replay.set_defaults(handler=_replay)

    meta = commands.add_parser(
        "meta",
        help="write a sidecar (git, branch, environment) for a report",
        description="Write REPORT.meta.json for any JUnit producer: git sha, branch, environment.",
    )
    meta.add_argument("report", metavar="REPORT.xml")
    meta.add_argument("--project", help="project name")
    meta.add_argument("--run-id", help="a run id (default: derived from the files' content)")
    meta.add_argument("--producer", help="what wrote the report, e.g. 'jest 29'")
    meta.add_argument(
        "--build",
        type=_build_id,
        metavar="ID",
        help="the CI build the run is part of (default: $TESTVIZ_BUILD, else the CI's build id)",
    )
    meta.add_argument("-o", "--output", help="where to write (default: beside the report)")
    meta.set_defaults(handler=_meta)

    summary = commands.add_parser(
        "summary",
        help="print a stored run's summary (Markdown, text or GitHub annotations)",
        description="Print a run's totals, new failures and fixed tests against the previous "
        "run of its branch (or --base's latest), flaky tests and top failure groups, with "
        "links to the server's pages. Without RUN_ID: the latest run (of --project).",
    )
    summary.add_argument("run_id", nargs="?", type=_text, metavar="RUN_ID")
    summary.add_argument(
        "--build", type=_build_id, metavar="ID", help="summarise every run of this CI build"
    )
    summary.add_argument("--project", type=_text, help="the project (of the latest run, a build)")
    summary.add_argument(
        "--base", type=_text, metavar="BRANCH", help="compare with BRANCH's latest run"
    )
    summary.add_argument("--format", choices=FORMATS, default="markdown", help="(markdown)")
    summary.add_argument(
        "--max-annotations",
        type=_count,
        default=10,
        metavar="N",
        help="with --format github: annotate at most N new failures (10)",
    )
    _add_server_options(summary)
    # Reading needs a read token when the server has them; the ingest token is the fallback.
    summary.set_defaults(
        handler=_summary,
        token=os.environ.get("TESTVIZ_READ_TOKEN") or os.environ.get("TESTVIZ_TOKEN"),
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "summary" and args.build is not None and args.run_id is not None:
        parser.error("summary: give a RUN_ID or --build ID, not both")
    handler: Command = args.handler
    try:
        return handler(args)
    except TestvizInputError as exc:
        print(f"testviz {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ValidationError as exc:  # e.g. `testviz meta --run-id "not an id"`
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        print(f"testviz {args.command}: invalid {field}: {first['msg']}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
