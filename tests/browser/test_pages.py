"""The visualizer's pages in a real browser (issue 5).

One server per module, seeded through the HTTP ingest API (see ``conftest.py``); one Chromium
per session, a new page per test. Every page a test opens must load without a console error,
an uncaught exception, a failed or foreign request, or a dialog (the ``watch`` fixture checks at
teardown; ``test_every_page_renders_cleanly`` checks within the test).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest

from .conftest import (
    EDGE_PROJECT,
    EDGE_TEST,
    ENV_A,
    ENV_B,
    ENV_SPECIFIC,
    FEATURE,
    FLAKY,
    MAIN,
    OUTCOMES_RUN,
    PROJECT,
    RECURRING,
    RERUN,
    RUNS,
    XSS,
    XSS_MESSAGE,
    XSS_NAME,
    Seeded,
    Watch,
    run_id_of,
)

pytestmark = pytest.mark.browser


def visit(page: Any, url: str, status: int = 200) -> Any:
    response = page.goto(url)
    assert response is not None, url
    assert response.status == status, f"{url}: {response.status}"
    assert response.headers["content-type"].startswith("text/html"), url
    return response


def rows(page: Any, table: str) -> Any:
    return page.locator(f"{table} tbody tr")


def column(page: Any, table: str, index: int) -> list[str]:
    """The text of one column (0-based) of a table's body."""
    cells = page.locator(f"{table} tbody tr td:nth-child({index + 1})")
    return [text.strip() for text in cells.all_inner_texts()]


def two_columns(page: Any, table: str) -> dict[str, str]:
    """A table's first column mapped to its second."""
    return dict(zip(column(page, table, 0), column(page, table, 1), strict=True))


def definitions(page: Any) -> dict[str, str]:
    """The page's ``dl.meta`` as a dict."""
    terms = page.locator("dl.meta dt").all_inner_texts()
    return dict(zip(terms, page.locator("dl.meta dd").all_inner_texts(), strict=True))


