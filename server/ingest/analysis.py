"""After a run is stored: resolve owners and tags, and check the run's integrity.

Both steps run after the ingest transaction has committed, as an ``analysis`` job that the
ingest queued in its own transaction (:mod:`server.jobs`), so they never delay or fail an
upload and are never lost. Each is gated by its own setting, logged, re-runnable for a run
(``reanalyze``) and recorded in the run's ``mapping_state``/``integrity_state``. The job's
claim keeps two workers from analysing one run at once; a worker that dies mid-way leaves
the job to another once its lease runs out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update

from pytest_testviz.core.codeowners import CodeOwners
from pytest_testviz.core.results import PASSING
from pytest_testviz.core.sidecar import RUNNER_MARKERS

from ..config import Settings
from ..history.queries import FAILING, previous_run
from ..jobs.queue import cancel
from ..storage.db import db
from ..storage.engine import AnySession, begin_write
from ..storage.models import IntegritySignal, Run, TestDefinition, TestResultRow

log = logging.getLogger(__name__)

_MAX_SIGNAL_TESTS = 200
#: Attempts of an ``analysis`` job (a step that fails is recorded ``failed``, not retried;
#: these are for a worker that died or a database that went away).
MAX_ATTEMPTS = 3
_CHUNK = 1000


# -- mapping ---------------------------------------------------------------------------------


def resolve_mapping(session: AnySession, run: Run, server_rules: CodeOwners | None) -> int:
    """Decide each of the run's tests' owner and tags; returns how many definitions changed.

    The decisions are made in a read transaction; only writing them takes the write lock
    (on SQLite that lock stops every upload, so it is held as briefly as possible).

    Precedence: the sidecar's per-test override, then the plugin's markers, then
    CODEOWNERS-style rules (sent with the run, else configured on the server), then nothing.
    """
    run_rules = CodeOwners(run.codeowners) if run.codeowners else None
    rules = run_rules or server_rules
    table = TestDefinition
    definitions = session.execute(  # plain rows, not ORM objects: thousands per run
        select(
            table.id,
            table.mapped_run_pk,
            table.declared_owner,
            table.declared_tags,
            table.markers,
            table.file,
            table.owner,
            table.owner_source,
            table.tags,
        )
        .join(TestResultRow, TestResultRow.definition_pk == table.id)
        .where(TestResultRow.run_pk == run.id)
    )
    updates: list[dict[str, Any]] = []
    for definition in definitions:
        if definition.mapped_run_pk is not None and definition.mapped_run_pk > run.id:
            continue  # reanalysing an older run: a newer run's view of this test stands
        owner, source = _owner(definition, rules)
        tags = list(definition.declared_tags or []) or sorted(
            {
                marker
                for marker in definition.markers or []
                if marker not in RUNNER_MARKERS and not marker.startswith("owner:")
            }
        )
        if (owner, source, tags) != (definition.owner, definition.owner_source, definition.tags):
            updates.append(
                {
                    "id": definition.id,
                    "owner": owner,
                    "owner_source": source,
                    "tags": tags,
                    "mapped_run_pk": run.id,
                }
            )
    begin_write(session)
    for start in range(0, len(updates), _CHUNK):
        session.execute(update(TestDefinition), updates[start : start + _CHUNK])
    return len(updates)


def _owner(definition: Any, rules: CodeOwners | None) -> tuple[str | None, str | None]:
    if definition.declared_owner:
        return definition.declared_owner, "sidecar"
    for marker in definition.markers or []:
        if marker.startswith("owner:"):
            return marker.removeprefix("owner:"), "marker"
    if rules is not None:
        owner = rules.owner(definition.file)
        if owner:
            return owner, "codeowners"
    return None, None


# -- integrity -------------------------------------------------------------------------------


def check_integrity(session: AnySession, run: Run, drop_threshold: float) -> list[IntegritySignal]:
    """Compare the run with the previous run of its project and branch; record signals."""
    session.execute(delete(IntegritySignal).where(IntegritySignal.run_pk == run.id))
    previous = previous_run(session, run)
    signals: list[IntegritySignal] = []

    def signal(
        kind: str,
        severity: str,
        message: str,
        tests: Iterable[TestDefinition] = (),
        count: int | None = None,
    ) -> None:
        listed = list(tests)
        signals.append(
            IntegritySignal(
                run_pk=run.id,
                project=run.project,
                kind=kind,
                severity=severity,
                message=message,
                session_id=run.session_id,
                previous_run_pk=previous.id if previous else None,
                tests=[
                    {"test_id": t.test_id, "name": t.name, "classname": t.classname}
                    for t in listed[:_MAX_SIGNAL_TESTS]
                ],
                test_count=len(listed) if count is None else count,
                created_at=datetime.now(timezone.utc),
            )
        )

    if not run.git_sha or not run.branch:
        missing = [
            name for name, value in (("git_sha", run.git_sha), ("branch", run.branch)) if not value
        ]
        signal("missing_git_metadata", "warning", f"the run has no {' or '.join(missing)}")
    if run.declared_tests is not None and run.declared_tests > run.testcases:
        signal(
            "declared_totals_mismatch",
            "error",
            f"the report declares {run.declared_tests} tests but holds {run.testcases} "
            "testcases: it may be truncated",
        )
    elif (
        run.declared_tests is not None
        and run.declared_tests != run.testcases
        and run.declared_tests != run.tests
    ):
        signal(
            "declared_totals_mismatch",
            "info",
            f"the report declares {run.declared_tests} tests; {run.testcases} testcases were found",
        )
    notes = run.notes or {}
    if notes.get("repeated_test_ids"):
        repeated = _definitions(session, run.project, notes["repeated_test_ids"])
        signal(
            "duplicate_test_ids",
            "info",
            f"{notes.get('repeated_count', len(repeated))} tests appear more than once in the "
            "report; their repeats were folded as retries",
            repeated,
            notes.get("repeated_count"),
        )
    if notes.get("nameless_testcases"):
        signal(
            "nameless_testcases",
            "warning",
            f"{notes['nameless_testcases']} testcases had neither name nor classname "
            "and were left out",
        )
    if previous is not None:
        _compare(session, run, previous, drop_threshold, signal)
    session.add_all(signals)
    return signals


def _compare(session: AnySession, run: Run, previous: Run, threshold: float, signal: Any) -> None:
    now = _statuses(session, run.id)
    before = _statuses(session, previous.id)
    gone = [pk for pk in before if pk not in now]
    if gone:
        signal(
            "tests_disappeared",
            "warning",
            f"{len(gone)} tests of the previous run are missing from this one",
            _by_pk(session, gone),
            len(gone),
        )
    # An xfail is no skip: the test ran, and failed as declared (an xpass would show it fixed).
    newly_skipped = [
        pk for pk, status in now.items() if status == "skipped" and before.get(pk) in PASSING
    ]
    if newly_skipped:
        signal(
            "newly_skipped",
            "warning",
            f"{len(newly_skipped)} tests that passed in the previous run are skipped now",
            _by_pk(session, newly_skipped),
            len(newly_skipped),
        )
    flipped = [
        pk for pk, status in now.items() if status == "skipped" and before.get(pk) in FAILING
    ]
    if flipped:
        signal(
            "failed_to_skipped",
            "error",
            f"{len(flipped)} tests that failed in the previous run are skipped now",
            _by_pk(session, flipped),
            len(flipped),
        )
    # Marking a test xfail is the other way to quiet it: a test that passed or failed last
    # time is now declared to fail. Not from a skip (runs stored before 0006 kept xfails as
    # skips) and not from an xpass (a non-strict xfail may pass now and then).
    xfailed = [
        pk
        for pk, status in now.items()
        if status == "xfailed" and before.get(pk) in ("passed", *FAILING)
    ]
    if xfailed:
        signal(
            "newly_xfailed",
            "warning",
            f"{len(xfailed)} tests that passed or failed in the previous run are expected to "
            "fail (xfail) now",
            _by_pk(session, xfailed),
            len(xfailed),
        )
    if previous.tests and run.tests < previous.tests * (1 - threshold):
        signal(
            "test_count_drop",
            "error",
            f"the run has {run.tests} tests, down from {previous.tests} "
            f"({(previous.tests - run.tests) / previous.tests:.0%} fewer)",
        )


def _statuses(session: AnySession, run_pk: int) -> dict[int, str]:
    rows = session.execute(
        select(TestResultRow.definition_pk, TestResultRow.status).where(
            TestResultRow.run_pk == run_pk
        )
    )
    return {definition_pk: status for definition_pk, status in rows}


def _by_pk(session: AnySession, pks: list[int]) -> list[TestDefinition]:
    """The first definitions of ``pks`` (capped), sorted for display."""
    chunk = pks[:_MAX_SIGNAL_TESTS]
    found = list(
        session.execute(select(TestDefinition).where(TestDefinition.id.in_(chunk))).scalars()
    )
    found.sort(key=lambda d: (d.classname, d.name))
    return found


def _definitions(session: AnySession, project: str, test_ids: list[str]) -> list[TestDefinition]:
    return list(
        session.execute(
            select(TestDefinition).where(
                TestDefinition.project == project,
                TestDefinition.test_id.in_(test_ids[:_MAX_SIGNAL_TESTS]),
            )
        ).scalars()
    )


# -- running it ------------------------------------------------------------------------------


class Analyzer:
    """Runs mapping and integrity for runs: inline, or left to the ``analysis`` job that the
    ingest queued (``analysis_in_background``, the default)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.in_background = settings.analysis_in_background
        _server_rules(settings)  # a missing or unreadable file stops start-up

    def submit(self, run_id: str) -> None:
        """A run was just stored: analyse it now when configured inline (and drop the job the
        ingest queued); otherwise its job is already queued."""
        if not self.in_background:
            self.analyse_now(run_id)

    def analyse_now(self, run_id: str) -> dict[str, str]:
        """Analyse a run in this thread, and drop the job its ingest queued for a worker."""
        states = self.analyse(run_id)
        session = db.session
        cancel(session, "analysis", run_id)
        session.commit()
        return states

    def analyse(self, run_id: str, *, force: bool = False) -> dict[str, str]:
        """Run both steps for one run, if they are pending (or with ``force``, again).

        Not claimed here: the job's claim (or the operator running ``reanalyze``) makes it
        the only analysis of this run under way.
        """
        session = db.session
        run = session.execute(select(Run).where(Run.run_id == run_id)).scalar_one_or_none()
        if run is None:
            session.rollback()
            raise LookupError(f"no run with run_id {run_id!r}")
        if not force and "pending" not in (run.mapping_state, run.integrity_state):
            states = {"mapping": run.mapping_state, "integrity": run.integrity_state}
            session.rollback()
            return states
        return {
            "mapping": self._step(session, run, "mapping", self.settings.mapping_enabled),
            "integrity": self._step(session, run, "integrity", self.settings.integrity_enabled),
        }

    def _step(self, session: AnySession, run: Run, step: str, enabled: bool) -> str:
        column = Run.mapping_state if step == "mapping" else Run.integrity_state
        if not enabled:
            state = "off"
        else:
            try:
                if step == "mapping":
                    # Read again for each run: the file may have changed since start-up.
                    changed = resolve_mapping(session, run, _server_rules(self.settings))
                    log.info(
                        "mapping resolution for run %s: %d definitions updated", run.run_id, changed
                    )
                else:
                    begin_write(session)
                    found = check_integrity(session, run, self.settings.count_drop_threshold)
                    log.info(
                        "integrity check for run %s: %d signals (%s)",
                        run.run_id,
                        len(found),
                        ", ".join(sorted({s.kind for s in found})) or "none",
                    )
                state = "done"
            except Exception:
                session.rollback()
                log.exception("%s step failed for run %s", step, run.run_id)
                state = "failed"
        begin_write(session)
        session.execute(update(Run).where(Run.id == run.id).values({column: state}))
        session.commit()
        session.refresh(run)
        return state


def _server_rules(settings: Settings) -> CodeOwners | None:
    if not settings.codeowners_file:
        return None
    return CodeOwners(Path(settings.codeowners_file).read_text(encoding="utf-8"))
