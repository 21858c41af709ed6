"""Polling: the client's adaptive schedule against fixed intervals and a back-off, on named task models.

A *task model* is data: a name and a generator of tasks, each with its queue time, its duration, the
``estimated_time`` its create response gives and how its ``progress`` moves (a curve of the fraction
of the work done). Every model runs twice: on a clean network, and with 0.3 s of latency per request
and 2% of polls answered 429 or 503.

The adaptive schedule runs through the real ``Client.wait`` (and the client's own retry transport),
against an ``httpx.MockTransport`` handler that plays the task on a simulated clock; latency moves
that clock. Measured per task: polls (every GET the server saw, retries included) and lag (from the
moment the task completed to the moment ``wait`` returned).

The rivals' schedules depend on nothing but the number of polls made (a fixed interval, a back-off),
so they are computed by ``replay``, a replica of what ``Client.wait`` does with such a schedule
(the same latency, the same faults, the same retry jitter). That makes a dense fixed-interval
frontier (0.5 s to 60 s, 2% apart) affordable. ``measure_scenario`` also runs the named rivals
through the real ``Client.wait`` on a sample of tasks, and a target requires the same polls and
lags as the replay, task by task: the replica cannot drift from the client unnoticed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx

from evolink_images import Client, PollSchedule, WanImageToImage
from evolink_images._retry import RetryPolicy
from evolink_images._schedule import Evidence
from evolink_images.testing.payloads import error_json, task_json

__all__ = [
    "CONDITIONS",
    "FRONTIER",
    "MODELS",
    "PROBES",
    "BackoffSchedule",
    "Conditions",
    "FaultPlan",
    "Figures",
    "FixedSchedule",
    "Scenario",
    "ScenarioResult",
    "TaskModel",
    "TaskSpec",
    "main",
    "measure_client",
    "replay",
    "run",
    "tables",
]

RETRIES = RetryPolicy()
"""The client's default retry policy, which ``replay`` follows."""
REQUEST = WanImageToImage("Make it night", ["https://example.com/a.png"])
TIMEOUT = 4 * 3600.0
FRONTIER = tuple(round(0.5 * 1.02**step, 4) for step in range(int(math.log(120) / math.log(1.02)) + 2))
"""The fixed intervals of the frontier: 0.5 s to 60 s, each 2% longer than the one before."""


# -- Task models --------------------------------------------------------------------------------


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


class _Faults:
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


# -- The real client, on a simulated clock ------------------------------------------------------


class SimClock:
    """Simulated monotonic seconds; ``sleep`` moves them."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _bodies() -> dict[tuple[str, int], bytes]:
    bodies = {("completed", 100): json.dumps(task_json("completed", id="task-1")).encode()}
    for status in ("pending", "processing"):
        for progress in range(100):
            bodies[status, progress] = json.dumps(task_json(status, id="task-1", progress=progress)).encode()
    return bodies


_JSON = {"content-type": "application/json"}


class Server:
    """The handler behind ``httpx.MockTransport``: plays one task at a time on the simulated clock."""

    def __init__(self, clock: SimClock, conditions: Conditions) -> None:
        self.clock = clock
        self.conditions = conditions
        self.bodies = _bodies()
        self.errors = {status: json.dumps(error_json(str(status))).encode() for status in (429, 503)}
        self.spec: TaskSpec | None = None
        self.created = 0.0
        self.polls = 0
        self.faults = _Faults(FaultPlan(0, 0.0))

    def start(self, spec: TaskSpec, plan: FaultPlan) -> None:
        """Serve ``spec`` next (created by the next POST), failing the polls ``plan`` says."""
        self.spec, self.polls = spec, 0
        self.faults = _Faults(plan)

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer halfway through the request's latency, as a server would."""
        spec = self.spec
        if spec is None:
            raise RuntimeError("no task to serve: call start() first")
        half = self.conditions.latency / 2
        self.clock.now += half
        if request.method == "POST":
            self.created = self.clock.now
            body = json.loads(self.bodies["pending", 0])
            body["task_info"]["estimated_time"] = spec.estimate
            response = httpx.Response(200, json=body)
        else:
            self.polls += 1
            failure = self.faults.next()
            if failure is not None:
                response = httpx.Response(failure, content=self.errors[failure], headers=_JSON)
            else:
                state = spec.state(self.clock.now - self.created)
                response = httpx.Response(200, content=self.bodies[state], headers=_JSON)
        self.clock.now += half
        return response


