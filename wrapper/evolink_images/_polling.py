"""Waiting for a task: pure decisions, and one flow that the sync and async clients both drive.

``wait_flow`` is a generator in the style of httpx's auth flows: it yields ``Sleep`` and ``Poll``
steps and receives each poll's outcome (a ``Task`` or the ``EvoLinkError`` it raised). It owns every
decision (finished? failed? how long to sleep? deadline passed?) and never does I/O, so the two
drivers in ``_client.py`` and ``_async_client.py`` are a few lines each, and the tests run it with
a fake clock.

The schedule (``PollSchedule``) decides from the task's own readings (``Evidence``):

- Queue time is not work: the work clock starts when the task is last seen ``pending``.
- The expected end comes from the progress *rate* between readings whose progress differs, never
  from the creation time. A rate is extrapolated at most as far ahead as the work already seen.
- While that rate puts the end far, it sleeps half the time left; near it, down to
  ``min_interval``; past it (a stall), the sleep grows back to ``max_interval``.
- Without a rate, ``estimated_time`` only says how soon the task cannot be done (three tenths of
  it): sleeps of up to 1.5 ``max_interval`` until then, ``max_interval`` after. Nothing says the
  end is at the estimate rather than around it, and when nothing is known a fixed interval is the
  best plan there is.
- So no sleep exceeds 1.5 ``max_interval`` (9 s by default, the lag one is willing to pay) unless
  a measured rate says the end is further away than that.

``benchmarks/polling.py`` measures it against every fixed interval on task models that break
each of these assumptions in turn (queueing, stalls, steps, biased estimates, latency, 429s).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field

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

__all__ = [
    "Evidence",
    "Poll",
    "PollSchedule",
    "Reading",
    "Sleep",
    "drive",
    "drive_async",
    "is_transient",
    "outcome",
    "wait_flow",
]

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
class Reading:
    """One poll's answer: when it came back (``clock`` seconds), the status and the progress."""

    at: float
    status: str
    progress: int


@dataclass
class Evidence:
    """What the flow knows about one task: its estimate and its own history of readings.

    Built by ``wait_flow`` (``add`` for each successful poll) and read by ``PollSchedule``. Only the
    task's own readings count; nothing here assumes how fast tasks go in general.
    """

    started: float
    """The ``clock`` value at which the wait started (or the task was created, when known)."""
    estimate: float | None = None
    """The create response's ``estimated_time``, if any."""
    work_from: float | None = None
    """The earliest the work may have started (the last ``pending`` reading); None while queued."""
    changes: list[Reading] = field(default_factory=list)
    """The first reading of each new progress value while working (the evidence of a rate)."""
    pending_at: float | None = None
    """When the task was last seen ``pending``."""
    polls: int = 0
    """Polls made so far, failed ones included."""

    def add(self, reading: Reading) -> None:
        """Record a reading. Queue time is not work: the work clock starts when ``pending`` ends."""
        if reading.status == "pending":
            self.pending_at = reading.at
        elif self.work_from is None:
            self.work_from = self.started if self.pending_at is None else self.pending_at
            self.changes.append(reading)
        elif reading.progress != self.changes[-1].progress:
            self.changes.append(reading)


