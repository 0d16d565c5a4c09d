"""The pytest plugin: ``pytest --testviz-url=URL`` (or ``--testviz-dir=DIR``).

Off unless a URL or a directory is set. On the xdist controller (or a plain session) one
:class:`TestvizSession` collects every report, writes ``<dir>/<run_id>.xml`` and its sidecar at
the end, and uploads them once. Workers only attach per-test metadata (markers, owner, source
hash) to their reports; a plain session reads it from its items once, at the end. Nothing
here changes pytest's exit status: a server that is down, slow or refusing leaves the files
on disk for ``testviz replay``.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import pytest

from .options import add_options, resolve
from .shard import resolve as resolve_shard

if TYPE_CHECKING:
    from . import session as _session

RUN_ID_KEY = pytest.StashKey[str]()
SESSION_KEY: pytest.StashKey[_session.TestvizSession] = pytest.StashKey()
WORKER_INPUT = "testviz_run_id"


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "testviz(owner=None, tags=()): the owner and feature tags pytest-testviz records"
    )
    shard = resolve_shard(config)
    if shard is not None:  # with or without a server or directory: see .shard
        from .shard.plugin import ShardPlugin

        config.pluginmanager.register(ShardPlugin(shard), "testviz-shard")
    settings = resolve(config)
    if settings is None:
        return
    # Only now the working parts (pydantic, lxml, requests): a pytest run without the plugin
    # switched on pays nothing for it being installed.
    from .session import MetadataHooks, TestvizSession

    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None:
        # A worker's reports carry the metadata to the controller, which has no items.
        config.pluginmanager.register(MetadataHooks(), "testviz-metadata")
        config.stash[RUN_ID_KEY] = str(workerinput.get(WORKER_INPUT, ""))
        return
    run_id = uuid.uuid4().hex
    config.stash[RUN_ID_KEY] = run_id
    session = TestvizSession(config, settings, run_id)
    config.stash[SESSION_KEY] = session
    config.pluginmanager.register(session, "testviz-session")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(run_id), "testviz-xdist")


def pytest_unconfigure(config: pytest.Config) -> None:
    for name in ("testviz-session", "testviz-metadata", "testviz-xdist", "testviz-shard"):
        plugin = config.pluginmanager.get_plugin(name)
        if plugin is not None:
            config.pluginmanager.unregister(plugin)


@pytest.fixture
def testviz_run_id(request: pytest.FixtureRequest) -> str | None:
    """The run id this session's results are stored under, when pytest-testviz is on."""
    return request.config.stash.get(RUN_ID_KEY, None)


class XdistHooks:
    """Hands the controller's run id to every worker."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput[WORKER_INPUT] = self.run_id


def __getattr__(name: str) -> Any:
    """``plugin.TestvizSession`` and friends, without importing them when the plugin is off."""
    if name in ("ItemMeta", "MetadataHooks", "TestvizSession", "source_hash"):
        from . import session

        return getattr(session, name)
    raise AttributeError(name)
