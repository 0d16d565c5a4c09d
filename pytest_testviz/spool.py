"""The report directory: pending reports at the top, sent ones in ``sent/``.

A report is written sidecar first, then XML, each through a temporary file and a rename, so
a pending ``<run_id>.xml`` always has its sidecar and is never half written. Nothing pending
is ever deleted; of the sent ones, the newest ``keep`` are kept.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from .core.constants import sidecar_path

SENT = "sent"
GITIGNORE = "# Written by pytest-testviz: test reports, not for version control.\n*\n"


@dataclass(frozen=True)
class Spooled:
    xml: Path
    meta: Path

    @property
    def run_id(self) -> str:
        return self.xml.name.removesuffix(".xml")


def _write_atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file beside ``path``, then rename it into place.

    Created with mode 0o666 less the umask, as ``open()`` creates files (``mkstemp`` would
    make them 0o600: reports a container writes as root would be unreadable on the host).
    """
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def prepare(directory: Path) -> None:
    """Create the directory with a ``.gitignore`` in it, as pytest does for its cache."""
    (directory / SENT).mkdir(parents=True, exist_ok=True)
    ignore = directory / ".gitignore"
    if not ignore.exists():
        ignore.write_text(GITIGNORE, encoding="utf-8")


def write(directory: Path, run_id: str, xml: bytes, meta: bytes) -> Spooled:
    prepare(directory)
    spooled = Spooled(directory / f"{run_id}.xml", sidecar_path(directory / f"{run_id}.xml"))
    _write_atomic(spooled.meta, meta)
    _write_atomic(spooled.xml, xml)
    return spooled


def pending(directory: Path) -> list[Spooled]:
    """Reports not yet acknowledged by a server, oldest first.

    Only reports written here, which always have their sidecar: another tool's XML in the
    same directory (``--junitxml`` pointed at it, say) is not ours to send or move.
    """
    if not directory.is_dir():
        return []
    found: list[tuple[int, str, Spooled]] = []
    for path in directory.glob("*.xml"):
        spooled = Spooled(path, sidecar_path(path))
        try:
            if path.name.startswith(".") or not spooled.meta.is_file():
                continue
            found.append((path.stat().st_mtime_ns, path.name, spooled))
        except FileNotFoundError:  # another session sent it meanwhile
            continue
    found.sort(key=lambda item: item[:2])
    return [spooled for _, _, spooled in found]


def mark_sent(spooled: Spooled, keep: int) -> None:
    """Move an acknowledged report into ``sent/`` and prune the oldest beyond ``keep``.

    The XML goes first: once it is gone the report is no longer pending, whatever happens
    to the sidecar left behind. Another session that moved it first is not an error.
    """
    sent = spooled.xml.parent / SENT
    sent.mkdir(exist_ok=True)
    for path in (spooled.xml, spooled.meta):
        try:
            os.replace(path, sent / path.name)
        except FileNotFoundError:
            continue
    prune(sent, keep)


def prune(sent: Path, keep: int) -> None:
    dated: list[tuple[int, Path]] = []
    for path in sent.glob("*.xml"):
        try:
            dated.append((path.stat().st_mtime_ns, path))
        except FileNotFoundError:  # pruned by another session meanwhile
            continue
    dated.sort(reverse=True)
    for _, old in dated[keep:]:
        sidecar_path(old).unlink(missing_ok=True)
        old.unlink(missing_ok=True)
