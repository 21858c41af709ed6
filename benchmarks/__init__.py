"""Benchmarks: ratios measured side by side in one run (``scripts/bench``), never timed tests."""
