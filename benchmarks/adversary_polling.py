"""An adversary's polling harness: task models chosen to break an adaptive schedule, not to fit it.

Written from the README and the public API only (``Client(transport=, clock=, sleep=)``), with its
own task models, its own simulated clock and its own fixed-interval client, so that it shares no
assumption with ``benchmarks/polling.py``.

    python -m benchmarks.adversary_polling [--tasks N] [--models a,b] [--check-fixed]

For each task model it drives the real ``Client.run`` (submit, then ``wait``) against an
``httpx.MockTransport`` that plays the task on a simulated clock (latency advances it), and
compares mean polls, mean lag and lag p95 with every fixed interval from 0.5 s to 60 s (2% apart),
played by a plain fixed-interval loop (poll; if not finished sleep the interval; a 429/503 is
retried after its ``Retry-After`` like the client's retry transport). ``--check-fixed`` also runs
that loop through the real client (``get_task`` and the injected sleep) on a few intervals and
requires the same polls and lag, task by task, so the cheap replay is honest.

Targets printed per model and network: the schedule is not Pareto-dominated by a fixed interval
(grid points and the segments between them), and lag p95 <= 10 s. Exit 1 when one is not met.
Bounded: every task has a wait deadline, every model a fixed number of tasks.
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
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from evolink_images import Client, EvoLinkError, WanImageToImage

BASE = "http://127.0.0.1:9"
KEY = "sk-adversary-key"
REQUEST = WanImageToImage("Make it night", ["https://example.com/a.png"])
WAIT_TIMEOUT = 7200.0


@dataclass
class Spec:
    """One task as the server plays it; times are seconds since the submit reached the server."""

    queue: float  # pending before any work
    duration: float  # from the end of the queue to completion
    estimate: float | None  # task_info.estimated_time in the create response
    progress: Callable[[float], int]  # progress at a time since submit (before completion)
    status: Callable[[float, int], str] = lambda s, n: "processing"  # status at a time, poll number
    get_estimate: Callable[[int], float | None] | None = None  # estimated_time sent on the n-th GET

    @property
    def end(self) -> float:
        """When the task completes, in seconds since submit."""
        return self.queue + self.duration


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _linear(queue: float, duration: float) -> Callable[[float], int]:
    return lambda s: 0 if s <= queue else min(99, int(100 * (s - queue) / duration))


def _none(_: float) -> int:
    return 0


def _queued_status(queue: float) -> Callable[[float, int], str]:
    return lambda s, n: "pending" if s < queue else "processing"


Model = Callable[[random.Random], Spec]


def _bimodal_duration(rng: random.Random) -> float:
    """5 s or 600 s, each +-10% (exact values would resonate with some fixed interval)."""
    return (5.0 if rng.random() < 0.5 else 600.0) * rng.uniform(0.9, 1.1)


def bimodal(rng: random.Random) -> Spec:
    """5 s or 600 s, estimate always 30 s, linear progress."""
    d = _bimodal_duration(rng)
    return Spec(0.0, d, 30.0, _linear(0.0, d))


def bimodal_no_progress(rng: random.Random) -> Spec:
    """5 s or 600 s, estimate always 30 s, no progress."""
    d = _bimodal_duration(rng)
    return Spec(0.0, d, 30.0, _none)


def estimate_low_3x(rng: random.Random) -> Spec:
    """5-180 s, the estimate a third of the duration, linear progress."""
    d = _log_uniform(rng, 5, 180)
    return Spec(0.0, d, d / 3, _linear(0.0, d))


def estimate_low_3x_no_progress(rng: random.Random) -> Spec:
    """5-180 s, the estimate a third of the duration, no progress."""
    d = _log_uniform(rng, 5, 180)
    return Spec(0.0, d, d / 3, _none)


def estimate_high_3x(rng: random.Random) -> Spec:
    """5-180 s, the estimate three times the duration, linear progress."""
    d = _log_uniform(rng, 5, 180)
    return Spec(0.0, d, 3 * d, _linear(0.0, d))


def estimate_high_3x_no_progress(rng: random.Random) -> Spec:
    """5-180 s, the estimate three times the duration, no progress."""
    d = _log_uniform(rng, 5, 180)
    return Spec(0.0, d, 3 * d, _none)


def progress_resets(rng: random.Random) -> Spec:
    """Work runs to 30-80%, then the task restarts from 0 and runs whole (a retry on the server)."""
    d = _log_uniform(rng, 10, 180)
    cut = rng.uniform(0.3, 0.8)
    first = cut * d

    def progress(s: float) -> int:
        if s < first:
            return int(100 * s / d)
        return min(99, int(100 * (s - first) / d))

    return Spec(0.0, first + d, d * rng.uniform(0.5, 1.5), progress)


def progress_backwards(rng: random.Random) -> Spec:
    """Progress jitters: each reading is the true progress minus up to 30 points."""
    d = _log_uniform(rng, 5, 180)
    noise = random.Random(rng.random())  # noqa: S311 - a simulation
    return Spec(
        0.0,
        d,
        d * rng.uniform(0.5, 1.5),
        lambda s: max(0, min(99, int(100 * s / d) - noise.randint(0, 30))),
    )


def stuck_at_99(rng: random.Random) -> Spec:
    """Progress reaches 99% at a fifth of the duration and sits there."""
    d = _log_uniform(rng, 10, 300)
    return Spec(0.0, d, d * rng.uniform(0.5, 1.5), lambda s: min(99, int(100 * s / (0.2 * d))))


def pending_0_600(rng: random.Random) -> Spec:
    """0-600 s pending, then 5-180 s of linear progress, estimate +-50%."""
    q = rng.uniform(0, 600)
    d = _log_uniform(rng, 5, 180)
    return Spec(q, d, d * rng.uniform(0.5, 1.5), _linear(q, d), _queued_status(q))


def pending_0_600_no_progress(rng: random.Random) -> Spec:
    """0-600 s pending, then 5-180 s without progress, estimate +-50%."""
    q = rng.uniform(0, 600)
    d = _log_uniform(rng, 5, 180)
    return Spec(q, d, d * rng.uniform(0.5, 1.5), _none, _queued_status(q))


def status_flapping(rng: random.Random) -> Spec:
    """Status alternates pending/processing (and an unknown 'queued') from poll to poll."""
    d = _log_uniform(rng, 5, 180)
    return Spec(
        0.0,
        d,
        d * rng.uniform(0.5, 1.5),
        _linear(0.0, d),
        lambda s, n: ("pending", "processing", "queued")[n % 3],
    )


def estimate_each_poll(rng: random.Random) -> Spec:
    """Every GET carries a new estimated_time, anywhere from 5 s to 600 s; no progress."""
    d = _log_uniform(rng, 5, 180)
    noise = random.Random(rng.random())  # noqa: S311 - a simulation
    return Spec(0.0, d, d, _none, get_estimate=lambda n: noise.uniform(5, 600))


def short_1_3(rng: random.Random) -> Spec:
    """1-3 s tasks that say 30 s (both vendor examples say 30)."""
    d = rng.uniform(1, 3)
    return Spec(0.0, d, 30.0, _linear(0.0, d))


def short_1_3_no_estimate(rng: random.Random) -> Spec:
    """1-3 s tasks without an estimate or progress."""
    d = rng.uniform(1, 3)
    return Spec(0.0, d, None, _none)


MODELS: dict[str, Model] = {
    f.__name__: f
    for f in (
        bimodal,
        bimodal_no_progress,
        estimate_low_3x,
        estimate_low_3x_no_progress,
        estimate_high_3x,
        estimate_high_3x_no_progress,
        progress_resets,
        progress_backwards,
        stuck_at_99,
        pending_0_600,
        pending_0_600_no_progress,
        status_flapping,
        estimate_each_poll,
        short_1_3,
        short_1_3_no_estimate,
    )
}


@dataclass(frozen=True)
class Network:
    """Conditions every request meets."""

    name: str
    latency: float  # seconds per request, half before the server reads the state, half after
    fault_rate: float  # share of GETs answered 429 or 503 with Retry-After 1-5 s


NETWORKS = (
    Network("clean", 0.0, 0.0),
    Network("0.3 s latency, 2% 429/503", 0.3, 0.02),
    Network("2 s latency, 10% 429/503", 2.0, 0.10),
)


@dataclass
class SimServer:
    """Plays one task at a time on a simulated clock; counts the GETs it sees."""

    network: Network
    rng: random.Random
    now: float = 1000.0
    spec: Spec | None = None
    submitted_at: float = 0.0
    gets: int = 0
    sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        """The client's sleep: simulated time moves on."""
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)

    def clock(self) -> float:
        """The client's clock."""
        return self.now

    def start(self, spec: Spec) -> None:
        """Serve ``spec`` for the next submit."""
        self.spec = spec
        self.gets = 0

    def answer(self, method: str) -> tuple[int, dict[str, str], dict[str, object]]:
        """What the server says at ``self.now`` (after half the latency)."""
        spec = self.spec
        if spec is None:
            raise RuntimeError("start() a task first")
        if method == "POST":
            self.submitted_at = self.now
            body: dict[str, object] = {
                "id": "task-unified-1-adversary",
                "status": "pending",
                "progress": 0,
                "created": int(self.now),
                "object": "image.generation.task",
                "task_info": {"can_cancel": True},
            }
            if spec.estimate is not None:
                body["task_info"] = {"can_cancel": True, "estimated_time": spec.estimate}
            return 200, {}, body
        self.gets += 1
        if self.network.fault_rate and self.rng.random() < self.network.fault_rate:
            status = 429 if self.rng.random() < 0.5 else 503
            retry_after = str(self.rng.randint(1, 5))
            return status, {"retry-after": retry_after}, {"error": {"code": "rate_limit_exceeded"}}
        s = self.now - self.submitted_at
        body = {"id": "task-unified-1-adversary", "object": "image.generation.task"}
        if s >= spec.end:
            body.update(status="completed", progress=100, results=["https://example.com/r.png"])
        else:
            body.update(status=spec.status(s, self.gets), progress=spec.progress(s))
            if spec.get_estimate is not None:
                body["task_info"] = {"estimated_time": spec.get_estimate(self.gets)}
        return 200, {}, body

    def handle(self, request: httpx.Request) -> httpx.Response:
        """The ``httpx.MockTransport`` handler."""
        self.now += self.network.latency / 2
        status, headers, body = self.answer(request.method)
        self.now += self.network.latency / 2
        return httpx.Response(status, headers=headers, content=json.dumps(body).encode())


