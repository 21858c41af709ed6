"""The tests of what ships for other teams' tests: the pytest plugin, the packaged contract check.

The contract suite itself lives in ``evolink_images.testing.contract`` (it ships in the wheel);
``pyproject.toml`` lists it in ``testpaths``, so ``pytest`` runs it beside these tests.
"""

from __future__ import annotations

pytest_plugins = ["pytester"]
