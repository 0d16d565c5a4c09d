"""pytest-testviz: every run of every test suite in one place."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pytest-testviz")
except PackageNotFoundError:  # running from a checkout without an install
    __version__ = "0+unknown"
