"""The batch runner at scale: wall time against the ideal, CPU per item, peak memory of streamed input.

Each measurement runs in a fresh interpreter (so that its peak memory is its own), through the real
``AsyncClient.run_many`` with its journal on, against canned in-process answers that cost next to
nothing: ``LATENCY`` seconds per request (an ``asyncio.sleep``), tasks that take ``duration`` seconds
of real time (``estimated_time`` and progress as the API gives them), no result downloads. What is
left is the client's own work: validating, naming, journaling (fsynced), submitting, polling.

- **wall/ideal**: the ideal for concurrency C is ceil(N / C) task durations.
- **CPU per item**: process CPU time (user + system, every thread) divided by N.
- **peak memory**: the process's peak resident set (``ru_maxrss``) with the requests streamed from a
  generator (``collect=False``, results only to ``on_result``).

``python -m benchmarks.batch --full`` runs what issue 10 asks (10,000 items of 1 s at concurrency 50;
CPU per item at 1,000 and 10,000; memory at 1,000 and 100,000 streamed items): about 8 minutes.
``run()`` (``scripts/bench``) runs a quicker set.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

__all__ = ["BatchFigures", "measure", "run"]

LATENCY = 0.01
DURATION = 1.0
"""Seconds each task takes in the wall-time and CPU runs (``estimated_time`` is whole seconds)."""
KEY = "sk-bench-not-a-real-key-00000000"
ROOT = Path(__file__).resolve().parent.parent


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
    cpu_ms_per_item: float | None = None


class _CannedApi:
    """Just enough of the API, answered from memory after ``LATENCY``; a 429 beyond ``max_running``."""

    def __init__(self, duration: float, max_running: int | None) -> None:
        self.duration = duration
        self.max_running = max_running
        self.created: dict[str, float] = {}
        """Tasks not yet seen completed (a completed one is forgotten: memory stays bounded)."""
        self.posts = 0
        self.rate_limited = 0
        self._ids = itertools.count(1)

    def _task(self, task_id: str, now: float, *, created: bool = False) -> dict[str, Any]:
        elapsed = now - self.created[task_id]
        done = elapsed >= self.duration and not created
        if done:
            del self.created[task_id]
        body: dict[str, Any] = {
            "id": task_id,
            "object": "image.generation.task",
            "created": 1757156493,
            "model": "qwen-image-edit",
            "status": "completed" if done else "processing",
            "progress": 100 if done else min(99, int(100 * elapsed / (self.duration or 1))),
            "type": "image",
            "task_info": {"can_cancel": not done, "estimated_time": int(self.duration)},
            "usage": {"billing_rule": "per_call", "credits_reserved": 1.0, "user_group": "default"},
        }
        if done:
            body["results"] = [f"https://files.example.com/{task_id}-0.png"]
        return body

    async def handle(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(LATENCY)
        now = time.monotonic()
        if request.method == "POST":
            if self.max_running is not None and len(self.created) >= self.max_running:
                self.rate_limited += 1
                error = {"error": {"code": "rate_limit_exceeded", "message": "slow down", "type": "rate_limit"}}
                return httpx.Response(429, json=error, headers={"retry-after": "0"})
            self.posts += 1
            task_id = f"task-unified-1757156493-{next(self._ids):08d}"
            self.created[task_id] = now
            body = self._task(task_id, now, created=True)
            body["status"], body["progress"] = "pending", 0
            return httpx.Response(200, json=body)
        return httpx.Response(200, json=self._task(request.url.path.rsplit("/", 1)[1], now))


def _requests(count: int) -> Iterator[Any]:
    from evolink_images import QwenImageEdit

    for index in range(count):
        yield QwenImageEdit(f"edit {index}", ["https://example.com/a.png"])


async def _one(count: int, concurrency: int, duration: float, journal: bool, max_running: int | None) -> dict[str, Any]:
    from evolink_images import AsyncClient, PollSchedule

    api = _CannedApi(duration, max_running)
    schedule = PollSchedule(min_interval=0.02, max_interval=0.1)
    failures = [0]

    def on_result(result: Any, progress: Any) -> None:
        failures[0] += not result.ok

    with tempfile.TemporaryDirectory(prefix="evolink-bench-") as folder:
        options: dict[str, Any] = {"concurrency": concurrency, "on_result": on_result, "collect": False}
        if journal:
            options["journal"] = Path(folder) / "journal.jsonl"
        transport = httpx.MockTransport(api.handle)
        async with AsyncClient(KEY, transport=transport, poll_schedule=schedule) as client:
            cpu, start = time.process_time(), time.perf_counter()
            await client.run_many(_requests(count), **options)
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "wall": wall,
        "cpu": cpu,
        "peak_mib": peak_kib / 1024,
        "failures": failures[0],
        "duplicates": api.posts - count,
        "rate_limited": api.rate_limited,
    }


def measure(
    name: str,
    count: int,
    concurrency: int,
    duration: float,
    *,
    journal: bool = True,
    max_running: int | None = None,
) -> BatchFigures:
    """One batch in a fresh interpreter; the ideal uses the concurrency the account allows."""
    command = [sys.executable, "-m", "benchmarks.batch", "one", str(count), str(concurrency), str(duration)]
    command += ["--journal" if journal else "--no-journal"]
    command += ["--max-running", str(max_running)] if max_running else []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    output = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    figures = json.loads(output)
    effective = min(concurrency, max_running or concurrency)
    # Instant tasks still need a submit and a poll: their ideal is those two round trips per round.
    ideal = math.ceil(count / effective) * (duration or 2 * LATENCY)
    return BatchFigures(
        name,
        count,
        concurrency,
        figures["wall"],
        ideal,
        figures["failures"],
        figures["duplicates"],
        figures["rate_limited"],
        figures["peak_mib"],
        1000 * figures["cpu"] / count,
    )


def run(full: bool = False) -> list[BatchFigures]:
    """The batch's figures: a quick set for ``scripts/bench``, the issue's whole set with ``full``."""
    big, many = (10_000, 100_000) if full else (2_000, 20_000)
    return [
        measure(f"{big:,} x {DURATION:g} s, journal", big, 50, DURATION),
        measure(f"1,000 x {DURATION:g} s, journal", 1_000, 50, DURATION),
        measure(f"500 x {DURATION:g} s, 429 limit at C/2", 500, 50, DURATION, max_running=25),
        # Memory with the journal on, as the command line always runs: its index lives on disk.
        measure("1,000 streamed, journal", 1_000, 50, 0.0),
        measure(f"{many:,} streamed, journal", many, 50, 0.0),
        measure("1,000 streamed, no journal", 1_000, 50, 0.0, journal=False),
        measure(f"{many:,} streamed, no journal", many, 50, 0.0, journal=False),
    ]


def report(rows: list[BatchFigures]) -> bool:
    """Print the rows and the three targets; return whether all are met."""
    print("| run | tasks | C | wall (s) | ideal (s) | wall/ideal | CPU ms/item | peak MiB | failures | duplicates |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        ratio = f"{row.wall / row.ideal:.3f}"
        print(
            f"| {row.name} | {row.tasks:,} | {row.concurrency} | {row.wall:.1f} | {row.ideal:.1f} | {ratio} |"
            f" {row.cpu_ms_per_item:.2f} | {row.peak_mib:.1f} | {row.failures} | {row.duplicates} |"
        )
    big, small, _, light, heavy, bare_light, bare_heavy = rows
    checks = {
        f"wall within 1.10x of ideal ({big.name})": big.wall / big.ideal <= 1.10,
        f"CPU per item within 20% ({small.tasks:,} vs {big.tasks:,})": abs(
            (big.cpu_ms_per_item or 0) / (small.cpu_ms_per_item or 1) - 1
        )
        <= 0.20,
        f"peak memory the same ({light.tasks:,} vs {heavy.tasks:,} streamed, journal, within 5%)": abs(
            (heavy.peak_mib or 0) / (light.peak_mib or 1) - 1
        )
        <= 0.05,
        f"peak memory the same ({bare_light.tasks:,} vs {bare_heavy.tasks:,} streamed, no journal, within 5%)": abs(
            (bare_heavy.peak_mib or 0) / (bare_light.peak_mib or 1) - 1
        )
        <= 0.05,
        "no failures, no duplicate submits": all(row.failures == row.duplicates == 0 for row in rows),
    }
    for name, met in checks.items():
        print(f"{'met    ' if met else 'NOT MET'}  {name}")
    return all(checks.values())


def main(argv: list[str] | None = None) -> int:
    """``one N C D``: one measurement, as JSON (for ``measure``); otherwise the report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="the issue's whole set (about 8 minutes)")
    commands = parser.add_subparsers(dest="command")
    one = commands.add_parser("one")
    one.add_argument("count", type=int)
    one.add_argument("concurrency", type=int)
    one.add_argument("duration", type=float)
    one.add_argument("--journal", action=argparse.BooleanOptionalAction, default=True)
    one.add_argument("--max-running", type=int)
    args = parser.parse_args(argv)
    if args.command == "one":
        figures = asyncio.run(_one(args.count, args.concurrency, args.duration, args.journal, args.max_running))
        print(json.dumps(figures))
        return 0
    return 0 if report(run(full=args.full)) else 1


if __name__ == "__main__":
    sys.exit(main())