def measure_client(
    schedule: PollSchedule, specs: list[TaskSpec], plans: list[FaultPlan], conditions: Conditions
) -> list[tuple[int, float]]:
    """Run each task through the real ``Client.wait`` with ``schedule``; return ``(polls, lag)`` per task."""
    clock = SimClock()
    server = Server(clock, conditions)
    client = Client(
        "sk-benchmark-0000000000000000",
        base_url="https://api.evolink.ai",
        transport=httpx.MockTransport(server.handle),
        poll_schedule=schedule,
        clock=clock,
        sleep=clock.sleep,
    )
    results = []
    with client:
        for spec, plan in zip(specs, plans, strict=True):
            server.start(spec, plan)
            random.seed(spec.seed)  # the retry transport's jitter, as the plan draws it
            task = client.submit(REQUEST)
            client.wait(task, timeout=TIMEOUT)
            end = server.created + spec.queue + spec.duration
            results.append((server.polls, clock.now - end))
    return results


# -- Rivals -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FixedSchedule(PollSchedule):
    """Poll every ``min_interval`` seconds, whatever happens (what most clients do)."""

    def next_delay(self, evidence: Evidence, now: float) -> float:
        """Always the same interval."""
        return self.min_interval

    def delays(self) -> Iterator[float]:
        """The sleeps in order (for ``replay``)."""
        while True:
            yield self.min_interval


@dataclass(frozen=True)
class BackoffSchedule(PollSchedule):
    """A plain exponential back-off: ``min_interval``, times ``growth`` per poll, up to ``max_interval``."""

    growth: float = 1.5

    def next_delay(self, evidence: Evidence, now: float) -> float:
        """``min_interval * growth ** polls``, capped."""
        return min(self.min_interval * self.growth**evidence.polls, self.max_interval)

    def delays(self) -> Iterator[float]:
        """The sleeps in order (for ``replay``)."""
        polls = 0
        while True:
            yield min(self.min_interval * self.growth**polls, self.max_interval)
            polls += 1


RivalSchedule = FixedSchedule | BackoffSchedule


def replay(schedule: RivalSchedule, spec: TaskSpec, plan: FaultPlan, conditions: Conditions) -> tuple[int, float]:
    """What ``Client.wait`` does with a poll-count schedule, replayed: return ``(polls, lag)``.

    Submit takes one latency (the task is created halfway); ``wait`` sleeps, polls (the server reads
    the task halfway through the request), and on a 429/503 the retry transport retries twice after
    its jittered back-off before ``wait`` sleeps again. Runs of identical sleeps are jumped in one step.
    """
    latency, half = conditions.latency, conditions.latency / 2
    end = half + spec.queue + spec.duration  # created halfway through submit's request
    faults = _Faults(plan)
    now, polls = latency, 0
    delays = schedule.delays()
    interval = next(delays)
    steady = isinstance(schedule, FixedSchedule) or interval >= schedule.max_interval
    while True:
        if steady:
            # Polls j = 1, 2, ... read the task at now + j * (interval + latency) - half.
            needed = max(1, math.ceil((end - now + half) / (interval + latency) - 1e-12))
            ok = faults.skip(needed)
            polls += ok
            now += ok * (interval + latency)
            if ok == needed:
                return polls, now - end
            now += interval
        else:
            now += interval
            interval = next(delays)
            steady = interval >= schedule.max_interval
        for attempt in range(RETRIES.max_retries + 1):
            polls += 1
            failure = faults.next()
            if failure is None:
                if now + half >= end:
                    return polls, now + latency - end
                now += latency
                break
            now += latency
            if attempt < RETRIES.max_retries:
                now += min(RETRIES.backoff_cap, RETRIES.backoff_base * 2.0**attempt) * (0.5 + 0.5 * faults.jitter())


def fixed(interval: float) -> FixedSchedule:
    """A fixed-interval schedule."""
    return FixedSchedule(min_interval=interval, max_interval=interval)


BACKOFF = BackoffSchedule(min_interval=1.0, max_interval=10.0, growth=1.5)


