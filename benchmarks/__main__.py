"""``python -m benchmarks`` (``scripts/bench``): every benchmark, side by side, printed as one report."""

from __future__ import annotations

import sys

from . import batch, imports, overhead, polling
from .polling_chart import draw

CHART = "benchmarks/polling.png"
"""Where the polling chart goes (committed: the README shows it)."""


def main() -> int:
    """Run every benchmark; print the tables and whether each target is met."""
    checks: list[tuple[str, bool]] = []
    print("## Polling (simulated clock, real Client.wait; see benchmarks/polling.py)\n")
    results = polling.run()
    print("\n".join(polling.tables(results)))
    draw(results, CHART)
    print(f"chart: {CHART}")
    checks += [check for result in results for check in result.targets()]
    print(f"\n## Client overhead per task (submit + {overhead.POLLS} polls + parsing), same in-process transport\n")
    print("| transport        | bare httpx (us) | wrapper (us) | ratio |")
    print("|------------------|-----------------|--------------|-------|")
    for result in overhead.run():
        print(f"| {result.transport:16} | {result.bare_us:15.0f} | {result.wrapper_us:12.0f} | {result.ratio:5.2f} |")
        checks.append((f"overhead <= 1.15x bare httpx ({result.transport})", result.ratio <= 1.15))

    print(f"\n## Batch (tasks of {batch.DURATION} s, {batch.LATENCY * 1000:.0f} ms latency per request, real time)\n")
    print(
        "| run                        | tasks | C  | wall (s) | ideal (s) | wall/ideal "
        "| failures | duplicates | 429s | peak MiB |"
    )
    print(
        "|----------------------------|-------|----|----------|-----------|------------|----------|------------|------|----------|"
    )
    for figures in batch.run():
        peak = f"{figures.peak_mib:8.1f}" if figures.peak_mib is not None else "       -"
        print(
            f"| {figures.name:26} | {figures.tasks:5} | {figures.concurrency:2} | {figures.wall:8.1f} | "
            f"{figures.ideal:9.1f} | {figures.wall / figures.ideal:10.2f} | {figures.failures:8} | "
            f"{figures.duplicates:10} | {figures.rate_limited:4} | {peak} |"
        )
        checks.append(
            (f"{figures.name}: no failures, no duplicate submits", figures.failures == figures.duplicates == 0)
        )

    figures_import = imports.run()
    print("\n## Import time (median of 7 fresh interpreters)\n")
    print(f"import httpx {figures_import.httpx_ms:.0f} ms, import evolink_images {figures_import.evolink_ms:.0f} ms:")
    print(f"ratio {figures_import.ratio:.2f}")
    checks.append(("import time <= 1.6x httpx", figures_import.ratio <= 1.6))

    print("\n## Targets\n")
    for name, met in checks:
        print(f"- {'met    ' if met else 'NOT MET'} {name}")
    return 0 if all(met for _, met in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
