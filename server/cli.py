"""``flask --app server ...`` commands: upgrade (init-db), sync, reanalyze, prune,
requeue-uploads."""

from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from .database import upgrade_database
from .db import db
from .retention import prune
from .sync import report_files, sync_test_results
from .uploads import requeue_failed


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
            on_created=analyzer.analyse,
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


_UNITS = {"d": 86400, "h": 3600, "w": 7 * 86400}


def parse_age(text: str) -> timedelta:
    """``90d``, ``12h`` or ``2w``."""
    match = re.fullmatch(r"\s*(\d{1,6})\s*([dhw])\s*", text)
    if match is None:
        raise click.BadParameter(
            f"{text!r}: a number and a unit, d (days), h (hours) or w (weeks), e.g. 90d",
            param_hint="--older-than",
        )
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


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
    click.echo(f"{count} failed uploads queued again; a running server ingests them")


def init_app(app: Flask) -> None:
    for command in (
        init_db_command,
        upgrade_command,
        sync_command,
        reanalyze_command,
        prune_command,
        requeue_uploads_command,
    ):
        app.cli.add_command(command)
