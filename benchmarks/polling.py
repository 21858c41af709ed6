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
frontier (0.5 s to 60 s, 2% apart) affordable; ``cross_check`` runs the named rivals through the
real ``Client.wait`` on a sample of tasks and requires the same polls and lags, task by task.
"""

from __future__ import annotations

import json
import math
import random
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx

from evolink_images import Client, PollSchedule, WanImageToImage
from evolink_images._polling import Evidence
from evolink_images.testing.payloads import error_json, task_json

__all__ = [
    "CONDITIONS",
    "MODELS",
    "BackoffSchedule",
    "Conditions",
    "FixedSchedule",
    "Figures",
    "Scenario",
    "ScenarioResult",
    "TaskModel",
    "TaskSpec",
    "cross_check",
    "replay",
    "run",
]

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


def _near(rng: random.Random, duration: float) -> int:
    """An estimate off by up to 50% either way."""
    return max(1, round(duration * rng.uniform(0.5, 1.5)))


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
) -> TaskModel:
    def draw(rng: random.Random) -> tuple[float, float, int, Curve | None]:
        waited = queue(rng) if queue else 0.0
        seconds = duration(rng)
        return waited, seconds, _near(rng, seconds) if estimate is None else estimate, curve

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


class _Faults:
    """Which polls fail: a countdown drawn from the task's own seed (so every strategy meets the same)."""

    def __init__(self, seed: int, rate: float) -> None:
        self._rng = random.Random(seed)  # noqa: S311 - simulation
        self._rate = rate
        self._left = self._gap()

    def _gap(self) -> float:
        if not self._rate:
            return math.inf
        return math.floor(math.log(1.0 - self._rng.random()) / math.log(1.0 - self._rate))

    def next(self) -> int | None:
        """Return the status of the next poll's failure (429 or 503), or None when it succeeds."""
        if self._left > 0:
            self._left -= 1
            return None
        status = 429 if self._rng.random() < 0.5 else 503
        self._left = self._gap()
        return status

    def skip(self, polls: int) -> int:
        """Let up to ``polls`` polls succeed; return how many did before a failure is due."""
        ok = int(min(polls, self._left))
        self._left -= ok
        return ok


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
        self.faults = _Faults(0, 0.0)

    def start(self, spec: TaskSpec) -> None:
        """Serve ``spec`` next (created by the next POST)."""
        self.spec, self.polls = spec, 0
        self.faults = _Faults(spec.seed, self.conditions.fault_rate)

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer halfway through the request's latency, as a server would."""
        assert self.spec is not None
        half = self.conditions.latency / 2
        self.clock.now += half
        if request.method == "POST":
            self.created = self.clock.now
            body = json.loads(self.bodies["pending", 0])
            body["task_info"]["estimated_time"] = self.spec.estimate
            response = httpx.Response(200, json=body)
        else:
            self.polls += 1
            failure = self.faults.next()
            if failure is not None:
                response = httpx.Response(failure, content=self.errors[failure], headers=_JSON)
            else:
                state = self.spec.state(self.clock.now - self.created)
                response = httpx.Response(200, content=self.bodies[state], headers=_JSON)
        self.clock.now += half
        return response


def measure_client(schedule: PollSchedule, specs: list[TaskSpec], conditions: Conditions) -> list[tuple[int, float]]:
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
        for spec in specs:
            server.start(spec)
            random.seed(spec.seed)  # the retry transport's jitter, as replay() draws it
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