@dataclass(frozen=True)
class Outcome:
    """One task's polls (GETs the server saw), lag after completion, and longest sleep."""

    polls: int
    lag: float
    longest_sleep: float = 0.0


def _specs(model: Model, tasks: int, seed: str) -> list[Spec]:
    rng = random.Random(seed)  # noqa: S311 - a simulation
    return [model(rng) for _ in range(tasks)]


def run_adaptive(specs: list[Spec], network: Network, seed: str) -> list[Outcome]:
    """Every task through the real ``Client.run`` (submit, then the adaptive ``wait``)."""
    server = SimServer(network, random.Random(seed + "faults"))  # noqa: S311
    client = Client(
        KEY,
        base_url=BASE,
        transport=httpx.MockTransport(server.handle),
        clock=server.clock,
        sleep=server.sleep,
    )
    out = []
    with client:
        for spec in specs:
            server.start(spec)
            server.sleeps.clear()
            client.run(REQUEST, timeout=WAIT_TIMEOUT)
            lag = server.now - (server.submitted_at + spec.end)
            out.append(Outcome(server.gets, lag, max(server.sleeps, default=0.0)))
    return out


def run_fixed_replay(specs: list[Spec], network: Network, seed: str, interval: float) -> list[Outcome]:
    """A plain fixed-interval client, played without the library: poll, sleep, poll."""
    server = SimServer(network, random.Random(seed + "faults"))  # noqa: S311
    out = []
    for spec in specs:
        server.start(spec)
        server.now += network.latency / 2
        server.answer("POST")
        server.now += network.latency / 2
        while True:
            server.sleep(interval)
            done = False
            for attempt in range(3):  # the request and its 2 retries
                server.now += network.latency / 2
                status, headers, body = server.answer("GET")
                server.now += network.latency / 2
                if status == 200:
                    done = body["status"] == "completed"
                    break
                if attempt < 2:
                    server.sleep(float(headers["retry-after"]))
            if done:
                break
        out.append(Outcome(server.gets, server.now - (server.submitted_at + spec.end)))
    return out


