"""Query-string arguments of the read API and the pages, checked: a bad one is a clear 422."""

from __future__ import annotations

from collections.abc import Sequence

from flask import request

from pytest_testviz.core.results import STATUSES

from .errors import APIError


def int_arg(name: str, default: int, maximum: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12 or int(raw) < 1:
        raise APIError(
            422, "invalid_request", f"invalid query parameter {name!r}: a whole number >= 1"
        )
    return min(int(raw), maximum)


def text_arg(name: str) -> str | None:
    """A free-text query parameter; one with a NUL character cannot match anything stored."""
    value = request.args.get(name) or None
    if value is not None and ("\x00" in value or len(value) > 1024):
        raise APIError(422, "invalid_request", f"invalid query parameter {name!r}")
    return value


def choice_arg(name: str, choices: Sequence[str], default: str | None = None) -> str | None:
    value = request.args.get(name) or default
    if value is not None and value not in choices:
        raise APIError(
            422,
            "invalid_request",
            f"invalid query parameter {name!r}: one of {', '.join(choices)}",
        )
    return value


def status_arg() -> str | None:
    return choice_arg("status", STATUSES)
