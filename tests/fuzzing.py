"""Hypothesis profiles for the property tests (tests/core/test_fuzz.py, the schemathesis test).

Under ``CI=true``: few examples, derandomized (the same examples every run, so CI is stable
and fast) and no example database. Locally: more examples, random ones. Either way
``TESTVIZ_FUZZ_EXAMPLES=N`` sets the number of examples, e.g. ``TESTVIZ_FUZZ_EXAMPLES=5000
make test PYTEST_ARGS="tests/core/test_fuzz.py"`` for a long hunt.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

IN_CI = os.environ.get("CI", "").lower() == "true"


def examples(ci: int, local: int) -> int:
    """How many examples a property test runs."""
    override = os.environ.get("TESTVIZ_FUZZ_EXAMPLES", "").strip()
    if override:
        return max(1, int(override))
    return ci if IN_CI else local


settings.register_profile(
    "testviz-ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "testviz-local",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("testviz-ci" if IN_CI else "testviz-local")
