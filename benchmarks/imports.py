"""Import time: ``import evolink_images`` against ``import httpx``, from ``python -X importtime``.

Each is imported in 7 fresh interpreters; the figure is the median of the top-level module's
cumulative time. evolink_images includes httpx, so the ratio is at least 1.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from dataclasses import dataclass

__all__ = ["ImportFigures", "run"]


@dataclass(frozen=True)
class ImportFigures:
    """Median import times, in milliseconds."""

    httpx_ms: float
    evolink_ms: float

    @property
    def ratio(self) -> float:
        """evolink_images over httpx."""
        return self.evolink_ms / self.httpx_ms


def import_ms(module: str, runs: int = 7) -> float:
    """The median cumulative import time of ``module`` in fresh interpreters."""
    times = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", f"import {module}"],
            capture_output=True,
            text=True,
            check=True,
        )
        last = [line for line in done.stderr.splitlines() if line.rstrip().endswith(f"| {module}")][-1]
        times.append(int(last.split("|")[1]) / 1000)
    return statistics.median(times)


def run() -> ImportFigures:
    """Both imports, interleaved by module."""
    return ImportFigures(import_ms("httpx"), import_ms("evolink_images"))


if __name__ == "__main__":
    figures = run()
    print(figures, f"ratio {figures.ratio:.2f}")
