"""What each kind of job does: thin calls into the code that does the work.

A handler runs inside an app context with ``db.session``; it returns ``None`` when the job
is done, or a delay to be queued again after (work found not ready yet, not a failure). An
exception is a failed attempt: the job is retried with backoff, and after its last attempt
given up (``give_up``, if the kind has one, records that where users look).

Kinds: ``ingest`` (key: a queued upload's id), ``analysis`` (a run id), ``sync`` (a
directory), ``retention`` (scheduled: prunes runs older than ``TESTVIZ_RETENTION`` and
forgets finished jobs). Later kinds (webhook deliveries) register themselves here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flask import Flask

from ..config import parse_age
from ..history.retention import prune
from ..ingest.queued import give_up, ingest_upload
from ..ingest.sync import sync_test_results
from ..storage.db import db
from .queue import ClaimedJob, forget_finished, utcnow

log = logging.getLogger(__name__)

Run = Callable[[Flask, ClaimedJob], "timedelta | None"]
GiveUp = Callable[[Flask, ClaimedJob, str], None]

#: Finished jobs are kept this long (what a person may want to look at), then forgotten.
KEEP_DONE = timedelta(days=1)
KEEP_FAILED = timedelta(days=30)


@dataclass(frozen=True)
class Handler:
    run: Run
    give_up: GiveUp | None = None


HANDLERS: dict[str, Handler] = {}


def register(kind: str, run: Run, give_up: GiveUp | None = None) -> None:
    HANDLERS[kind] = Handler(run, give_up)


def _settings(app: Flask) -> object:
    return app.extensions["testviz"].settings


# -- ingest -----------------------------------------------------------------------------------


def ingest(app: Flask, job: ClaimedJob) -> timedelta | None:
    ingest_upload(db.session, int(job.key), app.extensions["testviz"].settings, job.attempts)
    return None


def ingest_given_up(app: Flask, job: ClaimedJob, why: str) -> None:
    give_up(db.session, int(job.key), job.attempts, why)


# -- analysis ---------------------------------------------------------------------------------


def analysis(app: Flask, job: ClaimedJob) -> timedelta | None:
    try:
        app.extensions["testviz"].analyzer.analyse(job.key)
    except LookupError:
        log.info("run %s is gone (pruned?): nothing to analyse", job.key)
    return None


# -- directory sync ---------------------------------------------------------------------------

#: A sync that found files still being written comes back after this.
SYNC_AGAIN = timedelta(seconds=2)


def sync(app: Flask, job: ClaimedJob) -> timedelta | None:
    outcome = sync_test_results(Path(job.key), db.session)
    db.session.rollback()
    return SYNC_AGAIN if outcome.deferred else None


# -- retention --------------------------------------------------------------------------------


def retention(app: Flask, job: ClaimedJob) -> timedelta | None:
    settings = app.extensions["testviz"].settings
    now = utcnow()
    if settings.retention:
        outcome = prune(db.session, now - parse_age(settings.retention))
        if outcome.runs or outcome.uploads:
            log.info("retention (%s): %s", settings.retention, outcome.summary())
    forgotten = forget_finished(db.session, now - KEEP_DONE, now - KEEP_FAILED)
    db.session.commit()
    if forgotten:
        log.info("retention: %d finished jobs forgotten", forgotten)
    return None


register("ingest", ingest, ingest_given_up)
register("analysis", analysis)
register("sync", sync)
register("retention", retention)
