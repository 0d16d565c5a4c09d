"""The visualizer's pages: server-rendered HTML over the same data as the JSON API.

No script and no asset from another host: charts are inline SVG (``charts.py``), styles are
one local stylesheet, and Jinja escapes every name and message.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from pytest_testviz.core.results import STATUSES

from . import charts
from .api_history import (
    definition_history,
    flaky_data,
    group_data,
    groups_data,
    overview_data,
    signals_data,
)
from .api_read import get_run_or_404, run_detail, run_id_can_exist, run_list
from .args import text_arg
from .db import db
from .errors import APIError
from .history import run_diff
from .models import QueuedUpload

bp = Blueprint("views", __name__)


def _short(value: str | None, length: int = 10) -> str:
    return value[:length] if value else ""


@bp.app_template_filter("short")
def short_filter(value: str | None, length: int = 10) -> str:
    return _short(value, length)


@bp.app_template_filter("seconds")
def seconds_filter(value: float | None) -> str:
    if value is None:
        return ""
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.2f} s"
    return f"{value / 60:.1f} min"


@bp.app_template_filter("plural")
def plural_filter(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


OWNER_SOURCES = {
    "sidecar": "declared with the run",
    "marker": "from a testviz marker",
    "codeowners": "from CODEOWNERS",
}


@bp.app_template_filter("owner_source")
def owner_source_filter(source: str | None) -> str:
    return OWNER_SOURCES.get(source or "", source or "")


@bp.app_template_filter("percent")
def percent_filter(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


@bp.app_template_global()
def page_url(page: int) -> str:
    """The current page's URL with another ``page`` argument."""
    args: dict[str, Any] = request.args.to_dict()
    args["page"] = page
    return url_for(request.endpoint or "views.overview", **(request.view_args or {}), **args)


@bp.app_template_global()
def status_bar(totals: Any) -> Any:
    return charts.status_bar(
        totals.passed,
        totals.failed,
        totals.errors,
        totals.skipped,
        xfailed=totals.xfailed,
        xpassed=totals.xpassed,
    )


@bp.get("/")
def overview() -> ResponseReturnValue:
    data = overview_data()
    trend_points = [
        charts.Point(
            p.pass_rate * 100 if p.pass_rate is not None else None,
            f"{p.run_id[:12]} {p.branch or ''}: {percent_filter(p.pass_rate)} passed",
            url_for("views.run", run_id=p.run_id),
        )
        for p in data.trend
    ]
    duration_points = [
        charts.Point(
            p.duration,
            f"{p.run_id[:12]} {p.branch or ''}: {seconds_filter(p.duration)}",
            url_for("views.run", run_id=p.run_id),
        )
        for p in data.trend
    ]
    return render_template(
        "overview.html",
        data=data,
        pass_chart=charts.line_chart(
            trend_points, title="Pass rate", unit="%", top=100.0, zoom=True
        ),
        duration_chart=charts.line_chart(duration_points, title="Duration", unit="s"),
        server_url=request.host_url.rstrip("/"),
    )


@bp.get("/runs")
def runs() -> ResponseReturnValue:
    return render_template(
        "runs.html",
        data=run_list(per_page_default=50),
        project=text_arg("project"),
        branch=text_arg("branch"),
        status=request.args.get("status", ""),
    )


@bp.get("/runs/<run_id>")
def run(run_id: str) -> ResponseReturnValue:
    """A run; while its queued upload is being stored (or if storing it failed), that."""
    try:
        found = get_run_or_404(run_id)
    except APIError:
        upload = _waiting_upload(run_id)
        if upload is None:
            raise
        status = 200 if upload.state == "queued" else 404
        return render_template("upload.html", run_id=run_id, upload=upload), status
    detail = run_detail(found, per_page_default=100)
    return render_template(
        "run.html",
        run=detail,
        diff=run_diff(db.session, found),
        statuses=STATUSES,
        status=request.args.get("status", ""),
        q=request.args.get("q", ""),
    )


def _waiting_upload(run_id: str) -> QueuedUpload | None:
    """The newest queued or failed upload of ``run_id``: the summary line of a pushing test
    run links the run's page before the run is stored."""
    if not run_id_can_exist(run_id):
        return None
    return db.session.scalars(
        select(QueuedUpload)
        .where(QueuedUpload.run_id == run_id, QueuedUpload.state.in_(("queued", "failed")))
        .order_by(QueuedUpload.id.desc())
        .limit(1)
    ).first()


@bp.get("/tests/<test_id>", endpoint="test")
def show_test(test_id: str) -> ResponseReturnValue:
    data = definition_history(test_id, per_page_default=100)
    oldest_first = list(reversed(data.history))
    cells = [
        charts.Cell(
            h.status,
            f"{h.run_id[:12]} {h.branch or ''} {h.status}{' (flaky)' if h.flaky else ''}",
            url_for("views.run", run_id=h.run_id),
            h.flaky,
        )
        for h in oldest_first
    ]
    durations = [
        charts.Point(h.duration, f"{h.run_id[:12]}: {seconds_filter(h.duration)}")
        for h in oldest_first
    ]
    return render_template(
        "test.html",
        data=data,
        strip=charts.strip(cells),
        duration_chart=charts.bar_chart(durations, title="Duration per run"),
    )


@bp.get("/flaky")
def flaky() -> ResponseReturnValue:
    return render_template("flaky.html", data=flaky_data())


@bp.get("/failures")
def failures() -> ResponseReturnValue:
    return render_template(
        "failures.html", data=groups_data(), order=request.args.get("order", "recent")
    )


@bp.get("/failures/<fingerprint>")
def failure(fingerprint: str) -> ResponseReturnValue:
    return render_template("failure.html", group=group_data(fingerprint))


@bp.get("/integrity")
def integrity() -> ResponseReturnValue:
    return render_template("integrity.html", data=signals_data())
