"""``FakeClock``: simulated monotonic time for the fake EvoLink and the clients that talk to it.

A blocking ``sleep`` returns at once and moves time on (one caller, one timeline).

An awaited ``async_sleep`` is concurrent, as ``asyncio.sleep`` and ``trio.sleep`` are: each sleeper
waits for its own wake-up time, and time jumps to the earliest one only when the event loop has
nothing else ready to run (trio's ``MockClock(autojump_threshold=0)`` does the same). So eight
coroutines that each sleep 60 s take 60 simulated seconds, not 480: the fake can measure
concurrency limits. Time never moves while some coroutine can still run, which keeps a simulation
deterministic. (A coroutine waiting on real I/O, such as a loopback server, is not "ready": time
may jump while it waits.) Under asyncio a callback on the loop does the jumping; under trio, a
system task that wakes when every task is blocked (``trio.testing.wait_all_tasks_blocked``).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["FakeClock"]

_MAX_DEFERRALS = 10_000
"""Loop turns a jump waits for runnable callbacks before it jumps anyway (a spinning task must not hang)."""


@dataclass(order=True)
class _Waiter:
    wake_at: float
    order: int
    wake: Callable[[], None] = field(compare=False)
    """Ends the sleep."""
    alive: Callable[[], bool] = field(compare=False)
    """False once the sleep ended, was cancelled, or its event loop is gone."""


def _asyncio_waiter(wake_at: float, order: int, future: asyncio.Future[None]) -> _Waiter:
    def wake() -> None:
        future.set_result(None)

    def alive() -> bool:
        return not future.done() and not future.get_loop().is_closed()

    return _Waiter(wake_at, order, wake, alive)


@dataclass
class FakeClock:
    """Monotonic seconds that move only when told to (or when something sleeps on them)."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)
    """Every sleep asked for, in order."""
    _waiters: list[_Waiter] = field(default_factory=list, repr=False)
    _order: itertools.count[int] = field(default_factory=itertools.count, repr=False)
    _jumper: object | None = field(default=None, repr=False)
    """The asyncio loop on which a jump is scheduled, or the trio run whose jumper task runs (one each)."""

    def __call__(self) -> float:
        """Return the current time."""
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward (waking the coroutines whose sleep ends by then)."""
        self.now += max(seconds, 0.0)
        self._wake_due()

    def sleep(self, seconds: float) -> None:
        """A ``time.sleep`` stand-in: returns at once, time moves on."""
        self._check(seconds)
        self.sleeps.append(seconds)
        self.advance(seconds)

    async def async_sleep(self, seconds: float) -> None:
        """An ``asyncio.sleep`` (or ``trio.sleep``) stand-in: wakes at ``now + seconds``, when nothing else can run."""
        self._check(seconds)
        self.sleeps.append(seconds)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio: trio (through anyio, or directly)
            await self._trio_sleep(seconds)
            return
        future: asyncio.Future[None] = loop.create_future()
        heapq.heappush(self._waiters, _asyncio_waiter(self.now + seconds, next(self._order), future))
        if self._jumper is not loop:
            self._jumper = loop
            loop.call_soon(self._jump, loop, 0)
        await future

    async def _trio_sleep(self, seconds: float) -> None:
        import trio

        event = trio.Event()
        ended = False

        def alive() -> bool:
            return not ended and not event.is_set()

        heapq.heappush(self._waiters, _Waiter(self.now + seconds, next(self._order), event.set, alive))
        run = trio.lowlevel.current_trio_token()
        if self._jumper is not run:
            self._jumper = run
            trio.lowlevel.spawn_system_task(self._trio_jump, run)
        try:
            await event.wait()
        finally:
            ended = True

    async def _trio_jump(self, run: object) -> None:
        """Under trio: each time every task is blocked, jump to the earliest wake-up."""
        import trio.testing

        try:
            while True:
                await trio.testing.wait_all_tasks_blocked()
                self._drop_finished()
                if not self._waiters:
                    return
                self.now = max(self.now, self._waiters[0].wake_at)
                self._wake_due()
        finally:
            if self._jumper is run:
                self._jumper = None

    @staticmethod
    def _check(seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"negative sleep: {seconds}")

    def _jump(self, loop: asyncio.AbstractEventLoop, deferrals: int) -> None:
        """Jump to the earliest wake-up once no other callback is ready (asyncio's ``_ready`` queue)."""
        self._drop_finished()
        if not self._waiters:
            self._jumper = None
            return
        # Event loops other than asyncio's own have no such queue: they get a few turns instead.
        ready = getattr(loop, "_ready", None)
        busy = len(ready) > 0 if ready is not None else deferrals < 8
        if busy and deferrals < _MAX_DEFERRALS:
            loop.call_soon(self._jump, loop, deferrals + 1)
            return
        self.now = max(self.now, self._waiters[0].wake_at)
        self._wake_due()
        if self._waiters:
            loop.call_soon(self._jump, loop, 0)
        else:
            self._jumper = None

    def _wake_due(self) -> None:
        while self._waiters and self._waiters[0].wake_at <= self.now:
            waiter = heapq.heappop(self._waiters)
            if waiter.alive():
                waiter.wake()

    def _drop_finished(self) -> None:
        """Forget sleepers that were cancelled or whose loop is gone."""
        live = [w for w in self._waiters if w.alive()]
        if len(live) != len(self._waiters):
            heapq.heapify(live)
            self._waiters[:] = live
