"""Query-string arguments of the read API and the pages, checked: a bad one is a clear 422."""

from __future__ import annotations

from collections.abc import Sequence

from flask import current_app, request

from pytest_testviz.core.results import STATUSES

from ..history.queries import GROUP_ORDER
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


def paging(per_page_default: int, per_page_max: int) -> tuple[int, int]:
    """``page`` and ``per_page``."""
    return int_arg("page", 1, 1_000_000), int_arg("per_page", per_page_default, per_page_max)


def flaky_window() -> int:
    """How many of a project's latest runs the flaky ranking looks at (a setting)."""
    window: int = current_app.extensions["testviz"].settings.flaky_window
    return window


def group_order() -> str:
    """How failure groups are ordered: recent, occurrences or runs."""
    return choice_arg("order", tuple(GROUP_ORDER), "recent") or "recent"
