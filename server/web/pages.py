"""The visualizer's pages: server-rendered HTML over the same data as the JSON API.

No script and no asset from another host: charts are inline SVG (:mod:`.charts`), styles are
one local stylesheet, and Jinja escapes every name and message.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request, url_for
from flask.typing import ResponseReturnValue

from pytest_testviz.core.results import STATUSES

from ..errors import NotFound
from ..history import queries, service, summary
from ..ingest.queued import waiting_upload
from ..storage.db import db
from . import charts
from .args import choice_arg, flaky_window, group_order, paging, status_arg, text_arg

bp = Blueprint("pages", __name__)


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
    return url_for(request.endpoint or "pages.overview", **(request.view_args or {}), **args)


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
    data = service.overview(
        db.session, project=text_arg("project"), branch=text_arg("branch"), window=flaky_window()
    )
    trend_points = [
        charts.Point(
            p.pass_rate * 100 if p.pass_rate is not None else None,
            f"{p.run_id[:12]} {p.branch or ''}: {percent_filter(p.pass_rate)} passed",
            url_for("pages.run", run_id=p.run_id),
        )
        for p in data.trend
    ]
    duration_points = [
        charts.Point(
            p.duration,
            f"{p.run_id[:12]} {p.branch or ''}: {seconds_filter(p.duration)}",
            url_for("pages.run", run_id=p.run_id),
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
    page, per_page = paging(50, 500)
    project, branch = text_arg("project"), text_arg("branch")
    data = service.run_list(
        db.session,
        project=project,
        branch=branch,
        status=choice_arg("status", service.RUN_STATUSES),
        page=page,
        per_page=per_page,
    )
    return render_template(
        "runs.html",
        data=data,
        project=project,
        branch=branch,
        status=request.args.get("status", ""),
    )


@bp.get("/runs/<run_id>")
def run(run_id: str) -> ResponseReturnValue:
    """A run; while its queued upload is being stored (or if storing it failed), that."""
    try:
        found = service.get_run(db.session, run_id)
    except NotFound:
        upload = waiting_upload(db.session, run_id)
        if upload is None:
            raise
        status = 200 if upload.state == "queued" else 404
        return render_template("upload.html", run_id=run_id, upload=upload), status
    page, per_page = paging(100, 100_000)
    detail = service.run_detail(
        db.session, found, status=status_arg(), search=text_arg("q"), page=page, per_page=per_page
    )
    return render_template(
        "run.html",
        run=detail,
        diff=queries.run_diff(db.session, found),
        statuses=STATUSES,
        status=request.args.get("status", ""),
        q=request.args.get("q", ""),
    )


@bp.get("/builds/<path:build_id>")
def build(build_id: str) -> ResponseReturnValue:
    """A CI build: its runs, their totals together, what changed since the previous build."""
    data = summary.build_summary(db.session, build_id, text_arg("project"), None)
    return render_template("build.html", data=data)


@bp.get("/tests/<test_id>", endpoint="test")
def show_test(test_id: str) -> ResponseReturnValue:
    project = text_arg("project")
    page, per_page = paging(100, 1000)
    data = service.test_history(
        db.session, test_id, project=project, page=page, per_page=per_page, window=flaky_window()
    )
    oldest_first = list(reversed(data.history))
    cells = [
        charts.Cell(
            h.status,
            f"{h.run_id[:12]} {h.branch or ''} {h.status}{' (flaky)' if h.flaky else ''}",
            url_for("pages.run", run_id=h.run_id),
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
    project = text_arg("project")
    page, per_page = paging(50, 500)
    data = service.flaky_list(
        db.session, project=project, window=flaky_window(), page=page, per_page=per_page
    )
    return render_template("flaky.html", data=data)


@bp.get("/failures")
def failures() -> ResponseReturnValue:
    project, order = text_arg("project"), group_order()
    page, per_page = paging(50, 500)
    data = queries.failure_groups(db.session, project, order=order, page=page, per_page=per_page)
    return render_template("failures.html", data=data, order=request.args.get("order", "recent"))


@bp.get("/failures/<fingerprint>")
def failure(fingerprint: str) -> ResponseReturnValue:
    group = service.failure_group(db.session, fingerprint, text_arg("project"))
    return render_template("failure.html", group=group)


@bp.get("/integrity")
def integrity() -> ResponseReturnValue:
    project, kind = text_arg("project"), text_arg("kind")
    page, per_page = paging(50, 500)
    data = queries.signals(db.session, project, kind=kind, page=page, per_page=per_page)
    return render_template("integrity.html", data=data)
