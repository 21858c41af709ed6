"""Many tasks at once: one journaled state machine per item, adaptive concurrency, one result per item.

Each item follows ``item_flow``, a generator that owns every decision (skip, resume, submit, back
off, wait, save) and yields steps for a driver to carry out (``_batch_run.py``: asyncio for
``AsyncClient``, threads for ``Client``). Before each step that spends money or moves results, the
flow yields a ``Record`` of the state it is about to leave the item in; the driver makes it durable
before going on. The states and what a re-run does with each (see ``_journal.py``):

=============  ==============================================  =====================================
state          meaning                                          a re-run
=============  ==============================================  =====================================
pending        no task exists (never sent, or refused in a      sends it
               way that proves none was created: 401, 402,
               403, 429, 503, a connection never made)
submitting     a POST was on its way (key recorded)             reports it as uncertain; sends it
                                                                again, same key, only if asked
submitted      the task exists (task id)                        waits on it
finished       the task ended (or the API refused it: 400)      downloads a completed task's results
saved          the results are on disk (paths)                  nothing
=============  ==============================================  =====================================

Final: ``saved``; ``finished`` for a failed or cancelled task, a 400, or a completed task when no
results are to be saved. A wait that timed out leaves the item ``submitted``; a failed download
leaves it ``finished``.

Concurrency is the number of tasks in flight. It starts at the ceiling the caller chose; a 429 on
submit halves it, once per congestion event (the 429s before the next success count as one), and
never leaves it above the number of other tasks the batch holds at that moment (the account had
no room for one more); every ``limit`` successful submits raise it by one again (AIMD).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ._batch_feed import Item
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    BadRequestError,
    EvoLinkError,
    RateLimitError,
    RequestValidationError,
    TaskCancelledError,
    TaskFailedError,
    UploadError,
)
from ._requests import ImageEditRequest
from ._retry import RetryPolicy, parse_retry_after
from ._task import Task

__all__ = [
    "AdaptiveLimit",
    "BatchProgress",
    "BatchResult",
    "BatchSettings",
    "Outcome",
    "UncertainSubmitError",
    "item_flow",
]

Outcome = Literal["done", "failed", "uncertain", "unfinished"]


@dataclass(frozen=True)
class BatchResult:
    """How one item of a batch ended this run.

    ``outcome`` is ``done`` (completed, and saved when a folder was given), ``failed`` (the task
    failed or was cancelled, or the request was refused as invalid: sending it again fails again),
    ``uncertain`` (a submit was interrupted: a task may exist) or ``unfinished`` (a re-run goes
    on from ``state``: sends it, waits on it, or downloads its results).
    """

    index: int
    request: ImageEditRequest
    task: Task | None = None
    error: EvoLinkError | None = None
    resumed: bool = False
    """True when the item's task comes from the journal of an earlier run (nothing was sent for it)."""
    outcome: Outcome = "done"
    state: str = "finished"
    """The item's journal state now (``pending``, ``submitting``, ``submitted``, ``finished``, ``saved``)."""
    files: tuple[Path, ...] = ()
    """Where its results were saved (with a results folder)."""
    idempotency_key: str | None = None

    @property
    def ok(self) -> bool:
        """True when the item is done: its task completed (and its results are saved, if asked)."""
        return self.outcome == "done"


