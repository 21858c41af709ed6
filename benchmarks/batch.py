"""The batch runner: 1,000 tasks against the fake, with simulated network latency, in scaled-down real time.

Concurrency needs a real scheduler, so time is scaled down instead of simulated: each task takes
``DURATION`` seconds and each request ``LATENCY`` seconds, polls are scaled alike. The ideal wall
time for concurrency C is ceil(N / C) task durations. Measured: wall time against that ideal, peak
Python memory (tracemalloc, in a second run), duplicate submits (tasks created beyond N), and the
same batch with an account limit of C/2 tasks in flight (429s) injected: failures must be 0.
"""

from __future__ import annotations

import asyncio
import math
import time
import tracemalloc
from dataclasses import dataclass

import httpx

from evolink_images import AsyncClient, PollSchedule, WanImageToImage
from evolink_images.testing.fake import FakeEvoLink, TaskPlan

__all__ = ["BatchFigures", "run"]

DURATION = 0.5
LATENCY = 0.01
SCHEDULE = PollSchedule(min_interval=0.02, max_interval=0.1)


@dataclass(frozen=True)
class BatchFigures:
    """One batch run's figures."""

    name: str
    tasks: int
    concurrency: int
    wall: float
    ideal: float
    failures: int
    duplicates: int
    rate_limited: int
    peak_mib: float | None = None


async def _run(count: int, concurrency: int, max_running: int | None) -> tuple[float, int, FakeEvoLink]:
    fake = FakeEvoLink(clock=time.monotonic, plan=TaskPlan(duration=DURATION), max_running=max_running, retry_after="0")

    async def slow_network(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(LATENCY)
        return fake.handler(request)

    requests = [WanImageToImage(f"edit {i}", ["https://example.com/a.png"]) for i in range(count)]
    async with AsyncClient(fake.api_key, transport=httpx.MockTransport(slow_network), poll_schedule=SCHEDULE) as client:
        start = time.perf_counter()
        results = await client.run_many(requests, concurrency=concurrency)
        wall = time.perf_counter() - start
    return wall, sum(1 for result in results if not result.ok), fake


def measure(name: str, count: int, concurrency: int, max_running: int | None = None) -> BatchFigures:
    """One batch, timed; the ideal uses the concurrency the account allows."""
    wall, failures, fake = asyncio.run(_run(count, concurrency, max_running))
    effective = min(concurrency, max_running or concurrency)
    ideal = math.ceil(count / effective) * DURATION
    return BatchFigures(name, count, concurrency, wall, ideal, failures, fake.created - count, fake.rate_limited)


def peak_memory_mib(count: int, concurrency: int) -> float:
    """Peak Python memory of one batch (tracemalloc slows it, so it is a run of its own)."""
    tracemalloc.start()
    asyncio.run(_run(count, concurrency, None))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def run(count: int = 1000, concurrency: int = 50) -> list[BatchFigures]:
    """The batch free, and the batch against an account limit of half its concurrency."""
    free = measure("batch", count, concurrency)
    free = BatchFigures(**{**free.__dict__, "peak_mib": peak_memory_mib(count, concurrency)})
    limited = measure("batch, 429 limit at C/2", count, concurrency, max_running=concurrency // 2)
    return [free, limited]


if __name__ == "__main__":
    for figures in run():
        print(figures, f"wall/ideal {figures.wall / figures.ideal:.2f}")
