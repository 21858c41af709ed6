"""Hypothesis profiles for the contract suite, chosen by ``HYPOTHESIS_PROFILE``.

- ``dev`` (default on a workstation): quick, random.
- ``ci`` (default when ``CI`` is set): deterministic (derandomised, no example database), bounded.
- ``fuzz``: 10,000 examples per property, for a long soak.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

BUDGETS = {"dev": 30, "ci": 60, "fuzz": 10_000}
"""Examples per property in each profile."""

settings.register_profile("dev", max_examples=BUDGETS["dev"], deadline=None)
settings.register_profile(
    "ci",
    max_examples=BUDGETS["ci"],
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz", max_examples=BUDGETS["fuzz"], deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))