def run_fixed_client(specs: list[Spec], network: Network, seed: str, interval: float) -> list[Outcome]:
    """The same fixed-interval loop through the real client (``get_task`` and its retries)."""
    server = SimServer(network, random.Random(seed + "faults"))  # noqa: S311
    client = Client(
        KEY,
        base_url=BASE,
        transport=httpx.MockTransport(server.handle),
        clock=server.clock,
        sleep=server.sleep,
    )
    out = []
    with client:
        for spec in specs:
            server.start(spec)
            task = client.submit(REQUEST)
            while True:
                server.sleep(interval)
                try:
                    task = client.get_task(task.id)
                except EvoLinkError:  # a poll that failed after its retries: poll again
                    continue
                if task.status == "completed":
                    break
            out.append(Outcome(server.gets, server.now - (server.submitted_at + spec.end)))
    return out


@dataclass(frozen=True)
class Summary:
    """Means and lag p95 over a model's tasks."""

    polls: float
    lag: float
    p95: float


def summarise(outcomes: list[Outcome]) -> Summary:
    """Mean polls, mean lag, lag p95."""
    lags = sorted(o.lag for o in outcomes)
    p95 = lags[min(len(lags) - 1, math.ceil(0.95 * len(lags)) - 1)]
    return Summary(statistics.fmean(o.polls for o in outcomes), statistics.fmean(lags), p95)


