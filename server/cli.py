"""``flask --app server ...`` commands: upgrade (init-db), sync, reanalyze."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from .database import upgrade_database
from .db import db
from .sync import report_files, sync_test_results


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


def init_app(app: Flask) -> None:
    for command in (init_db_command, upgrade_command, sync_command, reanalyze_command):
        app.cli.add_command(command)