def replay(schedule: RivalSchedule, spec: TaskSpec, conditions: Conditions) -> tuple[int, float]:
    """What ``Client.wait`` does with a poll-count schedule, replayed: return ``(polls, lag)``.

    Submit takes one latency (the task is created halfway); ``wait`` sleeps, polls (the server reads
    the task halfway through the request), and on a 429/503 the retry transport retries twice after
    its jittered back-off before ``wait`` sleeps again. Runs of identical sleeps are jumped in one step.
    """
    latency, half = conditions.latency, conditions.latency / 2
    end = half + spec.queue + spec.duration  # created halfway through submit's request
    faults = _Faults(spec.seed, conditions.fault_rate)
    jitter = random.Random(spec.seed)  # noqa: S311 - the same draws as the real client's
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
        for attempt in range(3):
            polls += 1
            failure = faults.next()
            if failure is None:
                if now + half >= end:
                    return polls, now + latency - end
                now += latency
                break
            now += latency
            if attempt < 2:
                now += min(8.0, 0.5 * 2.0**attempt) * (0.5 + 0.5 * jitter.random())


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
    """A scenario's figures: the adaptive schedule, the named rivals, the frontier, the targets."""

    scenario: Scenario
    tasks: int
    adaptive: Figures
    rivals: list[Figures]
    frontier: list[Figures]
    targets: list[tuple[str, bool]] = field(default_factory=list)

    def dominating(self) -> Figures | None:
        """A fixed interval at least as good on mean polls and mean lag, if any (between grid points too)."""
        me = self.adaptive
        points = self.frontier
        for point in points:
            if point.polls_mean <= me.polls_mean and point.lag_mean <= me.lag_mean:
                return point
        # Between two neighbouring intervals the frontier is taken as the straight segment.
        for a, b in zip(points, points[1:], strict=False):
            if (a.lag_mean - me.lag_mean) * (b.lag_mean - me.lag_mean) < 0:
                share = (me.lag_mean - a.lag_mean) / (b.lag_mean - a.lag_mean)
                polls = a.polls_mean + share * (b.polls_mean - a.polls_mean)
                if polls <= me.polls_mean:
                    return Figures(f"fixed ~{a.name}-{b.name}", polls, math.nan, me.lag_mean, math.nan)
        return None


def measure_scenario(scenario: Scenario, schedule: PollSchedule, count: int | None = None) -> ScenarioResult:
    """Every strategy on one scenario's tasks."""
    specs = scenario.model.tasks(count)
    conditions = scenario.conditions
    adaptive = Figures.of("adaptive", measure_client(schedule, specs, conditions))
    rivals = [
        Figures.of(name, [replay(rival, spec, conditions) for spec in specs])
        for name, rival in (
            ("fixed 3 s", fixed(3.0)),
            ("fixed 5 s", fixed(5.0)),
            ("fixed 10 s", fixed(10.0)),
            ("back-off 1 s x1.5 to 10 s", BACKOFF),
        )
    ]
    frontier = [
        Figures.of(f"{interval:g} s", [replay(fixed(interval), spec, conditions) for spec in specs])
        for interval in FRONTIER
    ]
    result = ScenarioResult(scenario, len(specs), adaptive, rivals, frontier)
    beaten = result.dominating()
    result.targets.append(
        (
            "no fixed interval as good on mean polls and mean lag"
            + (f" (fixed {beaten.name}: {beaten.polls_mean:.1f} polls, {beaten.lag_mean:.2f} s)" if beaten else ""),
            beaten is None,
        )
    )
    result.targets.append((f"lag p95 <= 10 s ({adaptive.lag_p95:.2f} s)", adaptive.lag_p95 <= 10))
    if scenario.model.name == "current":
        by_name = {rival.name: rival for rival in rivals}
        result.targets.append(("fewer polls than fixed 5 s", adaptive.polls_mean < by_name["fixed 5 s"].polls_mean))
        result.targets.append(("lower mean lag than fixed 3 s", adaptive.lag_mean < by_name["fixed 3 s"].lag_mean))
    return result


def cross_check(scenario: Scenario, count: int) -> list[str]:
    """Run the named rivals through the real ``Client.wait`` on ``count`` tasks; return disagreements with ``replay``."""
    specs = scenario.model.tasks(count)
    problems = []
    for name, rival in (("fixed 3 s", fixed(3.0)), ("fixed 10 s", fixed(10.0)), ("back-off", BACKOFF)):
        real = measure_client(rival, specs, scenario.conditions)
        for index, (spec, (polls, lag)) in enumerate(zip(specs, real, strict=True)):
            want_polls, want_lag = replay(rival, spec, scenario.conditions)
            if polls != want_polls or abs(lag - want_lag) > 1e-6:
                problems.append(
                    f"{scenario.name}, {name}, task {index}: client {polls} polls {lag:.6f} s, replay {want_polls} {want_lag:.6f} s"
                )
    return problems


def run(count: int | None = None, schedule: PollSchedule | None = None) -> list[ScenarioResult]:
    """Every model under every condition (``count`` tasks each: default the model's own count)."""
    schedule = schedule or PollSchedule()
    return [
        measure_scenario(Scenario(model, conditions), schedule, count) for model in MODELS for conditions in CONDITIONS
    ]
