"""Many tasks at once: bounded, adaptive concurrency, one result or error per item, a resumable journal.

Each item follows ``item_flow``, a generator that owns every decision (skip, resume, submit, back
off, wait) and yields steps for a driver to carry out: ``run_async`` (asyncio, for ``AsyncClient``)
and ``run_threads`` (threads, for ``Client``) only supply the I/O and the slots.

Concurrency is the number of tasks in flight (submitted, not yet ended). It starts at the ceiling
the caller chose; a 429 on submit halves it (the request created no task, so it is simply sent
again after the back-off), once per congestion event (the 429s that arrive before the next
success count as one), and every ``limit`` successful submits raise it by one again (AIMD).

The journal (JSON lines, flushed and fsynced) makes a batch resumable without double billing: an
item already ended is skipped; an item already submitted is waited on, not submitted again; an item
interrupted between "submitting" and "submitted" might exist, so it is reported, never re-sent.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass, field

from ._errors import APIConnectionError, APIError, APIStatusError, EvoLinkError, RateLimitError
from ._journal import Journal, item_key
from ._requests import ImageEditRequest
from ._retry import RetryPolicy, parse_retry_after
from ._task import Task

__all__ = [
    "AdaptiveLimit",
    "BatchProgress",
    "BatchResult",
    "BatchSettings",
    "Journal",
    "UncertainSubmitError",
    "item_flow",
    "run_async",
    "run_threads",
]


@dataclass(frozen=True)
class BatchResult:
    """How one item of a batch ended: its task (completed), or the error that ended it."""

    index: int
    request: ImageEditRequest
    task: Task | None = None
    error: EvoLinkError | None = None
    resumed: bool = False
    """True when the result comes from a journal of an earlier run (nothing was sent for it)."""

    @property
    def ok(self) -> bool:
        """True when the item's task completed."""
        return self.error is None and self.task is not None and self.task.is_completed


@dataclass(frozen=True)
class BatchProgress:
    """Counts for a progress display."""

    total: int
    done: int
    failed: int
    in_flight: int
    concurrency: int


