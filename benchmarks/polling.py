"""Polling efficiency: the client's adaptive schedule against fixed intervals, on one simulated task set.

Every strategy goes through the real ``Client.wait`` against the fake EvoLink on a simulated clock,
so only the schedule differs. Tasks last 5 to 180 s; each one's ``estimated_time`` is off by up
to 50% in either direction. Measured per task: polls, and detection lag (from the moment the task
completes to the moment ``wait`` returns).
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass

from evolink_images import PollSchedule, WanImageToImage
from evolink_images.testing.fake import FakeClock, FakeEvoLink, TaskPlan

__all__ = ["EstimateOnlySchedule", "FixedSchedule", "PollingResult", "run", "task_set"]

REQUEST = WanImageToImage("Make it night", ["https://example.com/a.png"])


@dataclass(frozen=True)
class FixedSchedule(PollSchedule):
    """What other clients of async image APIs do: poll every ``min_interval`` seconds, whatever happens."""

    def next_delay(self, since_created: float, estimate: float | None, polls_after_estimate: int) -> float:
        """Always the same interval."""
        return self.min_interval

    def estimate_from_progress(self, since_created: float, progress: int) -> float | None:
        """Progress is ignored."""
        return None


@dataclass(frozen=True)
class EstimateOnlySchedule(PollSchedule):
    """The adaptive schedule with progress ignored: what ``estimated_time`` alone achieves."""

    def estimate_from_progress(self, since_created: float, progress: int) -> float | None:
        """Progress is ignored."""
        return None


@dataclass(frozen=True)
class PollingResult:
    """One strategy's figures over the task set."""

    name: str
    polls_mean: float
    polls_p95: float
    lag_mean: float
    lag_p95: float


def task_set(count: int = 200, seed: int = 7) -> list[tuple[float, int]]:
    """``(true duration, estimated_time)`` pairs: 5 to 180 s, estimates off by up to 50% either way."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible task set, not a secret
    tasks = []
    for _ in range(count):
        duration = rng.uniform(5, 180)
        tasks.append((duration, max(1, round(duration * rng.uniform(0.5, 1.5)))))
    return tasks


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def measure(name: str, schedule: PollSchedule, tasks: list[tuple[float, int]]) -> PollingResult:
    """Run every task of ``tasks`` through ``Client.wait`` with ``schedule``."""
    polls, lags = [], []
    for duration, estimate in tasks:
        clock = FakeClock()
        fake = FakeEvoLink(clock=clock, plan=TaskPlan(duration=duration, estimated_time=estimate))
        client = fake.client(poll_schedule=schedule)
        task = client.submit(REQUEST)
        created = clock()
        client.wait(task, timeout=3600)
        polls.append(float(sum(1 for method, _ in fake.requests if method == "GET")))
        lags.append(clock() - (created + duration))
    return PollingResult(name, statistics.fmean(polls), _p95(polls), statistics.fmean(lags), _p95(lags))


def run(count: int = 200) -> list[PollingResult]:
    """The adaptive schedule and fixed 0.5 s, 3 s and 5 s intervals on the same task set."""
    tasks = task_set(count)
    results = [
        measure("adaptive (estimate + progress)", PollSchedule(), tasks),
        measure("adaptive, progress ignored", EstimateOnlySchedule(), tasks),
    ]
    for interval in (0.5, 3.0, 5.0):
        fixed = FixedSchedule(min_interval=interval, max_interval=interval)
        results.append(measure(f"fixed {interval:g} s", fixed, tasks))
    return results


if __name__ == "__main__":
    for result in run():
        print(result)
