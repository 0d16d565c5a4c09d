"""Stable identities: one ``test_id`` per test, one ``run_id`` per run.

The canonical form of a test's identity (documented in docs/identity.md so other tools can
reproduce it) is the UTF-8 encoding of::

    "testviz:2" NUL project NUL classname NUL name [NUL "#" occurrence]

where ``classname`` and ``name`` are the XML attributes exactly as the report wrote them (after
XML decoding; nothing trimmed or folded: pytest's ``[END IF]`` and ``[END   IF]`` are two
tests), and the occurrence suffix is present only for the second and later testcase elements
of a report that share classname and name but are distinct tests (a producer whose names are
not unique, such as Jest). ``test_id`` is the SHA-256 hex digest of it. The file, the suite,
the duration, the outcome and the order of the tests are not part of it, so the same pytest
test has the same id under ``junit_family=xunit1`` (which writes ``file``), ``xunit2`` (which
does not) and this project's plugin.

Version 1 folded runs of white space in names, which merged distinct tests; migration 0007
recomputes the ids of stored tests from their stored names.
"""

from __future__ import annotations

import hashlib

IDENTITY_VERSION = "testviz:2"


def canonical_identity(project: str, classname: str, name: str, occurrence: int = 1) -> str:
    """The string whose hash is the ``test_id``."""
    identity = f"{IDENTITY_VERSION}\0{project}\0{classname}\0{name}"
    if occurrence > 1:
        identity += f"\0#{occurrence}"
    return identity


def test_id(project: str, classname: str, name: str, occurrence: int = 1) -> str:  # noqa: PT028
    """SHA-256 hex digest of :func:`canonical_identity`."""
    identity = canonical_identity(project, classname, name, occurrence)
    return hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()


test_id.__test__ = False  # type: ignore[attr-defined]  # a function pytest must not collect


def class_prefix(project: str, classname: str) -> hashlib._Hash:
    """The SHA-256 state after the part of the canonical identity before the name.

    ``copy()`` it, ``update`` it with the name's UTF-8 (``surrogatepass``), and its
    ``hexdigest()`` is :func:`test_id` of the first occurrence.
    """
    prefix = f"{IDENTITY_VERSION}\0{project}\0{classname}\0"
    return hashlib.sha256(prefix.encode("utf-8", "surrogatepass"))


def content_run_id(report: bytes, sidecar: bytes | None = None) -> str:
    """A run id derived from the files' bytes, so sending the same files twice is one run."""
    return content_run_digest(hashlib.sha256(report).digest(), sidecar)


def content_run_digest(report_sha256: bytes, sidecar: bytes | None = None) -> str:
    """:func:`content_run_id` from the report's SHA-256, which the streaming reader computes."""
    digest = hashlib.sha256(b"testviz-run:1\0")
    digest.update(report_sha256)
    digest.update(hashlib.sha256(sidecar or b"").digest())
    return digest.hexdigest()[:32]
