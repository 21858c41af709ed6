"""``contract-check``: the contract suite shipped in the package (needs the ``testing`` extra).

Offline (the default), it runs the suite against the fake and writes a JUnit report; with
``--live``, the zero-credit live probe and the catalog check (exit 2 when ``EVOLINK_API_KEY`` is
not set, so a CI job whose secret is missing cannot go green).
"""

from __future__ import annotations

import argparse
import os

from .._config import DEFAULT_BASE_URL, ConfigurationError
from ._commands import Session

__all__ = ["contract_check"]


def contract_check(session: Session, args: argparse.Namespace) -> int:
    """Run the offline suite, or the live probe with ``--live``; return its exit code."""
    try:
        from ..testing.contract import live_probe, run
    except ImportError as error:
        raise ConfigurationError(
            f"contract-check needs the testing extra ({error.name} is missing): pip install 'evolink-images[testing]'"
        ) from None
    if args.live or args.task_id:
        base_url = args.base_url or os.environ.get("EVOLINK_BASE_URL") or DEFAULT_BASE_URL
        return live_probe.probe(live=args.live, base_url=base_url, task_id=args.task_id)
    return run.offline(args.junit, args.pytest_args)