@dataclass(frozen=True)
class PollSchedule:
    """How long to sleep between polls, decided from the task's own readings (seconds).

    Args:
        min_interval: the shortest sleep.
        max_interval: the longest sleep while the end is near, past or unknown: about the worst lag.
        far_fraction: while a progress rate puts the end far, sleep this fraction of the time left.
        max_far_interval: the longest sleep ever; default ``12 * max_interval``.
        estimate_trust: without a progress rate, the task is taken to need at least this fraction of
            its ``estimated_time`` of work: until then sleeps are up to ``max_blind_interval``, after
            it ``max_interval``.
        rate_horizon: a rate seen over ``w`` seconds of work is extrapolated at most
            ``rate_horizon * w`` ahead in one sleep (progress may speed up).
        overdue_growth: past the expected end, the sleep is ``min_interval`` plus this fraction of
            the time overdue (up to ``max_interval``).
        resolution: less time than this before an expected end counts as having reached it.
        default_estimate: the ``estimated_time`` to assume for a task that brought none.
        max_blind_interval: the longest sleep that no progress rate backs (an estimate alone, or a
            queued task); default ``1.5 * max_interval``. It bounds the lag whatever the estimate says.
    """

    min_interval: float = 1.5
    max_interval: float = 6.0
    far_fraction: float = 0.5
    max_far_interval: float | None = None
    estimate_trust: float = 0.3
    rate_horizon: float = 1.0
    overdue_growth: float = 1.0
    resolution: float = 0.05
    default_estimate: float | None = None
    max_blind_interval: float | None = None

    @property
    def blind_cap(self) -> float:
        """The longest sleep that no progress rate backs."""
        return 1.5 * self.max_interval if self.max_blind_interval is None else self.max_blind_interval

    def estimate(self, evidence: Evidence) -> float | None:
        """The task's own ``estimated_time``, else ``default_estimate``."""
        return self.default_estimate if evidence.estimate is None else evidence.estimate

    @property
    def far_cap(self) -> float:
        """The longest sleep ever."""
        return 12 * self.max_interval if self.max_far_interval is None else self.max_far_interval

    def rate(self, evidence: Evidence) -> float | None:
        """Return the progress rate (percent per second) that readings which differ imply, or None.

        The faster of the last step's rate and the rate over all steps: progress that speeds up is
        seen at once, and a rate that slows down errs towards polling sooner. Each value is dated by
        its first reading, so the unknown moment of each change biases both ends alike.
        """
        changes = evidence.changes
        if len(changes) < 2:
            return None
        first, before, last = changes[0], changes[-2], changes[-1]
        rates = [(b.progress - a.progress) / (b.at - a.at) for a, b in ((first, last), (before, last)) if b.at > a.at]
        positive = [rate for rate in rates if rate > 0]
        return max(positive) if positive else None

    def expected_end(self, evidence: Evidence) -> float | None:
        """Return the ``clock`` value at which the task should end: from progress, else the estimate."""
        rate = self.rate(evidence)
        if rate is not None:
            last = evidence.changes[-1]
            return last.at + (100 - last.progress) / rate
        estimate = self.estimate(evidence)
        if evidence.work_from is not None and estimate is not None:
            return evidence.work_from + estimate
        return None

    def next_delay(self, evidence: Evidence, now: float) -> float:
        """Return the sleep before the next poll, ``now`` being the ``clock`` value."""
        return float(min(max(self._delay(evidence, now), self.min_interval), self.far_cap))

    def _delay(self, evidence: Evidence, now: float) -> float:
        estimate = self.estimate(evidence)
        if evidence.work_from is None:
            # Queued: however long the queue, the work itself is still to come.
            return min(self.estimate_trust * estimate, self.blind_cap) if estimate else self.max_interval
        worked = now - evidence.work_from
        end = self.expected_end(evidence)
        if self.rate(evidence) is not None and end is not None:
            left = end - now
            if left <= self.resolution:
                return self._overdue(-left)
            far = self.far_fraction * left
            return far if far <= self.max_interval else min(far, max(self.rate_horizon * worked, self.max_interval))
        if estimate:
            before_any_end = self.estimate_trust * estimate - worked
            if before_any_end > self.resolution:
                return min(before_any_end, self.blind_cap)
            # Nothing says the end is at the estimate rather than anywhere around it: poll evenly
            # (a burst at the estimate, or a back-off after it, measured worse on the benchmark).
            return self.max_interval
        return self._overdue(worked)

    def _overdue(self, overdue: float) -> float:
        return min(self.min_interval + self.overdue_growth * overdue, self.max_interval)


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
    evidence = Evidence(started=start if created_at is None else created_at)
    if last is not None:
        evidence.estimate = last.estimated_time
        evidence.add(Reading(evidence.started, last.status, last.progress))
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