def grid() -> list[float]:
    """Fixed intervals from 0.5 s to 60 s, 2% apart."""
    out, x = [], 0.5
    while x <= 60.0 + 1e-9:
        out.append(round(x, 4))
        x *= 1.02
    return out


def dominating(adaptive: Summary, frontier: list[tuple[float, Summary]]) -> str | None:
    """A fixed interval (grid point or a point between neighbours) at least as good on both."""
    for interval, s in frontier:
        if s.polls <= adaptive.polls and s.lag <= adaptive.lag:
            return f"fixed {interval:.2f} s: {s.polls:.1f} polls / {s.lag:.2f} s"
    for (i1, a), (i2, b) in itertools.pairwise(frontier):
        for k in range(1, 20):
            w = k / 20
            polls, lag = a.polls + w * (b.polls - a.polls), a.lag + w * (b.lag - a.lag)
            if polls <= adaptive.polls and lag <= adaptive.lag:
                return f"between fixed {i1:.2f} and {i2:.2f} s: {polls:.1f} polls / {lag:.2f} s"
    return None


def same_lag(adaptive: Summary, frontier: list[tuple[float, Summary]]) -> str:
    """The fixed interval whose mean lag is the adaptive one, and its polls."""
    for (i1, a), (i2, b) in itertools.pairwise(frontier):
        if a.lag <= adaptive.lag <= b.lag and b.lag > a.lag:
            w = (adaptive.lag - a.lag) / (b.lag - a.lag)
            return f"{a.polls + w * (b.polls - a.polls):.1f} polls (every {i1 + w * (i2 - i1):.2f} s)"
    return "none on the grid"


def check_fixed(specs: list[Spec], network: Network, seed: str) -> str | None:
    """The first task on which the replay and the real client loop disagree, if any."""
    for interval in (0.5, 3.0, 10.0, 37.0):
        a = run_fixed_replay(specs, network, seed, interval)
        b = run_fixed_client(specs, network, seed, interval)
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            if x.polls != y.polls or abs(x.lag - y.lag) > 1e-6:
                return f"fixed {interval} s, task {n}: replay {x} vs client {y}"
    return None


def main(argv: list[str] | None = None) -> int:
    """Run every model on every network; exit 1 if a target is not met."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--check-fixed", action="store_true")
    args = parser.parse_args(argv)
    failures = 0
    for name in args.models.split(","):
        model = MODELS[name]
        specs = _specs(model, args.tasks, name)
        for network in NETWORKS:
            seed = f"{name}/{network.name}"
            started = time.perf_counter()
            outcomes = run_adaptive(specs, network, seed)
            adaptive = summarise(outcomes)
            longest = max(o.longest_sleep for o in outcomes)
            spent = time.perf_counter() - started
            frontier = [(i, summarise(run_fixed_replay(specs, network, seed, i))) for i in grid()]
            beaten = dominating(adaptive, frontier)
            p95_ok = adaptive.p95 <= 10.0
            fixed = dict(frontier)
            f3, f10 = fixed[min(fixed, key=lambda i: abs(i - 3))], fixed[min(fixed, key=lambda i: abs(i - 10))]
            print(
                f"{name:28s} {network.name:24s} adaptive {adaptive.polls:6.1f} polls / "
                f"{adaptive.lag:6.2f} s / p95 {adaptive.p95:6.2f} s  ({spent:.1f} s real)"
                f" | fixed~3 {f3.polls:.1f}/{f3.lag:.2f} | fixed~10 {f10.polls:.1f}/{f10.lag:.2f}"
                f" | same lag: {same_lag(adaptive, frontier)}"
            )
            print(f"    longest sleep {longest:.1f} s;", end="")
            print(
                f"    not dominated: {'met' if beaten is None else 'NOT MET (' + beaten + ')'};"
                f" lag p95 <= 10 s: {'met' if p95_ok else 'NOT MET'}"
            )
            failures += (beaten is not None) + (not p95_ok)
            if args.check_fixed:
                mismatch = check_fixed(specs[:20], network, seed)
                print(f"    fixed replay = real client loop: {'yes' if mismatch is None else mismatch}")
                failures += mismatch is not None
            sys.stdout.flush()
    print(f"{failures} target(s) not met")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