# -- Figures ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figures:
    """One strategy's figures over a scenario's tasks."""

    name: str
    polls_mean: float
    polls_p95: float
    lag_mean: float
    lag_p95: float

    @classmethod
    def of(cls, name: str, runs: list[tuple[int, float]]) -> Figures:
        """Summarise ``(polls, lag)`` per task."""
        polls = [float(polls) for polls, _ in runs]
        lags = [lag for _, lag in runs]
        return cls(name, statistics.fmean(polls), _p95(polls), statistics.fmean(lags), _p95(lags))


def _p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


@dataclass
class ScenarioResult:
    """A scenario's figures: the adaptive schedule, the named rivals, the frontier, the cross-check."""

    scenario: Scenario
    tasks: int
    adaptive: Figures
    rivals: list[Figures]
    frontier: list[tuple[float, Figures]]
    """``(interval, figures)`` for each fixed interval of ``FRONTIER``."""
    checked: int = 0
    """Tasks on which the named rivals also ran through the real ``Client.wait``."""
    mismatches: list[str] = field(default_factory=list)

    def fixed_at_same_lag(self) -> tuple[float, float] | None:
        """The fixed interval with the adaptive schedule's mean lag, and its mean polls (interpolated)."""
        lag = self.adaptive.lag_mean
        for (a_interval, a), (b_interval, b) in itertools.pairwise(self.frontier):
            if a.lag_mean <= lag <= b.lag_mean:
                share = (lag - a.lag_mean) / (b.lag_mean - a.lag_mean) if b.lag_mean > a.lag_mean else 0.0
                return (
                    a_interval + share * (b_interval - a_interval),
                    a.polls_mean + share * (b.polls_mean - a.polls_mean),
                )
        return None

    def dominating(self) -> str | None:
        """Name a fixed interval at least as good on mean polls and on mean lag, if any.

        Every interval of the grid is tried, and so is every point of the straight segment between
        two neighbouring ones (the frontier between grid points).
        """
        me = self.adaptive
        for interval, point in self.frontier:
            if point.polls_mean <= me.polls_mean and point.lag_mean <= me.lag_mean:
                return f"fixed {interval:g} s: {point.polls_mean:.2f} polls, {point.lag_mean:.2f} s"
        same = self.fixed_at_same_lag()
        if same is not None and same[1] <= me.polls_mean:
            return f"fixed ~{same[0]:.2f} s: {same[1]:.2f} polls at the same lag"
        return None

    def targets(self) -> list[tuple[str, bool]]:
        """Each target of the scenario, met or not."""
        name, me = self.scenario.name, self.adaptive
        beaten = self.dominating()
        checks = [
            (
                f"{name}: no fixed interval as good on mean polls and mean lag" + (f" ({beaten})" if beaten else ""),
                not beaten,
            ),
            (f"{name}: lag p95 <= 10 s ({me.lag_p95:.2f} s)", me.lag_p95 <= 10),
            (f"{name}: rivals replayed exactly as Client.wait runs them ({self.checked} tasks)", not self.mismatches),
        ]
        if self.scenario.model.name == "current" and not self.scenario.conditions.latency:
            rivals = {rival.name: rival for rival in self.rivals}
            five, three = rivals["fixed 5 s"], rivals["fixed 3 s"]
            checks.append(
                (f"{name}: fewer polls than fixed 5 s ({five.polls_mean:.1f})", me.polls_mean < five.polls_mean)
            )
            checks.append(
                (f"{name}: lower mean lag than fixed 3 s ({three.lag_mean:.2f} s)", me.lag_mean < three.lag_mean)
            )
        return checks


RIVALS: tuple[tuple[str, RivalSchedule], ...] = (
    ("fixed 3 s", fixed(3.0)),
    ("fixed 5 s", fixed(5.0)),
    ("fixed 10 s", fixed(10.0)),
    ("back-off 1 s x1.5 to 10 s", BACKOFF),
)


