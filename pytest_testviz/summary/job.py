"""The plugin's summary: written at the end of the run, on the controller only.

To ``$GITHUB_STEP_SUMMARY`` (appended, as GitHub expects: the file is the step's, and other
tools of the step write to it too) when GitHub Actions sets it, and to ``--testviz-summary``
(replaced). After the upload the server is asked for the run's summary; when it cannot give
it, the summary is this run's own results, not compared with earlier runs, and says why.
Nothing here raises: a summary that cannot be written is a line in the terminal, and the
run's exit status is pytest's.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .model import Summary, from_records
from .render import GITHUB_SUMMARY_LIMIT, MAX_BYTES, markdown

if TYPE_CHECKING:
    from ..capture import TestRecord
    from ..options import Settings
    from ..upload import Outcome

GITHUB_VARIABLE = "GITHUB_STEP_SUMMARY"
READ_TOKEN_VARIABLE = "TESTVIZ_READ_TOKEN"  # noqa: S105 - a variable's name
#: Less room than this left in the step's summary file: not worth a summary cut to nothing.
MIN_BYTES = 4 * 1024


@dataclass(frozen=True)
class Target:
    path: Path
    #: GitHub's step summary is appended to; a file of one's own is replaced.
    append: bool
    #: How the terminal names it.
    name: str


def targets(explicit: Path | None, env: Mapping[str, str]) -> list[Target]:
    """Where the summary goes: GitHub's step summary when set, and ``explicit``."""
    found = []
    step = env.get(GITHUB_VARIABLE, "").strip()
    if step:
        found.append(Target(Path(step), True, f"${GITHUB_VARIABLE}"))
    if explicit is not None and not (found and _same(found[0].path, explicit)):
        found.append(Target(explicit, False, str(explicit)))
    return found


def _same(one: Path, other: Path) -> bool:
    try:
        return one.resolve() == other.resolve()
    except OSError:
        return False


def _summary(
    records: Iterable[TestRecord],
    settings: Settings,
    run_id: str,
    build_id: str | None,
    duration: float,
    outcome: Outcome | None,
) -> Summary:
    """The server's summary of the run, else the run's own with a notice of why."""
    notice = None
    url = settings.url
    if url is not None and outcome is not None and outcome.ok and outcome.run_id:
        from .client import SummaryUnavailable, fetch_run

        token = os.environ.get(READ_TOKEN_VARIABLE) or settings.token
        try:
            return fetch_run(url, outcome.run_id, token=token, timeout=settings.timeout)
        except SummaryUnavailable as exc:
            notice = f"The server could not give this run's summary: {exc}."
    elif url is not None:
        why = outcome.detail if outcome is not None else "it was not sent"
        notice = f"This run did not reach the server ({why})."
    if notice is not None:
        notice += " Shown: this run's own results, not compared with earlier runs."
    return from_records(
        records,
        project=settings.project,
        run_id=run_id,
        duration=duration,
        build_id=build_id,
        notice=notice,
        server=url,
    )


def _room(target: Target) -> int:
    """Bytes the summary may take in ``target``: what GitHub's limit leaves in the file."""
    if not target.append:
        return MAX_BYTES
    try:
        used = target.path.stat().st_size
    except OSError:
        used = 0
    return min(MAX_BYTES, GITHUB_SUMMARY_LIMIT - used - 2)


def _write(target: Target, text: str) -> None:
    if target.append:
        with target.path.open("a", encoding="utf-8") as file:
            if file.tell():
                file.write("\n")  # a blank line: not part of the previous tool's paragraph
            file.write(text)
    else:
        target.path.write_text(text, encoding="utf-8")


def write_summaries(
    found: list[Target],
    *,
    records: Iterable[TestRecord],
    settings: Settings,
    run_id: str,
    build_id: str | None,
    duration: float,
    outcome: Outcome | None,
) -> list[str]:
    """Write the summary to each target; the terminal's lines about it."""
    lines = []
    try:
        summary = _summary(records, settings, run_id, build_id, duration, outcome)
    except Exception as exc:  # whatever it is, the run's verdict stands
        return [f"testviz: no summary written: {type(exc).__name__}: {exc}"]
    if summary.notice:
        lines.append(f"testviz: {summary.notice}")
    for target in found:
        room = _room(target)
        if room < MIN_BYTES:
            lines.append(
                f"testviz: no summary written to {target.name}: GitHub's 1 MiB limit for a "
                "step's summary is (nearly) reached"
            )
            continue
        try:
            _write(target, markdown(summary, max_bytes=room))
        except Exception as exc:  # a full disk, a directory that is not there, ...
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            lines.append(f"testviz: could not write the summary to {target.name}: {why}")
        else:
            lines.append(f"testviz: summary written to {target.name}")
    return lines