@dataclass(frozen=True)
class BatchProgress:
    """Counts for a progress display; ``total`` counts the items read so far (all of a list)."""

    total: int
    done: int
    failed: int
    in_flight: int
    concurrency: int
    uncertain: int = 0
    unfinished: int = 0


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
        """A 429 on a submit that holds a slot: the account has no room for one more task than we hold.

        The limit is halved once per congestion event (the 429s before the next success), and never
        left above the other tasks this batch holds: while they run, a limit above them only sends
        submits that the API refuses again (each one an attempt the item may run out of).
        """
        if not self._cooling:
            self.limit = max(1, self.limit // 2)
            self._successes = 0
            self._cooling = True
        if self.in_flight > 0:  # the refused submit holds one of them
            self.limit = min(self.limit, max(1, self.in_flight - 1))

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
class Record:
    """Step: record the item's new state in the journal (send None).

    With ``durable``, the item goes on only once the record is on disk: the record that precedes a
    POST. The others (outcomes) are written and fsynced in the same order, grouped with later
    records, while the item goes on: if one is lost in a crash, the journal still holds the state
    before it, from which a re-run does only what costs nothing (wait, download) or reports the item
    uncertain. If one cannot be written, the journal refuses every later record, so the batch stops
    before its next POST.
    """

    state: str
    fields: Mapping[str, Any]
    durable: bool = False


@dataclass(frozen=True)
class Submit:
    """Step: submit (send the Task, or the exception raised)."""

    request: ImageEditRequest
    idempotency_key: str


@dataclass(frozen=True)
class Wait:
    """Step: wait for the task (send the Task, or the exception raised)."""

    task: Task | str


@dataclass(frozen=True)
class Save:
    """Step: download the results into ``folder`` (send the list of paths, or the exception raised)."""

    task: Task
    folder: Path


@dataclass(frozen=True)
class Pause:
    """Step: sleep this long (send None)."""

    seconds: float


Step = Acquire | Release | Record | Submit | Wait | Save | Pause
ItemFlow = Generator[Step, Any, BatchResult]


@dataclass
class BatchSettings:
    """What every item of one batch shares: the limit, the back-off, where results go, the opt-ins."""

    limit: AdaptiveLimit
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    save_to: Path | None = None
    resend_uncertain: bool = False
    wall_clock: Callable[[], float] = time.time
    """Unix time, for ``Retry-After`` given as an HTTP date."""


MAX_SUBMIT_ATTEMPTS = 8
"""How many times one item's submit is sent again after a 429 or a 503 (the API asked for a pause).

A connection that was never made is tried again only as often as the client retries any call
(``RetryPolicy.max_retries``): an unreachable API is not congestion, and patience with it would
cost every item of a large batch half a minute before the run could say so.
"""


class UncertainSubmitError(APIError):
    """An item's submit was interrupted or failed after sending: a task may exist, so it is not sent again."""


def new_batch_key() -> str:
    """A random ``Idempotency-Key`` for one item, stored in the journal and reused only for that item."""
    return f"evolink-batch-{secrets.token_hex(16)}"


def _no_task_created(error: BaseException) -> bool:
    """True when the answer proves no task exists: nothing was sent, or the API refused (4xx, 503).

    A failed upload of a local image comes before the POST: no task exists, whatever the file host did.
    """
    if isinstance(error, RequestValidationError | UploadError):
        return True
    if isinstance(error, APIStatusError):
        return error.status_code < 500 or error.status_code == 503
    return isinstance(error, APIConnectionError) and not error.task_may_exist


def _worth_resending(error: BaseException) -> bool:
    """A 429, a 503 or a connection never made: the same submit may go through after a pause.

    An upload that may have been stored is not sent again in this run (it would use another quota slot).
    """
    if isinstance(error, UploadError):
        return not error.may_be_stored and error.status_code in {429, 503}
    if isinstance(error, APIStatusError):
        return error.status_code in {429, 503}
    return isinstance(error, APIConnectionError)


def as_item_error(error: BaseException, index: int, task_id: str | None = None) -> EvoLinkError:
    """The error that becomes an item's result: the package's own, or any other wrapped in one."""
    if isinstance(error, EvoLinkError):
        return error
    wrapped = EvoLinkError(f"item {index}: unexpected {type(error).__name__}: {error}", task_id=task_id)
    wrapped.__cause__ = error
    return wrapped


def _task(record: Mapping[str, Any]) -> Task | None:
    body = record.get("task")
    return Task.from_dict(body) if isinstance(body, dict) else None


def item_flow(item: Item, record: Mapping[str, Any] | None, shared: BatchSettings) -> ItemFlow:
    """Everything one item does, from its journal record (None if new), as steps for a driver."""
    result = _Results(item)
    if item.error is not None:
        return result.make("failed", "pending", error=item.error)
    record = record or {"state": "pending"}
    state = record["state"]
    key = record.get("idempotency_key")
    result.key = key if isinstance(key, str) else None
    if state == "saved":
        files = tuple(Path(path) for path in record.get("files", ()))
        if all(path.exists() for path in files):
            return result.make("done", "saved", task=_task(record), files=files, resumed=True)
        state = "finished"  # a result file went missing since: download it again
    if state == "finished":
        task = _task(record)
        if task is None:  # the API refused the request as invalid: sending it again fails again
            refusal = record.get("error") or "the API refused the request"
            error = EvoLinkError(f"{refusal} (in an earlier run; sending it again would fail again)")
            return result.make("failed", "finished", error=error, resumed=True)
        result.resumed = True
        return (yield from _conclude(task, shared, result))
    if state == "submitting" and not shared.resend_uncertain:
        message = (
            f"item {item.index} was being submitted (idempotency key {result.key}) when an earlier run stopped:"
            " a task may exist, so it was not sent again. Check your recent tasks; to send it again with the"
            " same key, re-run with resend_uncertain=True (--resend-uncertain)"
        )
        error = UncertainSubmitError(message, task_may_exist=True)
        return result.make("uncertain", "submitting", error=error, resumed=True)
    yield Acquire()
    first: Task | str
    if state == "submitted":  # nothing is sent: the task of an earlier run is waited on
        first = _task(record) or str(record.get("task_id"))
        result.resumed = True
    else:
        submitted = yield from _submit(item, shared, result)
        if isinstance(submitted, BatchResult):
            yield Release()
            return submitted
        first = submitted
    ended = yield Wait(first)
    yield Release()  # the task has ended, or this run stopped following it
    if isinstance(ended, Task):
        task = ended
    elif isinstance(ended, TaskFailedError | TaskCancelledError):
        task = ended.task
    else:  # a timeout, a poll that failed for good, anything: the task goes on, a re-run waits on it
        task_id = first.id if isinstance(first, Task) else first
        return result.make("unfinished", "submitted", error=as_item_error(ended, item.index, task_id))
    yield Record("finished", {"task": dict(task.raw)})
    return (yield from _conclude(task, shared, result))


def _submit(item: Item, shared: BatchSettings, result: _Results) -> Generator[Step, Any, Task | BatchResult]:
    """Submit until a task exists, the answer proves none will, or a task may exist."""
    key = result.key = result.key or new_batch_key()
    attempt = 0
    while True:
        yield Record("submitting", {"idempotency_key": key}, durable=True)
        outcome = yield Submit(item.request, key)
        if isinstance(outcome, Task):
            shared.limit.succeeded()
            yield Record("submitted", {"task_id": outcome.id, "task": dict(outcome.raw)})
            return outcome
        if not _no_task_created(outcome):
            error = UncertainSubmitError(
                f"the submit of item {item.index} (idempotency key {key}) failed after it was sent: {outcome}",
                task_may_exist=True,
            )
            error.__cause__ = outcome
            return result.make("uncertain", "submitting", error=error)
        if isinstance(outcome, BadRequestError | RequestValidationError):
            yield Record("finished", {"error": str(outcome)})
            return result.make("failed", "finished", error=as_item_error(outcome, item.index))
        yield Record("pending", {"idempotency_key": key, "error": str(outcome)})
        patience = MAX_SUBMIT_ATTEMPTS if isinstance(outcome, APIStatusError) else shared.policy.max_retries
        if not _worth_resending(outcome) or attempt >= patience:
            return result.make("unfinished", "pending", error=as_item_error(outcome, item.index))
        if isinstance(outcome, RateLimitError):
            shared.limit.rate_limited()
        response = getattr(outcome, "response", None)
        header = response.headers.get("retry-after") if response is not None else None
        yield Release()
        yield Pause(shared.policy.delay(attempt, parse_retry_after(header, shared.wall_clock())))
        attempt += 1
        yield Acquire()


def _conclude(task: Task, shared: BatchSettings, result: _Results) -> ItemFlow:
    """A finished task: a failure is final; a completed task's results are saved when asked."""
    if task.status == "failed":
        return result.make("failed", "finished", task=task, error=TaskFailedError(task))
    if task.status == "cancelled":
        return result.make("failed", "finished", task=task, error=TaskCancelledError(task))
    if shared.save_to is None:
        return result.make("done", "finished", task=task)
    saved = yield Save(task, shared.save_to)
    if isinstance(saved, BaseException):  # the task stays finished: a re-run downloads what is missing
        return result.make("unfinished", "finished", task=task, error=as_item_error(saved, result.item.index, task.id))
    files = tuple(Path(path) for path in saved)
    yield Record("saved", {"task": dict(task.raw), "files": [str(path) for path in files]})
    return result.make("done", "saved", task=task, files=files)


@dataclass
class _Results:
    """Builds an item's result; remembers what the flow learnt on the way (its key, a resume)."""

    item: Item
    key: str | None = None
    resumed: bool = False

    def make(
        self,
        outcome: Outcome,
        state: str,
        *,
        task: Task | None = None,
        error: EvoLinkError | None = None,
        files: tuple[Path, ...] = (),
        resumed: bool = False,
    ) -> BatchResult:
        return BatchResult(
            self.item.index,
            self.item.request,
            task,
            error,
            resumed or self.resumed,
            outcome,
            state,
            files,
            self.key,
        )