def measure_scenario(
    scenario: Scenario, schedule: PollSchedule, count: int | None = None, check: int = 50
) -> ScenarioResult:
    """Every strategy on one scenario's tasks; the named rivals also through ``Client.wait`` on ``check`` tasks."""
    specs = scenario.model.tasks(count)
    conditions = scenario.conditions
    plans = [FaultPlan(spec.seed, conditions.fault_rate) for spec in specs]
    pairs = list(zip(specs, plans, strict=True))

    def replayed(rival: RivalSchedule) -> list[tuple[int, float]]:
        return [replay(rival, spec, plan, conditions) for spec, plan in pairs]

    result = ScenarioResult(
        scenario,
        len(specs),
        Figures.of("adaptive", measure_client(schedule, specs, plans, conditions)),
        [Figures.of(name, replayed(rival)) for name, rival in RIVALS],
        [(interval, Figures.of(f"fixed {interval:g} s", replayed(fixed(interval)))) for interval in FRONTIER],
    )
    sample = pairs[: min(check, len(pairs))]
    result.checked = len(sample)
    for name, rival in RIVALS:
        real = measure_client(rival, [spec for spec, _ in sample], [plan for _, plan in sample], conditions)
        for index, ((spec, plan), (polls, lag)) in enumerate(zip(sample, real, strict=True)):
            want_polls, want_lag = replay(rival, spec, plan, conditions)
            if polls != want_polls or abs(lag - want_lag) > 1e-6:
                result.mismatches.append(
                    f"{name}, task {index}: Client.wait {polls} polls, {lag:.6f} s; "
                    f"replay {want_polls}, {want_lag:.6f} s"
                )
    return result


def run(
    count: int | None = None, schedule: PollSchedule | None = None, models: tuple[TaskModel, ...] = MODELS
) -> list[ScenarioResult]:
    """Every model under every condition (``count`` tasks each; default: the model's own count)."""
    schedule = schedule or PollSchedule()
    return [
        measure_scenario(Scenario(model, conditions), schedule, count, check=50 if model.count >= 1000 else 10)
        for model in models
        for conditions in CONDITIONS
    ]


def tables(results: list[ScenarioResult]) -> list[str]:
    """One markdown table per task model: each strategy, clean and with latency and faults side by side."""
    lines: list[str] = []
    by_model: dict[str, list[ScenarioResult]] = {}
    for result in results:
        by_model.setdefault(result.scenario.model.name, []).append(result)
    for name, pair in by_model.items():
        model = pair[0].scenario.model
        lines += [f"**{name}** ({model.describe}; {pair[0].tasks} tasks)", ""]
        head = " | ".join(f"{c.scenario.conditions.name}: polls mean / lag mean / lag p95" for c in pair)
        lines += [f"| schedule | {head} |", "|---|" + "---|" * len(pair)]
        rows: list[tuple[str, list[Figures]]] = [("**adaptive**", [c.adaptive for c in pair])]
        rows += [(rival.name, [c.rivals[index] for c in pair]) for index, rival in enumerate(pair[0].rivals)]
        for label, figures in rows:
            cells = " | ".join(f"{f.polls_mean:.1f} / {f.lag_mean:.2f} s / {f.lag_p95:.2f} s" for f in figures)
            lines.append(f"| {label} | {cells} |")
        same = []
        for c in pair:
            fixed_same = c.fixed_at_same_lag()
            same.append(f"{fixed_same[1]:.1f} polls (every {fixed_same[0]:.2f} s)" if fixed_same else "-")
        lines += [f"| fixed interval with the adaptive mean lag | {' | '.join(same)} |", ""]
    return lines


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.polling [--tasks N] [--png PATH]``: tables, targets, exit 1 if one is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=None, help="tasks per model (default: 1000, 200 for 10-30 min)")
    parser.add_argument("--png", default=None, help="write the lag-against-polls chart here")
    parser.add_argument("--probes", action="store_true", help="also run PROBES (reported, not gating)")
    options = parser.parse_args(argv)
    started = time.perf_counter()
    results = run(options.tasks)
    print("\n".join(tables(results)))
    if options.png:
        from .polling_chart import draw  # Pillow is needed only for the chart

        draw(results, options.png)
        print(f"chart: {options.png}")
    checks = [check for result in results for check in result.targets()]
    for result in results:
        for mismatch in result.mismatches[:3]:
            print(f"replay mismatch, {result.scenario.name}: {mismatch}")
    print(f"\n{time.perf_counter() - started:.0f} s\n")
    for name, met in checks:
        print(f"- {'met    ' if met else 'NOT MET'} {name}")
    if options.probes:
        probes = run(options.tasks, models=PROBES)
        print("\n## Probes (models beyond the issue's list; reported, not gating)\n")
        print("\n".join(tables(probes)))
        for name, met in (check for result in probes for check in result.targets()):
            print(f"- {'met    ' if met else 'NOT MET'} {name}")
    return 0 if all(met for _, met in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
