"""Options: command line beats TESTVIZ_* environment beats ini; bad values are usage errors
that name where they came from; without a URL or a directory the plugin does nothing."""

from __future__ import annotations

import json

import pytest

from .conftest import FakeServer, Testviz, plugin_installed

PASSING = "def test_one():\n    pass\n"


def _project_written(testviz: Testviz) -> str:
    (meta,) = testviz.directory.glob("*.meta.json")
    project: str = json.loads(meta.read_text(encoding="utf-8"))["project"]
    return project


@pytest.mark.parametrize(
    ("ini", "env", "flag", "expected"),
    [
        (None, None, None, "rootdir"),
        ("from-ini", None, None, "from-ini"),
        ("from-ini", "from-env", None, "from-env"),
        (None, "from-env", "from-flag", "from-flag"),
        ("from-ini", "from-env", "from-flag", "from-flag"),
    ],
)
def test_precedence(
    testviz: Testviz,
    monkeypatch: pytest.MonkeyPatch,
    ini: str | None,
    env: str | None,
    flag: str | None,
    expected: str,
) -> None:
    testviz.pytester.makepyfile(test_one=PASSING)
    if ini is not None:
        testviz.pytester.makeini(f"[pytest]\ntestviz_project = {ini}\n")
    if env is not None:
        monkeypatch.setenv("TESTVIZ_PROJECT", env)
    args = [f"--testviz-project={flag}"] if flag is not None else []

    result = testviz.run(*testviz.dir_args, *args)

    assert result.ret == pytest.ExitCode.OK
    if expected == "rootdir":
        expected = testviz.pytester.path.name
    assert _project_written(testviz) == expected


def test_the_directory_from_each_source(testviz: Testviz, monkeypatch: pytest.MonkeyPatch) -> None:
    testviz.pytester.makepyfile(test_one=PASSING)
    testviz.pytester.makeini("[pytest]\ntestviz_dir = from-ini\n")
    root = testviz.pytester.path

    testviz.run()
    monkeypatch.setenv("TESTVIZ_DIR", "from-env")
    testviz.run()
    testviz.run(f"--testviz-dir={root / 'from-flag'}")

    counts = {
        name: len(list((root / name).glob("*.xml")))
        for name in ("from-ini", "from-env", "from-flag")
    }
    assert counts == {"from-ini": 1, "from-env": 1, "from-flag": 1}
    assert not (root / ".testviz").exists()


@pytest.mark.parametrize(
    ("flags", "env", "ini", "message"),
    [
        (
            ["--testviz-timeout=abc"],
            {},
            "",
            "Invalid testviz_timeout 'abc' from the command line (--testviz-timeout): "
            "expected a number of seconds > 0",
        ),
        (
            [],
            {"TESTVIZ_TIMEOUT": "-1"},
            "",
            "Invalid testviz_timeout '-1' from the TESTVIZ_TIMEOUT environment variable: "
            "expected a number of seconds > 0",
        ),
        (
            [],
            {},
            "testviz_keep = x",
            "Invalid testviz_keep 'x' from the testviz_keep ini option: "
            "expected a whole number >= 0",
        ),
        (
            ["--testviz-timeout=0"],
            {"TESTVIZ_TIMEOUT": "5"},
            "",
            "Invalid testviz_timeout '0' from the command line (--testviz-timeout)*",
        ),
        (
            [],
            {"TESTVIZ_TIMEOUT": "nan"},
            "",
            "Invalid testviz_timeout 'nan' from the TESTVIZ_TIMEOUT environment variable*",
        ),
        (
            ["--testviz-timeout=inf"],
            {},
            "",
            "Invalid testviz_timeout 'inf' from the command line*",
        ),
        (
            [],
            {"TESTVIZ_MAX_OUTPUT": "-5"},
            "",
            "Invalid testviz_max_output '-5' from the TESTVIZ_MAX_OUTPUT environment variable*",
        ),
        (
            [],
            {"TESTVIZ_WAIT": "maybe"},
            "",
            "Invalid testviz_wait 'maybe' from the TESTVIZ_WAIT environment variable: "
            "expected yes or no",
        ),
        (
            ["--testviz-url=ftp://example.invalid"],
            {},
            "",
            "Invalid testviz_url 'ftp://example.invalid' from the command line (--testviz-url): "
            "expected an http:// or https:// URL, without user:password@, ?query or #fragment",
        ),
        (
            [],
            {"TESTVIZ_URL": "https://ci:hunter2@testviz.example"},
            "",
            "Invalid testviz_url 'https://***@testviz.example' from the TESTVIZ_URL environment "
            "variable*",
        ),
        (
            ["--testviz-url=http://127.0.0.1:99999"],
            {},
            "",
            "Invalid testviz_url 'http://127.0.0.1:99999' from the command line*",
        ),
        (
            [],
            {"TESTVIZ_URL": "http://:8080"},
            "",
            "Invalid testviz_url 'http://:8080' from the TESTVIZ_URL environment variable*",
        ),
        (
            [],
            {},
            "testviz_url = example.invalid",
            "Invalid testviz_url 'example.invalid' from the testviz_url ini option*",
        ),
    ],
)
def test_a_bad_value_is_a_usage_error_naming_its_source(
    testviz: Testviz,
    monkeypatch: pytest.MonkeyPatch,
    flags: list[str],
    env: dict[str, str],
    ini: str,
    message: str,
) -> None:
    testviz.pytester.makepyfile(test_one=PASSING)
    testviz.pytester.makeini(f"[pytest]\n{ini}\n")
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    result = testviz.run(*testviz.dir_args, *flags)

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {message}"])
    assert not testviz.directory.exists()


def test_a_bad_value_does_not_hide_behind_a_good_one(
    testviz: Testviz, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command line wins: a bad TESTVIZ_TIMEOUT under a good --testviz-timeout is unused."""
    testviz.pytester.makepyfile(test_one=PASSING)
    monkeypatch.setenv("TESTVIZ_TIMEOUT", "abc")

    result = testviz.run(*testviz.dir_args, "--testviz-timeout=3")

    assert result.ret == pytest.ExitCode.OK


CHECK_OFF = """
def test_off(request, testviz_run_id):
    assert testviz_run_id is None
    assert request.config.pluginmanager.get_plugin("testviz-session") is None
"""


def test_without_url_or_directory_the_plugin_is_off(testviz: Testviz) -> None:
    testviz.pytester.makepyfile(test_off=CHECK_OFF)

    result = testviz.run()

    assert result.ret == pytest.ExitCode.OK
    assert "testviz:" not in result.stdout.str()
    written = {path.name for path in testviz.pytester.path.iterdir()} - {".pytest_cache"}
    assert written == {"test_off.py"}


@pytest.mark.skipif(not plugin_installed(), reason="needs the installed plugin (entry point)")
def test_disabled_plugin_writes_and_sends_nothing(
    testviz: Testviz, monkeypatch: pytest.MonkeyPatch, unavailable_server: FakeServer
) -> None:
    testviz.pytester.makepyfile(test_one=PASSING)
    monkeypatch.setenv("TESTVIZ_URL", unavailable_server.url)
    monkeypatch.setenv("TESTVIZ_DIR", "reports")

    result = testviz.pytester.runpytest_inprocess("-p", "no:testviz")

    assert result.ret == pytest.ExitCode.OK
    assert unavailable_server.requests == []
    assert not testviz.directory.exists()
    assert not (testviz.pytester.path / ".testviz").exists()
