"""Waiting for a task: one flow that the sync and async clients both drive, and its two drivers.

``wait_flow`` is a generator in the style of httpx's auth flows: it yields ``Sleep`` and ``Poll``
steps and receives each poll's outcome (a ``Task`` or the ``EvoLinkError`` it raised). It owns every
decision (finished? failed? how long to sleep? deadline passed?) and never does I/O, so the two
drivers in ``_client.py`` and ``_async_client.py`` are a few lines each, and the tests run it with
a fake clock.

The schedule's decisions (how long to sleep, from the task's own readings) live in
``_schedule.py``; this module feeds them the readings and keeps the deadline.
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
from ._schedule import Evidence, PollSchedule, Reading
from ._task import Task

# PollSchedule is re-exported: the clients and the package import it from here.
__all__ = [
    "Poll",
    "PollSchedule",
    "Sleep",
    "drive",
    "drive_async",
    "is_transient",
    "outcome",
    "wait_flow",
]

logger = logging.getLogger("evolink_images")

LAST_POLL_RESERVE = 1.0
"""Seconds before the deadline at which ``wait`` makes its last poll, so that the request ends in time."""


@dataclass(frozen=True)
class Sleep:
    """Step: sleep this many seconds, then send None."""

    seconds: float


@dataclass(frozen=True)
class Poll:
    """Step: read the task, then send the ``Task`` or the ``EvoLinkError`` raised."""


Step = Sleep | Poll
Flow = Generator[Step, Task | EvoLinkError | None, Task]


def is_transient(error: EvoLinkError) -> bool:
    """True for poll failures that must not end a wait: connection errors, 429, 5xx, garbled bodies.

    A body that is the task's own but unusable (``unusable_task``) is not garbled in transit: polling
    again gives the same answer, so it ends the wait at once, naming the task.
    """
    if isinstance(error, APIResponseError):
        return not error.unusable_task
    if isinstance(error, APIConnectionError):
        return True
    return isinstance(error, APIStatusError) and (error.status_code == 429 or error.status_code >= 500)


def outcome(task: Task) -> Task:
    """Return a completed task; raise for a failed or cancelled one."""
    if task.status == "failed":
        raise TaskFailedError(task)
    if task.status == "cancelled":
        raise TaskCancelledError(task)
    return task


def _shown(value: str, limit: int = 100) -> str:
    """A value the server chose, as a log line quotes it: cut, so that a huge one is not logged whole."""
    return value if len(value) <= limit else f"{value[:limit]}... ({len(value) - limit} more characters)"


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
    evidence = Evidence(started=start if created_at is None else created_at)
    if last is not None:
        evidence.estimate = last.estimated_time
        evidence.add(Reading(evidence.started, last.status, last.progress))
    # The last poll is made this long before the deadline, so that its request ends in time.
    reserve = min(LAST_POLL_RESERVE, schedule.min_interval, timeout / 10)
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
            yield Sleep(min(schedule.next_delay(evidence, now), room))
        need_poll_now = False
        asked = clock()
        evidence.polls += 1
        result = yield Poll()
        if isinstance(result, Task):
            if _changed(last, result) and on_update is not None:
                on_update(result)
            last = result
            # The reading is dated halfway through its request: the server read the task in between.
            evidence.add(Reading((asked + clock()) / 2, result.status, result.progress))
            logger.debug("poll of task %s: %s %d%%", task_id, _shown(result.status), result.progress)
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