def query(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def id_of(seeded: Seeded, test: tuple[str, str]) -> str:
    return seeded.test_ids[test]


def main_pages(seeded: Seeded) -> list[str]:
    """One page of every kind, half of them with ``?project=``."""
    group = seeded.api("/api/tests/failure-groups", project=PROJECT)["groups"][0]["fingerprint"]
    paths = [
        "/",
        f"/runs?project={PROJECT}",
        f"/runs/{run_id_of('r06')}",
        f"/tests/{id_of(seeded, FLAKY)}?project={PROJECT}",
        "/flaky",
        f"/failures?project={PROJECT}",
        f"/failures/{group}",
        f"/integrity?project={PROJECT}",
    ]
    return [seeded.url + p for p in paths]


# -- every page ----------------------------------------------------------------------------


PAGE_FACTS = """() => ({
  nav: document.querySelectorAll("header.top nav a").length,
  h1: document.querySelectorAll("main h1").length,
  scripts: document.querySelectorAll("script").length,
  background: getComputedStyle(document.querySelector("header.top")).backgroundColor,
  links: [...document.querySelectorAll("a[href]")].map(a => a.href),
})"""


def link_shape(url: str) -> tuple[str, tuple[str, ...]]:
    """A link's kind: its path with ids masked, and its query's keys."""
    parts = urlsplit(url)
    path = re.sub(r"/(runs|tests|failures)/[^/]+$", r"/\1/<id>", parts.path)
    return path, tuple(sorted(parse_qs(parts.query)))


def test_every_page_renders_cleanly(seeded: Seeded, watch: Watch) -> None:
    """Each kind of page: the layout, no script, the stylesheet applied, a clean console;
    and one link of every kind on them leads to a page that answers 200, on this host."""
    page = watch.page
    links: dict[tuple[str, tuple[str, ...]], str] = {}
    for url in main_pages(seeded):
        visit(page, url)
        facts = page.evaluate(PAGE_FACTS)
        assert facts["nav"] == 5, url
        assert facts["h1"] == 1, url
        assert facts["scripts"] == 0, f"{url}: the pages have no script"
        # The one stylesheet is loaded and applied (the header's dark background).
        assert facts["background"] == "rgb(36, 41, 47)", url
        watch.assert_clean()
        for href in facts["links"]:
            target = urljoin(url, href).split("#")[0]
            assert urlsplit(target).netloc == urlsplit(seeded.url).netloc, f"{url} links {href}"
            links.setdefault(link_shape(target), target)
    assert len(links) > 12
    broken = []
    for link in sorted(links.values()):
        response = page.request.get(link)
        if response.status != 200:
            broken.append(f"{response.status} {link}")
    assert not broken


MISBEHAVE = """() => new Promise(done => {
  console.error("boom");
  alert("hi");
  setTimeout(() => { throw new Error("uncaught"); });
  let pending = 2;
  for (const src of ["/static/missing.png", "http://other.invalid/x.png"]) {
    const img = new Image();
    img.onload = img.onerror = () => { if (--pending === 0) setTimeout(done, 50); };
    img.src = src;
  }
})"""


def test_the_watch_sees_what_it_must_catch(seeded: Seeded, watch: Watch) -> None:
    """The checks are not vacuous: a page that misbehaves trips every one of them."""
    page = watch.page
    page.route("http://other.invalid/**", lambda route: route.abort())
    visit(page, seeded.url + "/")
    page.evaluate(MISBEHAVE)
    page.wait_for_timeout(100)
    assert any("boom" in e for e in watch.console_errors)
    assert watch.dialogs == ["alert: hi"]
    assert any("uncaught" in e for e in watch.page_errors)
    assert watch.bad_responses == [f"404 {seeded.url}/static/missing.png"]
    assert watch.foreign_requests == ["http://other.invalid/x.png"]
    assert any("other.invalid" in e for e in watch.failed_requests)
    found = (watch.console_errors, watch.dialogs, watch.page_errors, watch.bad_responses)
    for items in (*found, watch.foreign_requests, watch.failed_requests):
        items.clear()


def test_project_argument_is_kept_in_navigation(seeded: Seeded, page: Any) -> None:
    visit(page, f"{seeded.url}/flaky?project={PROJECT}")
    assert page.locator("header.top .project").inner_text() == f"project: {PROJECT}"
    for href in page.locator("header.top nav a").evaluate_all("as => as.map(a => a.href)"):
        assert query_of(href).get("project") == [PROJECT], href
    assert page.locator("header.top nav a.on").inner_text() == "Flaky tests"


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


OVERFLOWING = """() => {
  const found = [];
  for (const el of document.querySelectorAll("main *")) {
    if (el.closest("pre, svg")) continue;  // pre scrolls on purpose; svg scales
    const style = getComputedStyle(el);
    if (style.display === "inline" || style.overflowX !== "visible") continue;
    if (el.scrollWidth > el.clientWidth + 1)
      found.push(`${el.tagName.toLowerCase()}.${el.className}: ${el.scrollWidth}px in `
        + `${el.clientWidth}px: ${el.textContent.trim().replace(/\\s+/g, " ").slice(0, 60)}`);
  }
  return found;
}"""


def test_no_content_overflows_its_box(seeded: Seeded, page: Any) -> None:
    """At 1280 px nothing is wider than its box (text running over the next column)."""
    overflowing = []
    for url in main_pages(seeded):
        visit(page, url)
        overflowing += [f"{urlsplit(url).path}: {item}" for item in page.evaluate(OVERFLOWING)]
    assert not overflowing


# -- overview ------------------------------------------------------------------------------


def test_overview(seeded: Seeded, page: Any) -> None:
    visit(page, seeded.url + "/")
    assert page.locator("main h1").inner_text() == PROJECT  # the project of the newest run
    assert sorted(page.locator("p.projects a").all_inner_texts()) == sorted([PROJECT, EDGE_PROJECT])
    cards = page.locator(".cards .card").all_inner_texts()
    assert [re.sub(r"\s+", " ", c).strip() for c in cards] == [
        "2 flaky tests",
        "1 environment-specific",
        "4 recurring failure groups",
        "2 recent integrity signals",
    ]
    # Latest run per branch: main's r07, feature/login's r08.
    latest_table = "h2:has-text('Latest run per branch') + table"
    latest = two_columns(page, latest_table)
    assert latest == {MAIN: run_id_of("r07"), FEATURE: run_id_of("r08")}
    assert page.locator(f"{latest_table} .statusbar .seg.passed").count() == 2

    charts = page.locator(".charts svg.chart")
    assert charts.count() == 2
    for index in range(2):
        chart = charts.nth(index)
        path = chart.locator("path.line").get_attribute("d") or ""
        assert len(re.findall(r"[ML]", path)) == len(RUNS)
        assert chart.locator("circle.dot").count() == len(RUNS)
        box = chart.bounding_box()
        assert box is not None
        assert box["width"] > 300
        assert box["height"] > 60
    # Each dot links to its run.
    first_dot = charts.nth(0).locator("a").first
    assert first_dot.get_attribute("href") == f"/runs/{run_id_of('r01')}"

    failures = page.locator("h2:has-text('Top recurring failures') + table")
    assert failures.get_by_text(XSS_MESSAGE).count() == 1
    assert failures.get_by_text("OperationalError").count() == 1
    signals = page.locator("table.signals").inner_text()
    assert "test_count_drop" in signals
    assert "tests_disappeared" in signals


def test_overview_of_another_project(seeded: Seeded, page: Any) -> None:
    visit(page, f"{seeded.url}/")
    page.locator("p.projects a", has_text=EDGE_PROJECT).click()
    assert query(page)["project"] == [EDGE_PROJECT]
    assert page.locator("main h1").inner_text() == EDGE_PROJECT
    assert page.locator(".charts svg.chart circle.dot").count() == 2 * len(
        [r for r in seeded.runs if r.startswith("e")]
    )


def test_first_visit_shows_how_to_send_a_run(empty_server: str, page: Any) -> None:
    visit(page, empty_server + "/")
    assert page.locator("main h1").inner_text() == "No test runs yet"
    commands = "\n".join(page.locator(".welcome pre code").all_inner_texts())
    assert f"pytest --testviz-url={empty_server}" in commands
    assert f"testviz push --url {empty_server} --project myproject report.xml" in commands
    assert f"'{empty_server}/api/tests/ingest?project=myproject'" in commands
    assert page.locator("svg.chart").count() == 0


def test_pages_of_an_empty_server(empty_server: str, page: Any) -> None:
    for path, empty in (
        ("/runs", "No runs match."),
        ("/flaky", "No flaky tests in the window."),
        ("/failures", "No failures recorded."),
        ("/integrity", "No integrity signals."),
    ):
        visit(page, empty_server + path)
        assert page.locator(".empty", has_text=empty).count() >= 1, path


# -- runs ----------------------------------------------------------------------------------


def test_runs_list_and_filters(seeded: Seeded, page: Any) -> None:
    visit(page, f"{seeded.url}/runs?project={PROJECT}")
    newest_first = [run_id_of(spec.key) for spec in reversed(RUNS)]
    assert column(page, "table.runs", 0) == newest_first
    assert page.locator("table.runs .statusbar").count() == len(RUNS)

    page.fill("form.filters input[name=branch]", FEATURE)
    page.click("form.filters button[type=submit]")
    assert query(page)["branch"] == [FEATURE]
    assert query(page)["project"] == [PROJECT]
    assert column(page, "table.runs", 2) == [FEATURE] * 3
    assert page.input_value("form.filters input[name=branch]") == FEATURE

    page.select_option("form.filters select[name=status]", "failed")
    page.click("form.filters button[type=submit]")
    assert query(page)["status"] == ["failed"]
    assert column(page, "table.runs", 0) == [run_id_of("r05"), run_id_of("r04")]
    assert all(int(n) > 0 for n in column(page, "table.runs", 6))

    page.select_option("form.filters select[name=status]", "passed")
    page.click("form.filters button[type=submit]")
    assert column(page, "table.runs", 0) == [run_id_of("r08")]
    assert column(page, "table.runs", 6) == ["0"]

    page.fill("form.filters input[name=branch]", "no-such-branch")
    page.click("form.filters button[type=submit]")
    assert page.locator("table.runs .empty").inner_text() == "No runs match."


def test_runs_pager(seeded: Seeded, page: Any) -> None:
    visit(page, f"{seeded.url}/runs?project={PROJECT}&per_page=3")
    pager = page.locator("nav.pager")
    assert pager.locator("span").inner_text() == f"page 1 of 3 ({len(RUNS)})"
    assert pager.locator("a[rel=prev]").count() == 0
    first = column(page, "table.runs", 0)
    pager.locator("a[rel=next]").click()
    assert query(page)["page"] == ["2"]
    assert query(page)["per_page"] == ["3"]
    assert query(page)["project"] == [PROJECT]
    assert pager.locator("span").inner_text() == f"page 2 of 3 ({len(RUNS)})"
    second = column(page, "table.runs", 0)
    assert second == [run_id_of(k) for k in ("r05", "r04", "r03")]
    assert not set(first) & set(second)
    pager.locator("a[rel=next]").click()
    assert column(page, "table.runs", 0) == [run_id_of("r02"), run_id_of("r01")]
    assert pager.locator("a[rel=next]").count() == 0
    pager.locator("a[rel=prev]").click()
    assert column(page, "table.runs", 0) == second


# -- one run -------------------------------------------------------------------------------


def test_run_page(seeded: Seeded, page: Any) -> None:
    run = seeded.runs["r06"]
    visit(page, f"{seeded.url}/runs/{run['run_id']}")
    assert page.locator("main h1").inner_text() == f"Run {run['run_id']}"
    assert page.title() == f"Run {run['run_id'][:12]} · testviz"
    meta = definitions(page)
    assert meta["branch"] == MAIN
    assert meta["git sha"] == "dddd4444"
    assert meta["environment"] == ENV_A
    assert meta["python"] == "3.11"
    assert meta["previous run"] == run_id_of("r03")

    # Since r03 (main, ENV_B): the two db tests broke, the env-specific test passes here.
    diff = {
        section.locator("h3").inner_text(): section.locator("li").all_inner_texts()
        for section in page.locator(".diff section").all()
    }
    assert list(diff) == ["New failures 2", "Fixed 1", "New tests 0", "Removed tests 0"]
    new_failures = [item.split()[0] for item in diff["New failures 2"]]
    assert sorted(new_failures) == sorted(f"{c}::{n}" for c, n in RECURRING)
    assert [item.split()[0] for item in diff["Fixed 1"]] == ["::".join(ENV_SPECIFIC)]

    causes = page.locator("h2:has-text('Failures by cause') + table tbody tr")
    assert causes.count() == 2
    assert sorted(column(page, "h2:has-text('Failures by cause') + table", 0)) == ["1", "2"]
    assert page.locator("h2:has-text('Slowest tests') + table tbody tr").count() > 0

    results = rows(page, "table.results")
    assert results.count() == len(run["results"])
    assert page.locator("nav.pager span").inner_text() == (
        f"page 1 of 1 ({len(run['results'])} results)"
    )


def test_run_results_filter_by_status_and_name(seeded: Seeded, page: Any) -> None:
    run = seeded.runs["r06"]
    visit(page, f"{seeded.url}/runs/{run['run_id']}")

    page.select_option("form.filters select[name=status]", "error")
    page.click("form.filters button[type=submit]")
    assert query(page)["status"] == ["error"]
    assert urlsplit(page.url).fragment == "results"
    results = rows(page, "table.results")
    assert results.count() == 2
    assert all(c == "error" for c in results.evaluate_all("rs => rs.map(r => r.className)"))

    page.select_option("form.filters select[name=status]", "failed")
    page.click("form.filters button[type=submit]")
    assert column(page, "table.results", 0) == ["::".join(XSS)]
    assert page.input_value("form.filters select[name=status]") == "failed"

    page.select_option("form.filters select[name=status]", "")
    page.fill("form.filters input[name=q]", "test_model_")
    page.click("form.filters button[type=submit]")
    assert query(page)["q"] == ["test_model_"]
    names = column(page, "table.results", 0)
    assert len(names) == 8
    assert all("test_model_" in name for name in names)
    assert page.input_value("form.filters input[name=q]") == "test_model_"

    page.select_option("form.filters select[name=status]", "error")
    page.fill("form.filters input[name=q]", "rollback")
    page.click("form.filters button[type=submit]")
    assert column(page, "table.results", 0) == ["::".join(RECURRING[1])]

    page.select_option("form.filters select[name=status]", "skipped")
    page.click("form.filters button[type=submit]")
    assert page.locator("table.results .empty").inner_text() == "No results match."


#: The x-outcomes' colours (app.css): yellow, as in pytest's terminal, and distinct.
XFAIL_COLOUR, XPASS_COLOUR = "rgb(212, 167, 44)", "rgb(234, 197, 79)"


def test_run_page_shows_xfailed_xpassed_and_subtests(outcomes_server: str, page: Any) -> None:
    visit(page, f"{outcomes_server}/runs/{OUTCOMES_RUN}")
    totals = " ".join(page.locator("p.totals").inner_text().split())
    assert totals.startswith(
        "5 tests: 1 passed, 1 failed, 0 errors, 1 skipped, 1 xfailed, 1 xpassed,"
        " 1 subtest failed, 3 subtests passed in"
    )
    bar = page.locator("p.totals .statusbar")
    assert bar.get_attribute("aria-label") == (
        "1 passed, 1 failed, 0 errors, 1 skipped, 1 xfailed, 1 xpassed"
    )
    background = "e => getComputedStyle(e).backgroundColor"
    segments = {
        name: bar.locator(f".seg.{name}").evaluate(background) for name in ("xfailed", "xpassed")
    }
    assert segments == {"xfailed": XFAIL_COLOUR, "xpassed": XPASS_COLOUR}
    for name in ("xfailed", "xpassed"):
        assert bar.locator(f".seg.{name}").bounding_box()["width"] > 10  # one fifth of the bar

    statuses = two_columns(page, "table.results")
    assert statuses == {
        "tests.test_cart::test_total": "passed",
        "tests.test_cart::test_rounding": "xfailed",
        "tests.test_cart::test_legacy_rounding": "xpassed",
        "tests.test_cart::test_discounts": "failed\nsubtests: 1 failed, 3 passed",
        "tests.test_cart::test_export": "skipped",
    }
    badge = page.locator("table.results .badge.xfailed")
    assert badge.evaluate(background) == XFAIL_COLOUR
    assert page.locator("table.results .badge.xpassed").evaluate(background) == XPASS_COLOUR

    options = page.locator("form.filters select[name=status] option")
    values = options.evaluate_all("os => os.map(o => o.value)")
    assert values == ["", "passed", "failed", "error", "skipped", "xfailed", "xpassed"]
    page.select_option("form.filters select[name=status]", "xpassed")
    page.click("form.filters button[type=submit]")
    assert query(page)["status"] == ["xpassed"]
    assert column(page, "table.results", 0) == ["tests.test_cart::test_legacy_rounding"]


def test_run_results_pager(seeded: Seeded, page: Any) -> None:
    run = seeded.runs["r06"]
    total = len(run["results"])
    visit(page, f"{seeded.url}/runs/{run['run_id']}?per_page=5")
    assert page.locator("nav.pager span").inner_text() == f"page 1 of 3 ({total} results)"
    first = column(page, "table.results", 0)
    page.locator("nav.pager a[rel=next]").click()
    assert query(page)["page"] == ["2"]
    assert page.locator("nav.pager span").inner_text() == f"page 2 of 3 ({total} results)"
    second = column(page, "table.results", 0)
    assert len(first) == len(second) == 5
    assert not set(first) & set(second)


# -- one test ------------------------------------------------------------------------------


def test_test_page_of_a_flaky_test(seeded: Seeded, page: Any) -> None:
    visit(page, f"{seeded.url}/tests/{id_of(seeded, FLAKY)}")
    assert page.locator("h1.testname").inner_text() == FLAKY[1]
    cells = page.locator(".strip .cell")
    assert cells.count() == len(RUNS)  # one per run, oldest on the left
    classes = cells.evaluate_all("cs => cs.map(c => c.className)")
    assert classes == ["cell passed", "cell failed"] + ["cell passed"] * (len(RUNS) - 2)
    chart = page.locator("svg.chart")
    assert chart.count() == 1
    assert chart.locator("rect.bar").count() == len(RUNS)
    assert page.locator("p.flakiness .badge").inner_text() == "flaky"
    evidence = page.locator("ul.evidence").inner_text()
    assert "passed and failed on the same git sha" in evidence
    assert page.locator("h2:has-text('Failures by cause') + table").get_by_text("TimeoutError")
    assert rows(page, "table.history").count() == len(RUNS)

    cells.nth(1).click()  # the failed run
    assert urlsplit(page.url).path == f"/runs/{run_id_of('r02')}"


def test_test_page_of_a_rerun_pass(seeded: Seeded, page: Any) -> None:
    visit(page, f"{seeded.url}/tests/{id_of(seeded, RERUN)}")
    assert page.locator("p.flakiness .badge").inner_text() == "flaky"
    assert "passed only after reruns" in page.locator("ul.evidence").inner_text()
    assert page.locator(".strip .cell.flaky").count() == 1
    assert page.locator("table.history .badge.flaky").count() == 1
    assert page.locator("h2:has-text('Failures by cause') + p.empty").inner_text() == (
        "It has never failed."
    )


def test_test_page_of_an_environment_specific_test(seeded: Seeded, page: Any) -> None:
    visit(page, f"{seeded.url}/tests/{id_of(seeded, ENV_SPECIFIC)}")
    assert page.locator("p.flakiness .badge").inner_text() == "environment-specific"
    envs = two_columns(page, "table.envs")
    assert envs == {ENV_A: "passed", ENV_B: "failed"}
    assert page.locator(".strip .cell.failed").count() == 3  # the three ENV_B runs


# -- flaky, failures, integrity --------------------------------------------------------------


def test_flaky_page(seeded: Seeded, page: Any) -> None:
    visit(page, f"{seeded.url}/flaky?project={PROJECT}")
    assert page.locator("main h1").inner_text() == f"Flaky tests in {PROJECT}"
    ranked = page.locator("table.flaky tbody tr td:nth-child(2) > a").all_inner_texts()
    assert sorted(ranked) == sorted([FLAKY[1], RERUN[1]])
    assert column(page, "table.flaky", 0) == ["1", "2"]
    env = page.locator("#env + p + table")
    assert env.locator("tbody tr").count() == 1
    cells = env.locator("tbody tr td").all_inner_texts()
    assert cells[0].startswith(ENV_SPECIFIC[1])
    assert cells[1:] == [ENV_B, ENV_A]

    page.locator("table.flaky a", has_text=RERUN[1]).click()
    assert urlsplit(page.url).path == f"/tests/{id_of(seeded, RERUN)}"
    assert page.locator("h1.testname").inner_text() == RERUN[1]


def test_a_flaky_test_is_not_also_environment_specific(seeded: Seeded, page: Any) -> None:
    visit(page, f"{seeded.url}/tests/{id_of(seeded, EDGE_TEST)}?project={EDGE_PROJECT}")
    assert page.locator("p.flakiness .badge").inner_text() == "flaky"
    visit(page, f"{seeded.url}/flaky?project={EDGE_PROJECT}")
    ranked = page.locator("table.flaky tbody tr td:nth-child(2) > a").all_inner_texts()
    assert ranked == [EDGE_TEST[1]]
    assert page.locator("#env ~ table").count() == 0, "listed as environment-specific as well"


def test_failure_groups_and_one_group(seeded: Seeded, page: Any) -> None:
    visit(page, f"{seeded.url}/failures?project={PROJECT}")
    groups = seeded.api("/api/tests/failure-groups", project=PROJECT)["groups"]
    assert rows(page, "table.groups").count() == len(groups) == 4
    assert page.locator("p.sort a.on").inner_text() == "most recent"
    page.locator("p.sort a", has_text="most runs").click()
    assert query(page)["order"] == ["runs"]
    assert page.locator("p.sort a.on").inner_text() == "most runs"
    assert column(page, "table.groups", 2)[0] == "5"  # XSS: failed in all five main runs

    page.locator("table.groups a", has_text="OperationalError").click()
    assert urlsplit(page.url).path.startswith("/failures/")
    assert page.locator("main h1 code").inner_text() == "sqlalchemy.exc.OperationalError"
    traceback = page.locator("pre.traceback").inner_text()
    assert "in database" in traceback
    assert "Connection refused" in traceback
    affected = page.locator("h2:has-text('Tests affected') + table")
    names = affected.locator("tbody td:first-child > a").all_inner_texts()
    assert sorted(names) == sorted(n for _, n in RECURRING)
    recent = page.locator("h2:has-text('Recent occurrences') + table tbody tr")
    assert recent.count() == 4  # two tests in two runs


def test_integrity_page(seeded: Seeded, page: Any) -> None:
    visit(page, f"{seeded.url}/integrity?project={PROJECT}")
    signals = rows(page, "table.signals")
    assert signals.count() == 2
    kinds = [k.split(":")[0] for k in column(page, "table.signals", 2)]
    assert sorted(kinds) == ["test_count_drop", "tests_disappeared"]
    assert set(column(page, "table.signals", 3)) == {run_id_of("r08")}
    assert page.locator("tr.sev-error").count() == 1
    lost = page.locator("tr", has_text="tests_disappeared").locator("td:last-child a")
    assert lost.all_inner_texts() == [f"test_model_{i}" for i in range(2, 7)]
    assert "6 in all" in page.locator("tr", has_text="tests_disappeared").inner_text()


# -- hostile text and errors ---------------------------------------------------------------


def test_hostile_test_name_and_message_are_text(seeded: Seeded, watch: Watch) -> None:
    page = watch.page
    xss_id = id_of(seeded, XSS)
    response = visit(page, f"{seeded.url}/runs/{run_id_of('r01')}")
    raw = response.text()
    assert XSS_NAME not in raw
    assert XSS_MESSAGE not in raw
    assert page.get_by_text(f"{XSS[0]}::{XSS_NAME}").count() >= 1
    assert page.locator("table.results td.msg", has_text=XSS_MESSAGE).count() == 1
    assert page.locator("img").count() == 0
    assert page.locator("script").count() == 0

    visit(page, f"{seeded.url}/tests/{xss_id}")
    assert page.locator("h1.testname").inner_text() == XSS_NAME
    assert page.title() == f"{XSS_NAME} · testviz"
    meta = definitions(page)
    assert meta["owner"].startswith("<b>@mallory</b>")
    assert meta["tags"].strip() == "<i>tag</i>"
    assert page.locator("dl.meta b, dl.meta i, img, script").count() == 0
    main_runs = [spec for spec in RUNS if spec.branch == MAIN]
    assert page.locator("table.history td.msg", has_text=XSS_MESSAGE).count() == len(main_runs)
    assert page.locator(".strip .cell.failed").count() == len(main_runs)

    page.locator("h2:has-text('Failures by cause') + table a[href^='/failures/']").click()
    assert page.locator("p.msg").first.inner_text() == XSS_MESSAGE
    assert '"<b>safe</b>"' in page.locator("pre.traceback").inner_text()
    assert page.locator("pre.traceback b").count() == 0
    assert page.get_by_text(XSS_NAME).count() >= 1

    for path in ("/", f"/failures?project={PROJECT}"):
        visit(page, seeded.url + path)
        assert page.get_by_text(XSS_MESSAGE).count() >= 1
        assert page.locator("img, script").count() == 0
    assert watch.dialogs == []
    watch.assert_clean()


def test_not_found_page(seeded: Seeded, watch: Watch) -> None:
    # Chromium logs the document's own 404 on the console; nothing else may appear there.
    watch.allowed_console.append("the server responded with a status of 404")
    page = watch.page
    for path, message in (
        ("/tests/nope", "no test with test_id 'nope'"),
        ("/failures/nope", "no failure group 'nope'"),
        ("/runs/nope", "no run with run_id 'nope'"),
    ):
        visit(page, seeded.url + path, status=404)
        assert page.locator("main h1").inner_text() == "404", path
        assert page.locator("main p").first.inner_text() == message
        assert page.title() == "404 · testviz"
        assert page.locator("header.top nav a").count() == 5  # the site's layout
    page.locator("main a", has_text="Back to the overview").click()
    assert urlsplit(page.url).path == "/"
    assert page.locator("main h1").inner_text() == PROJECT


def test_bad_query_argument_is_an_html_error_page(seeded: Seeded, watch: Watch) -> None:
    watch.allowed_console.append("the server responded with a status of 422")
    page = watch.page
    visit(page, f"{seeded.url}/runs?page=abc", status=422)
    assert page.locator("main h1").inner_text() == "422"
    assert "page" in page.locator("main p").first.inner_text()
