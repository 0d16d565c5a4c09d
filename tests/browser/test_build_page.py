"""The build page in a real browser: a CI build's runs (jobs) and their totals together,
reached from one of its runs; and ``testviz summary --build`` linking to it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from pytest_testviz.cli import main
from tests.server.helpers import serve

from .test_pages import definitions, visit

pytestmark = pytest.mark.browser

PROJECT = "shop"
#: Jenkins' BUILD_TAG: its folders make a build id with slashes.
BUILD = "jenkins-org/shop/main-12"
PREVIOUS = "jenkins-org/shop/main-11"


def _run(run_id: str, build_id: str, statuses: dict[str, str]) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "project": PROJECT,
        "branch": "main",
        "build_id": build_id,
        "results": [
            {
                "classname": "tests.test_cart",
                "name": name,
                "status": status,
                "message": "assert 1 == 2" if status == "failed" else None,
            }
            for name, status in statuses.items()
        ],
    }


@pytest.fixture(scope="module")
def builds_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Two builds of two shards each; the second breaks ``test_c``."""
    path = tmp_path_factory.mktemp("browser-builds") / "testviz.sqlite3"
    with serve(f"sqlite:///{path}") as url:
        bodies = [
            _run("old-1", PREVIOUS, {"test_a": "passed", "test_b": "passed"}),
            _run("old-2", PREVIOUS, {"test_c": "passed", "test_d": "passed"}),
            _run("new-1", BUILD, {"test_a": "passed", "test_b": "passed"}),
            _run("new-2", BUILD, {"test_c": "failed", "test_d": "passed"}),
        ]
        for body in bodies:
            response = requests.post(f"{url}/api/tests/ingest", json=body, timeout=30)
            assert response.status_code == 200, response.text
        yield url


def test_the_build_page_from_a_run(builds_server: str, page: Any) -> None:
    visit(page, f"{builds_server}/runs/new-2")
    assert definitions(page)["build"] == BUILD

    page.click(f"dl.meta a:has-text('{BUILD}')")

    assert page.locator("main h1").inner_text() == f"Build {BUILD}"
    totals = " ".join(page.locator("p.totals").inner_text().split())
    assert totals.startswith("2 runs, 4 tests: 3 passed, 1 failed, 0 errors, 0 skipped")
    runs = page.locator("table.runs tbody tr td:nth-child(1)").all_inner_texts()
    assert [run.strip() for run in runs] == ["new-1", "new-2"]
    assert definitions(page)["compared with"] == f"build {PREVIOUS} (2 runs)"
    new_failures = page.locator(".diff section:has(h3:has-text('New failures')) li")
    assert new_failures.all_inner_texts() == ["tests.test_cart::test_c failed in new-2"]

    page.click(f"dl.meta a:has-text('{PREVIOUS}')")
    assert page.locator("main h1").inner_text() == f"Build {PREVIOUS}"


def test_summary_of_a_build_links_to_its_page(
    builds_server: str, page: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["summary", "--build", BUILD, "--url", builds_server, "--format", "text"])

    out = capsys.readouterr().out.splitlines()
    assert status == 0
    assert out[0] == f"{PROJECT} · build {BUILD}: 1 of 4 tests failed"
    assert out[1] == f"{builds_server}/builds/jenkins-org%2Fshop%2Fmain-12?project={PROJECT}"
    visit(page, out[1])
    assert page.locator("main h1").inner_text() == f"Build {BUILD}"
