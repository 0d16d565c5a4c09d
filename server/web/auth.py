"""Tokens: for ingest (optionally one project each), and for reading (the pages and read API).

``TESTVIZ_INGEST_TOKENS`` is a comma-separated list of entries, each ``TOKEN`` (any project)
or ``PROJECT:TOKEN`` (that project only; split at the last colon, so a project name may hold
colons and a token may not). ``TESTVIZ_READ_TOKENS`` lists the tokens that may read; when it
is set, every request but ``/healthz`` and ingest needs one of them, whichever blueprint
serves it, so pages and API routes added later are covered without registering anything.

A token is sent as ``Authorization: Bearer TOKEN``, as the password of HTTP Basic (what a
browser prompts for), or as ``X-Testviz-Token: TOKEN``; never in the URL, which access logs
keep. Tokens are compared in constant time (as SHA-256 digests, so not even their length
shows), and are never logged, echoed in an error, or shown in a repr.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from flask import Flask, current_app, request

from ..config import ConfigError
from .errors import APIError

#: Paths that never need a read token: readiness, and ingest and shard plans (they take
#: ingest tokens: a CI job holds one).
OPEN_PATHS = ("/healthz", "/api/tests/ingest", "/api/tests/shard-plans")
#: Recent durations, for a shard plan: a read token, or an ingest token for the project.
DURATIONS = "/api/tests/durations"
#: A queued upload's status: a read token, or an ingest token (the client that sent it
#: follows the ``Location`` it was given).
UPLOAD_STATUS = "/api/tests/uploads/"
#: A run's or a build's summary: a read token, or an ingest token for its project (the
#: plugin in CI writes the job's summary with the token it uploaded with).
SUMMARY = re.compile(r"/api/tests/(runs|builds)/.+/summary")
_CHALLENGE = 'Bearer realm="testviz", Basic realm="testviz", charset="UTF-8"'


@dataclass(frozen=True)
class IngestToken:
    """One ``TESTVIZ_INGEST_TOKENS`` entry: the digest of its secret, and its project if any."""

    digest: bytes = field(repr=False)
    project: str | None = None


@dataclass(frozen=True)
class TokenPolicy:
    ingest: tuple[IngestToken, ...] = ()
    read: tuple[bytes, ...] = field(default=(), repr=False)


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def parse_ingest_tokens(entries: Iterable[str]) -> tuple[IngestToken, ...]:
    """``TOKEN`` or ``PROJECT:TOKEN`` entries; a bad one is named by position, never shown."""
    tokens = []
    for position, entry in enumerate(entries, start=1):
        project, colon, secret = entry.strip().rpartition(":")
        if colon and (not project.strip() or not secret.strip()):
            raise ConfigError(
                f"invalid TESTVIZ_INGEST_TOKENS entry #{position}: "
                "use TOKEN or PROJECT:TOKEN, with neither part empty"
            )
        if not secret.strip():
            continue
        tokens.append(IngestToken(_digest(secret.strip()), project.strip() if colon else None))
    return tuple(tokens)


def token_policy(ingest: Iterable[str], read: Iterable[str]) -> TokenPolicy:
    return TokenPolicy(
        ingest=parse_ingest_tokens(ingest),
        read=tuple(_digest(t.strip()) for t in read if t.strip()),
    )


def presented_token() -> str:
    """The token the request carries (Bearer, Basic password or X-Testviz-Token), or ``""``."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return ""
        return decoded.partition(":")[2]
    return request.headers.get("X-Testviz-Token", "").strip()


def _matches(given: str, digests: Iterable[bytes]) -> list[bool]:
    """One flag per digest; every one is compared, whatever matched."""
    presented = _digest(given)
    return [hmac.compare_digest(presented, digest) for digest in digests]


def _unauthorized(message: str) -> APIError:
    return APIError(401, "unauthorized", message, headers={"WWW-Authenticate": _CHALLENGE})


def policy(app: Flask | None = None) -> TokenPolicy:
    state = (app or current_app).extensions["testviz"]
    result: TokenPolicy = state.tokens
    return result


def check_ingest_token() -> frozenset[str] | None:
    """401 unless the request carries an ingest token (when any are configured).

    Returns the projects the token may store runs of, or ``None`` for any project.
    """
    tokens = policy().ingest
    if not tokens:
        return None
    given = presented_token()
    if not given:
        raise _unauthorized("an ingest token is required (Authorization: Bearer ...)")
    hits = _matches(given, (token.digest for token in tokens))
    matched = [token for token, hit in zip(tokens, hits, strict=True) if hit]
    if not matched:
        raise _unauthorized("the ingest token is not valid")
    if any(token.project is None for token in matched):
        return None
    return frozenset(token.project for token in matched if token.project is not None)


def check_project(allowed: frozenset[str] | None, project: str) -> None:
    """403 when a project-scoped ingest token is used for another project."""
    if allowed is not None and project not in allowed:
        raise APIError(
            403,
            "forbidden",
            f"this ingest token may not store runs of project {project[:200]!r}",
            {"project": project[:200]},
        )


def upload_readers_projects() -> frozenset[str] | None:
    """For ``GET /api/tests/uploads/<id>`` and ``/api/tests/durations``: the projects whose
    uploads (durations) the caller may see, or ``None`` for all (reads are open, or it holds
    a read token or an any-project token)."""
    tokens = policy().read
    if not tokens:
        return None
    given = presented_token()
    if given and any(_matches(given, tokens)):
        return None
    return check_ingest_token()  # _require_read_token let it through with an ingest token


def check_reader_of(project: str) -> None:
    """403 when the caller got in with an ingest token scoped to other projects."""
    allowed = upload_readers_projects()
    if allowed is not None and project not in allowed:
        raise APIError(
            403,
            "forbidden",
            f"this token may not read project {project[:200]!r}",
            {"project": project[:200]},
        )


def _require_read_token() -> None:
    """Every route but the open ones needs a read token, when read tokens are configured."""
    tokens = policy().read
    if not tokens or request.path in OPEN_PATHS or request.method == "OPTIONS":
        return
    given = presented_token()
    if not given:
        raise _unauthorized("a read token is required (Authorization: Bearer ...)")
    if any(_matches(given, tokens)):
        return
    ingest_readable = (
        request.path.startswith(UPLOAD_STATUS)
        or request.path == DURATIONS
        or SUMMARY.fullmatch(request.path) is not None
    )
    if ingest_readable and any(_matches(given, (token.digest for token in policy().ingest))):
        return
    raise _unauthorized("the read token is not valid")


def init_app(app: Flask, ingest: Iterable[str], read: Iterable[str]) -> TokenPolicy:
    """Parse the tokens (a bad entry is a ConfigError) and guard every request."""
    tokens = token_policy(ingest, read)
    app.before_request(_require_read_token)
    return tokens
