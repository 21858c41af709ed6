"""Task models for the polling benchmark, as data; the network conditions; each task's faults.

A *task model* is a name and a generator of tasks, each with its queue time, its duration, the
``estimated_time`` its create response gives and how its ``progress`` moves (a curve of the
fraction of the work done). ``MODELS`` are the issue's list (they gate the benchmark); ``PROBES``
try to break the schedule's assumptions further (reported only).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "CONDITIONS",
    "MODELS",
    "PROBES",
    "Conditions",
    "Curve",
    "FaultPlan",
    "Faults",
    "Scenario",
    "TaskModel",
    "TaskSpec",
]


Curve = Callable[[float], float]
"""Progress (0 to 100) as a function of the fraction of the work done (0 to 1)."""


@dataclass(frozen=True)
class TaskSpec:
    """One simulated task: seconds in ``pending``, seconds of work, the estimate, the progress curve."""

    queue: float
    duration: float
    estimate: int
    curve: Curve | None
    seed: int

    def state(self, age: float) -> tuple[str, int]:
        """Return ``(status, progress)`` ``age`` seconds after creation."""
        if age < self.queue:
            return "pending", 0
        done = (age - self.queue) / self.duration
        if done >= 1:
            return "completed", 100
        return "processing", 0 if self.curve is None else min(99, max(0, int(self.curve(done))))


@dataclass(frozen=True)
class TaskModel:
    """A named generator of tasks."""

    name: str
    describe: str
    draw: Callable[[random.Random], tuple[float, float, int, Curve | None]]
    """Return ``(queue, duration, estimate, curve)`` for one task."""
    count: int = 1000

    def tasks(self, count: int | None = None) -> list[TaskSpec]:
        """The model's tasks, the same on every run."""
        rng = random.Random(self.name)  # noqa: S311 - a reproducible task set, not a secret
        specs = []
        for _ in range(self.count if count is None else count):
            queue, duration, estimate, curve = self.draw(rng)
            specs.append(TaskSpec(queue, duration, estimate, curve, rng.getrandbits(32)))
        return specs


def _uniform(low: float, high: float) -> Callable[[random.Random], float]:
    return lambda rng: rng.uniform(low, high)


def _log_uniform(low: float, high: float) -> Callable[[random.Random], float]:
    return lambda rng: math.exp(rng.uniform(math.log(low), math.log(high)))


def _near(rng: random.Random, duration: float, spread: tuple[float, float] = (0.5, 1.5)) -> int:
    """An estimate of ``duration`` times a factor drawn from ``spread`` (by default, off by up to 50%)."""
    return max(1, round(duration * rng.uniform(*spread)))


def _linear(done: float) -> float:
    return 100 * done


def _model(
    name: str,
    describe: str,
    duration: Callable[[random.Random], float],
    curve: Curve | None,
    *,
    estimate: int | None = None,
    queue: Callable[[random.Random], float] | None = None,
    count: int = 1000,
    spread: tuple[float, float] = (0.5, 1.5),
) -> TaskModel:
    def draw(rng: random.Random) -> tuple[float, float, int, Curve | None]:
        waited = queue(rng) if queue else 0.0
        seconds = duration(rng)
        return waited, seconds, _near(rng, seconds, spread) if estimate is None else estimate, curve

    return TaskModel(name, describe, draw, count)


def _stuck(rng: random.Random) -> tuple[float, float, int, Curve | None]:
    seconds = rng.uniform(5, 180)
    level = rng.randint(1, 10)
    return 0.0, seconds, _near(rng, seconds), lambda done: level


def _steps(done: float) -> float:
    return max(step for step in (0, 25, 50, 99) if step <= 100 * done)


MODELS: tuple[TaskModel, ...] = (
    _model("current", "5-180 s, estimate +-50%, linear progress", _uniform(5, 180), _linear),
    _model(
        "estimate 30, progress", "5-180 s log-uniform, estimate always 30 s", _log_uniform(5, 180), _linear, estimate=30
    ),
    _model(
        "estimate 30, no progress", "5-180 s log-uniform, estimate always 30 s", _log_uniform(5, 180), None, estimate=30
    ),
    _model(
        "queued 0-120 s",
        "0-120 s pending, then 5-180 s, estimate +-50%",
        _uniform(5, 180),
        _linear,
        queue=_uniform(0, 120),
    ),
    TaskModel("stuck, then jumps", "5-180 s, estimate +-50%, progress stuck at 1-10% until done", _stuck),
    _model("steps 0/25/50/99", "5-180 s, estimate +-50%, progress in four steps", _uniform(5, 180), _steps),
    _model("lagging 100 f^2", "5-180 s, estimate +-50%, progress 100 f^2", _uniform(5, 180), lambda f: 100 * f * f),
    _model(
        "leading 100 sqrt f", "5-180 s, estimate +-50%, progress 100 sqrt(f)", _uniform(5, 180), lambda f: 100 * f**0.5
    ),
    _model("no progress", "5-180 s, estimate +-50%, progress always 0", _uniform(5, 180), None),
    _model(
        "10-30 min, progress", "600-1800 s, estimate +-50%, linear progress", _uniform(600, 1800), _linear, count=200
    ),
    _model("10-30 min, no progress", "600-1800 s, estimate +-50%, no progress", _uniform(600, 1800), None, count=200),
)


