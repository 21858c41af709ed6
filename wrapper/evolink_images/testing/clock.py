"""``FakeClock``: simulated monotonic time for the fake EvoLink and the clients that talk to it.

A blocking ``sleep`` returns at once and moves time on (one caller, one timeline).

An awaited ``async_sleep`` is concurrent, as ``asyncio.sleep`` is: each sleeper waits for its own
wake-up time, and time jumps to the earliest one only when the event loop has nothing else ready
to run (trio's ``MockClock(autojump_threshold=0)`` does the same). So eight coroutines that each
sleep 60 s take 60 simulated seconds, not 480: the fake can measure concurrency limits. Time never
moves while some coroutine can still run, which keeps a simulation deterministic. (A coroutine
waiting on real I/O, such as a loopback server, is not "ready": time may jump while it waits.)
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from dataclasses import dataclass, field

__all__ = ["FakeClock"]

_MAX_DEFERRALS = 10_000
"""Loop turns a jump waits for runnable callbacks before it jumps anyway (a spinning task must not hang)."""


@dataclass(order=True)
class _Waiter:
    wake_at: float
    order: int
    future: asyncio.Future[None] = field(compare=False)


@dataclass
class FakeClock:
    """Monotonic seconds that move only when told to (or when something sleeps on them)."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)
    """Every sleep asked for, in order."""
    _waiters: list[_Waiter] = field(default_factory=list, repr=False)
    _order: itertools.count[int] = field(default_factory=itertools.count, repr=False)
    _jump_loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    """The loop on which a jump is scheduled (so each loop gets exactly one)."""

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
        """An ``asyncio.sleep`` stand-in: wakes at ``now + seconds``, when the loop has nothing else to run."""
        self._check(seconds)
        self.sleeps.append(seconds)
        loop = asyncio.get_running_loop()
        waiter = _Waiter(self.now + seconds, next(self._order), loop.create_future())
        heapq.heappush(self._waiters, waiter)
        if self._jump_loop is not loop:
            self._jump_loop = loop
            loop.call_soon(self._jump, loop, 0)
        await waiter.future

    @staticmethod
    def _check(seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"negative sleep: {seconds}")

    def _jump(self, loop: asyncio.AbstractEventLoop, deferrals: int) -> None:
        """Jump to the earliest wake-up once no other callback is ready (asyncio's ``_ready`` queue)."""
        self._drop_finished()
        if not self._waiters:
            self._jump_loop = None
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
            self._jump_loop = None

    def _wake_due(self) -> None:
        while self._waiters and self._waiters[0].wake_at <= self.now:
            future = heapq.heappop(self._waiters).future
            if not future.done() and not future.get_loop().is_closed():
                future.set_result(None)

    def _drop_finished(self) -> None:
        """Forget sleepers that were cancelled or whose loop is gone."""
        live = [w for w in self._waiters if not w.future.done() and not w.future.get_loop().is_closed()]
        if len(live) != len(self._waiters):
            heapq.heapify(live)
            self._waiters[:] = live