@dataclass
class AdaptiveLimit:
    """Additive increase, multiplicative decrease of the number of tasks in flight."""

    ceiling: int
    limit: int = 0
    in_flight: int = 0
    _successes: int = 0
    _cooling: bool = False

    def __post_init__(self) -> None:
        if self.ceiling < 1:
            raise ValueError("concurrency must be at least 1")
        self.limit = self.limit or self.ceiling

    def has_room(self) -> bool:
        """True while fewer tasks are in flight than the limit allows."""
        return self.in_flight < self.limit

    def take(self) -> None:
        """A slot is taken (only after ``has_room``)."""
        self.in_flight += 1

    def give_back(self) -> None:
        """A slot is free again."""
        self.in_flight -= 1

    def rate_limited(self) -> None:
        """A 429: halve the limit, once per congestion event (the 429s before the next success)."""
        if self._cooling:
            return
        self.limit = max(1, self.limit // 2)
        self._successes = 0
        self._cooling = True

    def succeeded(self) -> None:
        """A submit went through: after ``limit`` of them, allow one more in flight."""
        self._cooling = False
        self._successes += 1
        if self._successes >= self.limit and self.limit < self.ceiling:
            self.limit += 1
            self._successes = 0


@dataclass(frozen=True)
class Acquire:
    """Step: wait for a free slot (send None)."""


@dataclass(frozen=True)
class Release:
    """Step: give the slot back (send None)."""


@dataclass(frozen=True)
class Submit:
    """Step: submit (send the Task, or the EvoLinkError raised)."""

    request: ImageEditRequest
    idempotency_key: str


@dataclass(frozen=True)
class Wait:
    """Step: wait for the task (send the Task, or the EvoLinkError raised)."""

    task: Task | str


@dataclass(frozen=True)
class Pause:
    """Step: sleep this long (send None)."""

    seconds: float


Step = Acquire | Release | Submit | Wait | Pause
ItemFlow = Generator[Step, Task | EvoLinkError | None, BatchResult]


@dataclass
class BatchSettings:
    """What every item of one batch shares: the concurrency limit, the journal, the back-off."""

    limit: AdaptiveLimit
    journal: Journal
    policy: RetryPolicy = field(default_factory=RetryPolicy)

    @classmethod
    def create(cls, concurrency: int, journal: str | os.PathLike[str] | None) -> BatchSettings:
        """Settings for a batch of at most ``concurrency`` tasks in flight."""
        return cls(AdaptiveLimit(concurrency), Journal(journal))


MAX_SUBMIT_ATTEMPTS = 8
"""How many times one item's submit is sent again after answers that prove no task was created."""


def _no_task_created(outcome: APIError) -> bool:
    """A 429, a 503, or a connection never made: the submit created nothing and may be sent again."""
    if isinstance(outcome, APIStatusError):
        return outcome.status_code in {429, 503}
    return isinstance(outcome, APIConnectionError) and not outcome.task_may_exist


class UncertainSubmitError(APIError):
    """Raised for an item whose submit was interrupted: a task may exist, so it is not sent again."""


def item_flow(index: int, request: ImageEditRequest, shared: BatchSettings) -> ItemFlow:
    """Everything one item does, as steps for a driver."""
    key = item_key(index, request)
    record = shared.journal.state(key)
    if record["state"] == "done":
        task = Task.from_dict(record["task"]) if record.get("task") else None
        error = EvoLinkError(record["error"], task_id=record.get("task_id")) if record.get("error") else None
        return BatchResult(index, request, task, error, resumed=True)
    if record["state"] == "submitting":
        message = f"item {index} was being submitted when an earlier run stopped; a task may exist"
        return BatchResult(index, request, error=UncertainSubmitError(message, task_may_exist=True), resumed=True)
    yield Acquire()
    task_or_id: Task | str
    if record["state"] == "submitted":
        task_or_id = record["task_id"]
    else:
        attempt = 0
        while True:
            shared.journal.write(key, "submitting")
            outcome = yield Submit(request, f"evolink-batch-{key}")
            if isinstance(outcome, APIError) and _no_task_created(outcome) and attempt < MAX_SUBMIT_ATTEMPTS:
                shared.journal.write(key, "new")
                if isinstance(outcome, RateLimitError):
                    shared.limit.rate_limited()
                response = getattr(outcome, "response", None)
                retry_after = parse_retry_after(response.headers.get("retry-after"), 0.0) if response else None
                yield Release()
                yield Pause(shared.policy.delay(attempt, retry_after))
                attempt += 1
                yield Acquire()
                continue
            if isinstance(outcome, EvoLinkError) or outcome is None:
                return (yield from _finish(key, index, request, shared, None, outcome))
            shared.limit.succeeded()
            shared.journal.write(key, "submitted", task_id=outcome.id)
            task_or_id = outcome
            break
    outcome = yield Wait(task_or_id)
    task = outcome if isinstance(outcome, Task) else None
    error = outcome if isinstance(outcome, EvoLinkError) else None
    return (yield from _finish(key, index, request, shared, task, error))


def _finish(
    key: str,
    index: int,
    request: ImageEditRequest,
    shared: BatchSettings,
    task: Task | None,
    error: EvoLinkError | None,
) -> ItemFlow:
    task_id = task.id if task else (error.task_id if error else None)
    shared.journal.write(
        key, "done", task_id=task_id, task=dict(task.raw) if task else None, error=str(error) if error else None
    )
    yield Release()
    return BatchResult(index, request, task, error)


def _progress(limit: AdaptiveLimit, total: int, results: Sequence[BatchResult]) -> BatchProgress:
    failed = sum(1 for result in results if not result.ok)
    return BatchProgress(total, len(results) - failed, failed, limit.in_flight, limit.limit)


async def run_async(
    requests: Sequence[ImageEditRequest],
    shared: BatchSettings,
    submit: Callable[[ImageEditRequest, str], Awaitable[Task]],
    wait: Callable[[Task | str], Awaitable[Task]],
    sleep: Callable[[float], Awaitable[None]],
    on_result: Callable[[BatchResult, BatchProgress], object] | None,
) -> list[BatchResult]:
    """Drive every item's flow with asyncio; return the results in the items' order."""
    condition = asyncio.Condition()
    results: list[BatchResult] = []

    async def drive(index: int, request: ImageEditRequest) -> BatchResult:
        flow = item_flow(index, request, shared)
        sent: Task | EvoLinkError | None = None
        try:
            while True:
                step = flow.send(sent)
                sent = None
                if isinstance(step, Acquire):
                    async with condition:
                        await condition.wait_for(shared.limit.has_room)
                        shared.limit.take()
                elif isinstance(step, Release):
                    async with condition:
                        shared.limit.give_back()
                        condition.notify_all()
                elif isinstance(step, Pause):
                    await sleep(step.seconds)
                else:
                    try:
                        sent = await (
                            submit(step.request, step.idempotency_key) if isinstance(step, Submit) else wait(step.task)
                        )
                    except EvoLinkError as error:
                        sent = error
        except StopIteration as stop:
            result: BatchResult = stop.value
            results.append(result)
            if on_result is not None:
                on_result(result, _progress(shared.limit, len(requests), results))
            return result

    return list(await asyncio.gather(*(drive(index, request) for index, request in enumerate(requests))))


def run_threads(
    requests: Sequence[ImageEditRequest],
    shared: BatchSettings,
    submit: Callable[[ImageEditRequest, str], Task],
    wait: Callable[[Task | str], Task],
    sleep: Callable[[float], None],
    on_result: Callable[[BatchResult, BatchProgress], object] | None,
) -> list[BatchResult]:
    """Drive every item's flow on threads (one per slot at most); return the results in order."""
    condition = threading.Condition()
    results: list[BatchResult] = []

    def drive(index: int, request: ImageEditRequest) -> BatchResult:
        flow = item_flow(index, request, shared)
        sent: Task | EvoLinkError | None = None
        try:
            while True:
                step = flow.send(sent)
                sent = None
                if isinstance(step, Acquire):
                    with condition:
                        condition.wait_for(shared.limit.has_room)
                        shared.limit.take()
                elif isinstance(step, Release):
                    with condition:
                        shared.limit.give_back()
                        condition.notify_all()
                elif isinstance(step, Pause):
                    sleep(step.seconds)
                else:
                    try:
                        sent = (
                            submit(step.request, step.idempotency_key) if isinstance(step, Submit) else wait(step.task)
                        )
                    except EvoLinkError as error:
                        sent = error
        except StopIteration as stop:
            result: BatchResult = stop.value
            with condition:
                results.append(result)
                progress = _progress(shared.limit, len(requests), results)
            if on_result is not None:
                on_result(result, progress)
            return result

    from concurrent.futures import ThreadPoolExecutor  # only sync batches need it: not at import time

    with ThreadPoolExecutor(max_workers=shared.limit.ceiling, thread_name_prefix="evolink-batch") as pool:
        return list(pool.map(drive, range(len(requests)), requests))