def _exponential(mean: float) -> Callable[[random.Random], float]:
    return lambda rng: max(1.0, rng.expovariate(1 / mean))


PROBES: tuple[TaskModel, ...] = (
    _model("memoryless, no progress", "exponential, mean 60 s, estimate 60 s", _exponential(60), None, estimate=60),
    _model(
        "memoryless, progress", "exponential, mean 60 s, estimate 60 s, linear", _exponential(60), _linear, estimate=60
    ),
    _model("estimate 1-3x too high", "5-180 s, no progress", _uniform(5, 180), None, spread=(1, 3)),
    _model("estimate 2-5x too low", "5-180 s, no progress", _uniform(5, 180), None, spread=(0.2, 0.5)),
    _model("99% at half time", "5-180 s, estimate +-50%, then stuck at 99", _uniform(5, 180), lambda f: 200 * f),
    _model(
        "queued 0-300 s, no progress", "then 5-180 s, estimate +-50%", _uniform(5, 180), None, queue=_uniform(0, 300)
    ),
    _model("progress 1 - e^-3f", "5-180 s, estimate +-50%", _uniform(5, 180), lambda f: 100 * (1 - math.exp(-3 * f))),
)
"""Models beyond the issue's list, that try to break the schedule's assumptions (``--probes``; not gating)."""


@dataclass(frozen=True)
class Conditions:
    """The network: latency per request (seconds) and the share of polls answered 429/503."""

    name: str
    latency: float = 0.0
    fault_rate: float = 0.0


CONDITIONS = (Conditions("clean"), Conditions("0.3 s latency, 2% 429/503", latency=0.3, fault_rate=0.02))


@dataclass(frozen=True)
class Scenario:
    """A task model under network conditions."""

    model: TaskModel
    conditions: Conditions

    @property
    def name(self) -> str:
        """``model`` or ``model + faults``."""
        return self.model.name if not self.conditions.latency else f"{self.model.name} + latency/faults"


class FaultPlan:
    """A task's fault draws (which polls fail, with 429 or 503) and retry jitter, made once per task.

    Every strategy meets the same faults: the server and ``replay`` read the same plan.
    """

    def __init__(self, seed: int, rate: float) -> None:
        self._rng = random.Random(seed)  # noqa: S311 - simulation
        self._jitter_rng = random.Random(seed)  # noqa: S311 - the retry transport's jitter, seeded alike
        self._rate = rate
        self.events: list[tuple[float, int]] = []
        """``(successful polls before the failure, its status)``, in order."""
        self.jitter: list[float] = []
        """The retry transport's jitter draws, in order (``random.random`` seeded with ``seed``)."""

    def event(self, index: int) -> tuple[float, int]:
        """The ``index``-th failure."""
        while len(self.events) <= index:
            if not self._rate:
                self.events.append((math.inf, 0))
                continue
            gap = math.floor(math.log(1.0 - self._rng.random()) / math.log(1.0 - self._rate))
            self.events.append((gap, 429 if self._rng.random() < 0.5 else 503))
        return self.events[index]

    def jitter_at(self, index: int) -> float:
        """The ``index``-th jitter draw."""
        while len(self.jitter) <= index:
            self.jitter.append(self._jitter_rng.random())
        return self.jitter[index]


class Faults:
    """A cursor over a ``FaultPlan``."""

    def __init__(self, plan: FaultPlan) -> None:
        self._plan = plan
        self._index = 0
        self._left, self._status = plan.event(0)
        self._draws = 0

    def next(self) -> int | None:
        """Return the status of the next poll's failure (429 or 503), or None when it succeeds."""
        if self._left > 0:
            self._left -= 1
            return None
        status = self._status
        self._index += 1
        self._left, self._status = self._plan.event(self._index)
        return status

    def skip(self, polls: int) -> int:
        """Let up to ``polls`` polls succeed; return how many did before a failure is due."""
        ok = int(min(polls, self._left))
        self._left -= ok
        return ok

    def jitter(self) -> float:
        """The next jitter draw."""
        self._draws += 1
        return self._plan.jitter_at(self._draws - 1)
