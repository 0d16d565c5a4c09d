"""pytest-testviz: every run of every test suite in one place."""

from typing import Any


def __getattr__(name: str) -> Any:
    """``__version__``, looked up on first use: every pytest run imports this package (the
    plugin's entry point), and most never ask for the version."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("pytest-testviz")
    except PackageNotFoundError:  # running from a checkout without an install
        found = "0+unknown"
    globals()["__version__"] = found
    return found
