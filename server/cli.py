"""``flask --app server ...`` commands: upgrade (init-db), worker, sync, reanalyze, prune,
requeue-uploads."""

from __future__ import annotations

import logging
import signal
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import FrameType

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from .config import parse_age as _parse_age
from .history.retention import prune
from .ingest.queued import requeue_failed
from .ingest.sync import report_files, sync_test_results
from .storage.db import db
from .storage.engine import upgrade_database


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create the tables, or bring an older database up to date (same as upgrade)."""
    upgrade_database(db.engine)
    click.echo(f"database ready: {db.engine.url.render_as_string(hide_password=True)}")


@click.command("upgrade")
@with_appcontext
@click.option("--revision", default="head", show_default=True, help="the migration to go to")
def upgrade_command(revision: str) -> None:
    """Apply the schema migrations (what start-up does by itself)."""
    upgrade_database(db.engine, revision)
    click.echo(f"database at {revision}")


@click.command("sync")
@with_appcontext
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), required=False)
def sync_command(directory: Path | None) -> None:
    """Ingest every report in DIRECTORY (default: TEST_RESULTS_DIR) not yet ingested."""
    settings = current_app.extensions["testviz"].settings
    directory = directory or (Path(settings.results_dir) if settings.results_dir else None)
    if directory is None:
        raise click.UsageError("give a DIRECTORY or set TEST_RESULTS_DIR")
    if not directory.is_dir():
        raise click.BadParameter(f"{directory} is not a directory", param_hint="DIRECTORY")
    analyzer = current_app.extensions["testviz"].analyzer
    total = len(report_files(directory))
    with click.progressbar(length=total, label=f"syncing {total} reports", file=sys.stderr) as bar:
        outcome = sync_test_results(
            directory,
            db.session,
            on_created=analyzer.analyse_now,
            settle=0,
            progress=lambda _: bar.update(1),
        )
    click.echo(outcome.summary())
    for name in outcome.rejected:
        click.echo(
            f"rejected: {name} (see {directory / 'rejected' / (name + '.error.txt')})", err=True
        )
    if outcome.rejected:
        raise SystemExit(1)


@click.command("reanalyze")
@with_appcontext
@click.argument("run_id")
def reanalyze_command(run_id: str) -> None:
    """Run mapping resolution and the integrity check for RUN_ID again."""
    analyzer = current_app.extensions["testviz"].analyzer
    try:
        states = analyzer.analyse(run_id, force=True)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"run {run_id}: mapping {states['mapping']}, integrity {states['integrity']}")
    if "failed" in states.values():
        raise SystemExit(1)


def parse_age(text: str) -> timedelta:
    """``90d``, ``12h`` or ``2w``."""
    try:
        return _parse_age(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from None


@click.command("prune")
@with_appcontext
@click.option("--older-than", "age", required=True, help="age of the runs to delete, e.g. 90d")
@click.option("--project", default=None, help="only this project's runs")
@click.option("--dry-run", is_flag=True, help="count what would be deleted, delete nothing")
def prune_command(age: str, project: str | None, dry_run: bool) -> None:
    """Delete runs ingested more than AGE ago, with their results; keep the rest consistent."""
    cutoff = datetime.now(timezone.utc) - parse_age(age)
    outcome = prune(db.session, cutoff, project, dry_run=dry_run)
    if dry_run:
        click.echo(
            f"would delete {outcome.runs} runs and {outcome.results} results"
            + (f", and {outcome.uploads} upload records" if outcome.uploads else "")
        )
    else:
        click.echo(outcome.summary())


@click.command("requeue-uploads")
@with_appcontext
@click.argument("upload_ids", nargs=-1, type=click.IntRange(min=0, max=2**63 - 1))
def requeue_uploads_command(upload_ids: tuple[int, ...]) -> None:
    """Queue failed uploads again (the ones named by UPLOAD_IDS, or every failed one)."""
    count = requeue_failed(db.session, list(upload_ids) if upload_ids else None)
    click.echo(f"{count} failed uploads queued again; a running worker ingests them")


@click.command("worker")
@with_appcontext
@click.option(
    "--concurrency", default=1, show_default=True, type=click.IntRange(1, 64),
    help="jobs run at once in this process (threads)",
)  # fmt: skip
@click.option("--burst", is_flag=True, help="run the jobs due now, then exit")
@click.option(
    "--lease", type=click.IntRange(3, 86400), default=None,
    help="seconds a claim holds without a heartbeat [default: TESTVIZ_JOB_LEASE, 60]",
)  # fmt: skip
@click.option(
    "--poll", default=1.0, show_default=True, type=click.FloatRange(0.05, 60),
    help="seconds between looks for work when idle",
)  # fmt: skip
@click.option(
    "--no-schedule", "no_schedule", is_flag=True,
    help="do not queue the scheduled jobs (directory sync, retention)",
)  # fmt: skip
def worker_command(
    concurrency: int, burst: bool, lease: int | None, poll: float, no_schedule: bool
) -> None:
    """Run background jobs (queued ingest, analysis, directory sync, retention) until
    stopped (SIGTERM or Ctrl-C: the jobs in hand finish first)."""
    from .jobs.worker import Worker

    if not logging.getLogger().handlers:
        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    worker = Worker(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        concurrency=concurrency,
        lease=timedelta(seconds=lease) if lease else None,
        poll=poll,
        schedule=not no_schedule,
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        click.echo(f"worker: {signal.Signals(signum).name}, finishing the jobs in hand", err=True)
        worker.request_stop()

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        worker.run(burst=burst)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if burst:
        click.echo(f"worker: {worker.done} jobs run")


def init_app(app: Flask) -> None:
    for command in (
        init_db_command,
        upgrade_command,
        sync_command,
        reanalyze_command,
        prune_command,
        requeue_uploads_command,
        worker_command,
    ):
        app.cli.add_command(command)
