"""What ``evolink-images contract-check`` runs: the offline suite with a JUnit report, or the live probe.

The offline suite is this package's own tests (``--pyargs evolink_images.testing.contract``), run
by pytest in a fresh interpreter (so pytest sees the package before anything imports it and can
rewrite its asserts) with the package's ``contract-check.ini``: the team's own pytest settings
(their ``pyproject.toml``, ``-W error`` on their dependencies' warnings) cannot change the result,
and no checkout is needed. ``HYPOTHESIS_PROFILE`` picks the example budget (``ci`` by default:
deterministic and bounded).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["DEFAULT_JUNIT", "INI", "offline", "pytest_arguments"]

DEFAULT_JUNIT = "contract-report.xml"
INI = Path(__file__).with_name("contract-check.ini")
"""The suite's pytest settings, used instead of any the current folder holds."""


def pytest_arguments(junit: str, extra: Sequence[str] = ()) -> list[str]:
    """The arguments of the offline run (``extra`` goes last: ``-k fuzz``, ``-x``)."""
    return [
        "--pyargs",
        "evolink_images.testing.contract",
        "-c",
        str(INI),
        "--rootdir",
        str(INI.parent),
        f"--junitxml={os.path.abspath(junit)}",
        "-p",
        "no:cacheprovider",
        *extra,
    ]


def offline(junit: str = DEFAULT_JUNIT, extra: Sequence[str] = ()) -> int:
    """Run the offline suite against the fake; return pytest's exit code (0 when every test passed)."""
    env = {**os.environ, "HYPOTHESIS_PROFILE": os.environ.get("HYPOTHESIS_PROFILE") or "ci"}
    profile = env["HYPOTHESIS_PROFILE"]
    print(f"== contract suite (Hypothesis profile {profile}), JUnit report: {junit}", file=sys.stderr, flush=True)
    return subprocess.call([sys.executable, "-m", "pytest", *pytest_arguments(junit, extra)], env=env)  # noqa: S603
