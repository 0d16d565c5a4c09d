"""Charts drawn on the server as inline SVG: no script, no network, nothing to load.

Every label is untrusted text (branch names, test names, messages), so everything that goes
into the markup passes through ``escape``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD = 720, 200, 36


@dataclass(frozen=True)
class Point:
    value: float | None
    label: str
    href: str | None = None


def _trusted(parts: list[str]) -> Markup:
    """Markup assembled here, where every interpolated text went through ``escape``."""
    return Markup("".join(parts))  # noqa: S704 - labels escaped above, the rest is numbers


def _x(index: int, count: int) -> float:
    if count <= 1:
        return PAD + (WIDTH - 2 * PAD) / 2
    return PAD + index * (WIDTH - 2 * PAD) / (count - 1)


def _y(value: float, top: float, bottom: float = 0.0) -> float:
    span = top - bottom
    return HEIGHT - PAD - ((value - bottom) / span if span else 0) * (HEIGHT - 2 * PAD)


def _floor_axis(low: float, top: float) -> float:
    """Where a percentage axis starts: near the lowest value, so 97-100 % is not a flat line."""
    if low >= top:
        return max(0.0, top - 10)
    return max(0.0, (low - (top - low) * 0.1) // 5 * 5)


def _axis_label(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.0f}%"
    if value >= 100:
        return f"{value:.0f}{unit}"
    return f"{value:.2g}{unit}"


def _frame(title: str, top_label: str) -> list[str]:
    """The opening of a chart: the svg element, its title, the x axis, the top label."""
    return [
        f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" '
        f'y2="{HEIGHT - PAD}"/>',
        f'<text class="tick" x="2" y="{PAD + 4}">{escape(top_label)}</text>',
    ]


def line_chart(
    points: Sequence[Point],
    *,
    title: str,
    unit: str = "",
    top: float | None = None,
    zoom: bool = False,
) -> Markup:
    """A line over ``points`` (oldest first); each point a dot with its label as a tooltip.

    ``zoom`` starts the axis near the lowest value instead of at zero."""
    values = [p.value for p in points if p.value is not None]
    if not values:
        return Markup('<p class="empty">No data yet.</p>')
    top = top if top is not None else max(values) or 1.0
    bottom = _floor_axis(min(values), top) if zoom else 0.0
    parts = _frame(title, _axis_label(top, unit))
    parts.append(
        f'<text class="tick" x="2" y="{HEIGHT - PAD + 4}">'
        f"{escape(_axis_label(bottom, unit))}</text>"
    )
    placed = [
        (point, _x(index, len(points)), _y(point.value, top, bottom))
        for index, point in enumerate(points)
        if point.value is not None
    ]
    path = " ".join(f"{'L' if i else 'M'}{x:.1f},{y:.1f}" for i, (_, x, y) in enumerate(placed))
    parts.append(f'<path class="line" d="{path}"/>')
    for point, x, y in placed:
        dot = (
            f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="3">'
            f"<title>{escape(point.label)}</title></circle>"
        )
        if point.href:
            dot = f'<a href="{escape(point.href)}">{dot}</a>'
        parts.append(dot)
    parts.append("</svg>")
    return _trusted(parts)


def bar_chart(points: Sequence[Point], *, title: str, unit: str = "s") -> Markup:
    """Vertical bars (e.g. a test's duration per run, oldest first)."""
    values = [p.value for p in points if p.value is not None]
    if not values:
        return Markup('<p class="empty">No data yet.</p>')
    top = max(values) or 1.0
    slot = (WIDTH - 2 * PAD) / max(len(points), 1)
    width = max(slot * 0.8, 1.0)
    parts = _frame(title, _axis_label(top, unit))
    for index, point in enumerate(points):
        if point.value is None:
            continue
        height = point.value / top * (HEIGHT - 2 * PAD)
        x = PAD + index * slot
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{HEIGHT - PAD - height:.1f}" '
            f'width="{width:.1f}" height="{max(height, 0.5):.1f}">'
            f"<title>{escape(point.label)}</title></rect>"
        )
    parts.append("</svg>")
    return _trusted(parts)


def status_bar(
    passed: int, failed: int, errors: int, skipped: int, xfailed: int = 0, xpassed: int = 0
) -> Markup:
    """A horizontal pass/fail bar for a run's totals (xfailed and xpassed named when any)."""
    total = passed + failed + errors + skipped + xfailed + xpassed
    if not total:
        return Markup('<span class="statusbar empty"></span>')
    parts = ['<span class="statusbar" role="img" aria-label="', ""]
    segments = []
    for status, count in (
        ("passed", passed),
        ("xpassed", xpassed),
        ("failed", failed),
        ("error", errors),
        ("xfailed", xfailed),
        ("skipped", skipped),
    ):
        if count:
            share = 100 * count / total
            segments.append(
                f'<span class="seg {status}" style="width:{share:.2f}%" '
                f'title="{count} {status}"></span>'
            )
    label = f"{passed} passed, {failed} failed, {errors} errors, {skipped} skipped"
    label += "".join(
        f", {n} {word}" for word, n in (("xfailed", xfailed), ("xpassed", xpassed)) if n
    )
    parts[1] = f'{escape(label)}">'
    return _trusted([*parts, *segments, "</span>"])


@dataclass(frozen=True)
class Cell:
    status: str
    label: str
    href: str
    flaky: bool = False


def strip(cells: Sequence[Cell]) -> Markup:
    """A test's outcomes as a strip of squares, oldest on the left."""
    if not cells:
        return Markup('<p class="empty">No runs yet.</p>')
    items = [
        f'<a class="cell {escape(cell.status)}{" flaky" if cell.flaky else ""}" '
        f'href="{escape(cell.href)}" title="{escape(cell.label)}"></a>'
        for cell in cells
    ]
    return _trusted(['<div class="strip" role="list">', *items, "</div>"])
