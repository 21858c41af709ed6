"""Waiting for a task: pure decisions, and one flow that the sync and async clients both drive.

``wait_flow`` is a generator in the style of httpx's auth flows: it yields ``Sleep`` and ``Poll``
steps and receives each poll's outcome (a ``Task`` or the ``EvoLinkError`` it raised). It owns every
decision (finished? failed? how long to sleep? deadline passed?) and never does I/O, so the two
drivers in ``_client.py`` and ``_async_client.py`` are a few lines each, and the tests run it with
a fake clock.

The schedule aims at the task's expected end: the create response's ``estimated_time`` at first,
then, once the task reports progress, the end that progress implies (a task 40% done after 12 s
ends near 30 s), which corrects an estimate that was off. While the end is far, it sleeps half the
time left (few polls); close to it, it polls at ``min_interval``; past it, it backs off from
``min_interval`` by ``backoff`` up to ``max_interval``. Without any estimate, it backs off from the
start.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass

from ._errors import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    EvoLinkError,
    TaskCancelledError,
    TaskFailedError,
    WaitTimeoutError,
)
from ._task import Task

__all__ = ["Poll", "PollSchedule", "Sleep", "drive", "drive_async", "is_transient", "outcome", "wait_flow"]

logger = logging.getLogger("evolink_images")


@dataclass(frozen=True)
class Sleep:
    """Step: sleep this many seconds, then send None."""

    seconds: float


@dataclass(frozen=True)
class Poll:
    """Step: read the task, then send the ``Task`` or the ``EvoLinkError`` raised."""


Step = Sleep | Poll
Flow = Generator[Step, Task | EvoLinkError | None, Task]


@dataclass(frozen=True)
class PollSchedule:
    """The shape of the polling schedule (seconds)."""

    min_interval: float = 1.0
    max_interval: float = 5.0
    far_fraction: float = 0.5
    backoff: float = 1.5
    default_estimate: float | None = None
    """The estimate to assume when the task brought none (None: back off from the start)."""
    resolution: float = 0.05
    """Less time than this before the expected end counts as having reached it (no float-noise sleeps)."""

    def reached(self, since_created: float, estimate: float | None) -> bool:
        """True once the expected end has come (always, without an estimate)."""
        estimate = self.default_estimate if estimate is None else estimate
        return estimate is None or since_created + self.resolution >= estimate

    def estimate_from_progress(self, since_created: float, progress: int) -> float | None:
        """Return the total duration a task ``progress`` percent done after ``since_created`` s implies.

        Progress is a whole percentage, so the true fraction lies in [p, p + 1); the middle is used.
        None when progress says nothing (0, or 100 and beyond).
        """
        if not 0 < progress < 100 or since_created <= 0:
            return None
        return since_created * 100 / (progress + 0.5)

    def next_delay(self, since_created: float, estimate: float | None, polls_after_estimate: int) -> float:
        """Return the sleep before the next poll.

        Args:
            since_created: seconds since the task was created (as far as the client knows).
            estimate: the task's ``estimated_time``, if any.
            polls_after_estimate: polls already made after the estimated end.
        """
        expected = self.default_estimate if estimate is None else estimate
        if expected is not None and not self.reached(since_created, expected):
            left = expected - since_created
            return min(max(left * self.far_fraction, self.min_interval), left, self.max_interval * 6)
        growth = self.min_interval * self.backoff ** max(polls_after_estimate, 0)
        return float(min(growth, self.max_interval))


def is_transient(error: EvoLinkError) -> bool:
    """True for poll failures that must not end a wait: connection errors, 429, 5xx, garbled bodies."""
    if isinstance(error, APIConnectionError | APIResponseError):
        return True
    return isinstance(error, APIStatusError) and (error.status_code == 429 or error.status_code >= 500)


def outcome(task: Task) -> Task:
    """Return a completed task; raise for a failed or cancelled one."""
    if task.status == "failed":
        raise TaskFailedError(task)
    if task.status == "cancelled":
        raise TaskCancelledError(task)
    return task


def _changed(before: Task | None, after: Task) -> bool:
    return before is None or (before.status, before.progress) != (after.status, after.progress)


def wait_flow(
    first: Task | str,
    *,
    timeout: float,
    clock: Callable[[], float],
    schedule: PollSchedule,
    on_update: Callable[[Task], object] | None = None,
    created_at: float | None = None,
) -> Flow:
    """Poll until the task is terminal or the deadline passes.

    Args:
        first: the task as last seen (its ``estimated_time`` shapes the schedule), or just its id.
        timeout: seconds from now after which ``WaitTimeoutError`` is raised.
        clock: monotonic seconds.
        schedule: the schedule's shape.
        on_update: called with the task on every change of status or progress.
        created_at: the ``clock`` value at which the task was created, when known.

    Returns:
        The completed task.

    Raises:
        TaskFailedError, TaskCancelledError: the task ended without results.
        WaitTimeoutError: the deadline passed first (the task goes on).
        EvoLinkError: a poll failed in a way retrying cannot fix (401, 403, 404, ...).
    """
    start = clock()
    deadline = start + timeout
    last = first if isinstance(first, Task) else None
    task_id = first.id if isinstance(first, Task) else first
    estimate = last.estimated_time if last else None
    created = start if created_at is None else created_at
    polls_after_estimate = 0
    # The last poll is made this long before the deadline, so that its request ends in time.
    reserve = min(schedule.min_interval, timeout / 10)
    if last is not None and on_update is not None:
        on_update(last)
    need_poll_now = last is None
    while True:
        if last is not None and last.is_terminal:
            return outcome(last)
        if not need_poll_now:
            now = clock()
            room = deadline - reserve - now
            if room <= 0:
                raise WaitTimeoutError(last or _unseen(task_id), timeout)
            since = now - created
            delay = min(schedule.next_delay(since, estimate, polls_after_estimate), room)
            if schedule.reached(since, estimate):
                polls_after_estimate += 1
            yield Sleep(delay)
        need_poll_now = False
        result = yield Poll()
        if isinstance(result, Task):
            if _changed(last, result) and on_update is not None:
                on_update(result)
            # Progress is the freshest estimate (a task 40% done after 12 s ends near 30 s), but only
            # when it moves: a stalled progress must not push the expected end ever further out.
            moved = last is None or result.progress > last.progress
            last = result
            from_progress = schedule.estimate_from_progress(clock() - created, result.progress)
            if moved and from_progress is not None and not result.is_terminal:
                estimate = from_progress
                polls_after_estimate = 0
            logger.debug("poll of task %s: %s %d%%", task_id, result.status, result.progress)
        elif isinstance(result, EvoLinkError):
            if not is_transient(result):
                result.task_id = task_id
                raise result
            logger.debug("poll of task %s failed, will poll again: %s", task_id, type(result).__name__)


def drive(flow: Flow, poll: Callable[[], Task], sleep: Callable[[float], None]) -> Task:
    """Run a wait flow with blocking I/O."""
    try:
        step = next(flow)
        while True:
            if isinstance(step, Sleep):
                sleep(step.seconds)
                step = flow.send(None)
                continue
            try:
                result: Task | EvoLinkError = poll()
            except EvoLinkError as error:
                result = error
            step = flow.send(result)
    except StopIteration as stop:
        task: Task = stop.value
        return task


async def drive_async(
    flow: Flow, poll: Callable[[], Awaitable[Task]], sleep: Callable[[float], Awaitable[None]]
) -> Task:
    """Run a wait flow with async I/O."""
    try:
        step = next(flow)
        while True:
            if isinstance(step, Sleep):
                await sleep(step.seconds)
                step = flow.send(None)
                continue
            try:
                result: Task | EvoLinkError = await poll()
            except EvoLinkError as error:
                result = error
            step = flow.send(result)
    except StopIteration as stop:
        task: Task = stop.value
        return task


def _unseen(task_id: str) -> Task:
    """A placeholder for a task never read successfully (for ``WaitTimeoutError.task``)."""
    return Task(
        id=task_id,
        status="unknown",
        progress=0,
        results=(),
        error=None,
        estimated_time=None,
        usage=None,
        created=None,
        model=None,
    )
