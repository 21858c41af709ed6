"""The two drivers of a batch: tasks under anyio, asyncio or trio alike (``AsyncClient``), and threads (``Client``).

Both run a fixed set of workers (as many as the concurrency ceiling): each takes the next item from
the feed, drives its flow (``_batch.item_flow``) to the end, and takes the next. Whatever an item
raises becomes its result; its slot is always given back; a released slot wakes one waiter.

Stopping (Ctrl-C, a journal that cannot be written, an ``on_result`` that raised, an input that
raised): nothing new is submitted from that moment (a worker checks before the ``submitting`` record
that precedes each POST, again once that record is durable, taking it back to ``pending`` if the
batch stopped meanwhile, and before each wait); submits already on the wire get a second to record
their task; every wait is abandoned within that second (async: cancelled and awaited, the submits
shielded until then; threads: left behind, their journal writes refused, their waits ended at
their next sleep by ``SyncIO.stop``, so none polls on after ``run_many`` returned). The
journal then holds exactly what is known, and every item the run started and did not finish is
still reported (``on_result``), in the state the journal holds for it, so counts add up.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel

from ._batch import (
    Acquire,
    AdaptiveLimit,
    BatchProgress,
    BatchResult,
    BatchSettings,
    ItemFlow,
    Outcome,
    Pause,
    Record,
    Release,
    Save,
    Step,
    Submit,
    UncertainSubmitError,
    Wait,
    as_item_error,
    item_flow,
)
from ._batch_feed import Feed, Item
from ._errors import EvoLinkError
from ._file_host import UploadedFile
from ._journal import Journal, JournalError, JournalWarning, warn
from ._requests import ImageEditRequest
from ._task import Task
from ._upload_cache import UploadCache

__all__ = ["AsyncIO", "BatchStoppedError", "SyncIO", "run_async", "run_threads", "stoppable_sleep"]

GRACE = 1.0
"""Seconds a stopping batch gives submits on the wire to record their task, and waits to end."""


@dataclass(frozen=True)
class SyncIO:
    """The blocking calls a batch makes (``Client``'s own ``submit``, ``wait``, ``download``).

    ``stop`` is set when the batch stops: a ``wait`` that sleeps through ``stoppable_sleep(..., stop)``
    then ends at once, so a thread the batch left behind does not poll on until its timeout.
    """

    submit: Callable[[ImageEditRequest, str], Task]
    wait: Callable[[Task | str], Task]
    download: Callable[[Task, Path], list[Path]]
    sleep: Callable[[float], None]
    stop: threading.Event = field(default_factory=threading.Event)
    uploads: UploadCache | None = None
    """The run's own layer of the client's uploads, which the journal (if any) feeds and records."""


class BatchStoppedError(EvoLinkError):
    """Raised in a wait the stopped batch left behind on its thread: the task goes on; a re-run waits on it."""


def stoppable_sleep(sleep: Callable[[float], None], stop: threading.Event) -> Callable[[float], None]:
    """``sleep``, but ended (``BatchStoppedError``) once ``stop`` is set.

    At once for ``time.sleep``; after the nap for a caller's own (simulated) sleep.
    """

    def nap(seconds: float) -> None:
        if sleep is time.sleep:
            stop.wait(max(0.0, seconds))
        else:
            sleep(seconds)
        if stop.is_set():
            raise BatchStoppedError("the batch stopped; the task goes on, and a re-run waits on it")

    return nap


@dataclass(frozen=True)
class AsyncIO:
    """The awaitable calls a batch makes (``AsyncClient``'s own ``submit``, ``wait``, ``download``)."""

    submit: Callable[[ImageEditRequest, str], Awaitable[Task]]
    wait: Callable[[Task | str], Awaitable[Task]]
    download: Callable[[Task, Path], Awaitable[list[Path]]]
    sleep: Callable[[float], Awaitable[None]]
    uploads: UploadCache | None = None
    """See ``SyncIO.uploads``."""


def journal_uploads(journal: Journal | None, uploads: UploadCache | None) -> None:
    """Let the run's uploads start from those the journal recorded, and record each new one there."""
    if journal is None or uploads is None:
        return
    known = [UploadedFile.from_record(sha256, record) for sha256, record in journal.uploads.items()]

    def record(uploaded: UploadedFile) -> None:
        if uploaded.sha256 is not None:
            journal.write_upload(uploaded.sha256, **uploaded.to_record())

    uploads.attach([upload for upload in known if upload is not None], record)


def sync_files(paths: Iterable[Path]) -> None:
    """Make saved results durable before the ``saved`` record says they are."""
    folders = set()
    for path in paths:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        folders.add(path.parent)
    for folder in folders:
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


class _Run:
    """What the workers of one run share, whichever the driver."""

    def __init__(
        self,
        requests: Iterable[ImageEditRequest],
        settings: BatchSettings,
        journal: str | os.PathLike[str] | None,
        on_result: Callable[[BatchResult, BatchProgress], object] | None,
        collect: bool,
    ) -> None:
        # Opened first: a locked or damaged journal refuses the batch before anything is sent.
        self.journal = Journal(journal) if journal is not None else None
        self.settings = settings
        try:
            self.feed = Feed(requests, named=self.journal is not None)
        except BaseException:  # a list checked whole may fail (or be interrupted): the lock goes with it
            if self.journal is not None:
                self.journal.close()
            raise
        self.on_result = on_result
        self.collect = collect
        self.results: list[BatchResult] = []
        self.counts: Counter[str] = Counter()
        self.stopping = False
        self.fatal: BaseException | None = None
        self.on_halt: Callable[[], None] = lambda: None
        self.active: dict[int, tuple[Item, str]] = {}
        """The items being driven, with their journal state: what a stop reports for them."""

    @property
    def limit(self) -> AdaptiveLimit:
        return self.settings.limit

    def next_item(self) -> Item | None:
        """The next item for a worker, or None. An input that raised stops the batch (and is raised)."""
        item = self.feed.next()
        if item is None and self.feed.source_error is not None:
            self.halt(self.feed.source_error)
        return item

    def start(self, item: Item) -> tuple[ItemFlow, str]:
        """The item's flow, and its state as the journal has it."""
        try:
            record = self.journal.record(item.identity) if self.journal is not None and item.error is None else None
        except JournalError as error:  # its index failed: stop; nothing was sent for this item in this run
            self.halt(error)
            return _ended(self.stopped(item, "pending", error)), "pending"
        state = str(record["state"]) if record else "pending"
        self.active[item.index] = (item, state)
        return item_flow(item, record, self.settings), state

    def moved(self, item: Item, state: str) -> None:
        """The item's record for ``state`` was accepted by the journal."""
        self.active[item.index] = (item, state)

    def ended(self, result: BatchResult) -> BatchResult:
        """The item's driver returned its result."""
        self.active.pop(result.index, None)
        return result

    def abandon(self) -> list[BatchResult]:
        """The results of the items a stopped run leaves behind (cancelled, or still on their threads)."""
        left = [self.stopped(item, state) for item, state in list(self.active.values())]
        self.active.clear()
        return left

    def submit_withdrawn(self, item: Item, step: Record) -> BatchResult | None:
        """After a durable ``submitting`` record: if the batch stopped meanwhile, take it back; no POST.

        The record went to disk before the POST it guards, so a stop that came while it was being
        written would leave an item that was never sent looking uncertain. ``pending`` puts it right
        (if that record is lost, the item stays uncertain: the safe side).
        """
        if not (self.stopping and step.state == "submitting"):
            return None
        with contextlib.suppress(JournalError):
            self.write(item, Record("pending", step.fields))
        return self.stopped(item, "pending")

    def write(self, item: Item, step: Record) -> Future[None] | None:
        """Queue the item's new state (None without a journal)."""
        if self.journal is None:
            return None
        return self.journal.write(item.identity, step.state, index=item.index, **step.fields)

    def halt(self, error: BaseException | None) -> None:
        """Stop the batch: nothing more is sent; ``error`` (if any) is raised once everything stopped."""
        if error is not None and self.fatal is None:
            self.fatal = error
        self.stopping = True
        self.on_halt()

    def stopped(self, item: Item, state: str, error: EvoLinkError | None = None) -> BatchResult:
        """The result of an item the batch stopped following."""
        error = error or EvoLinkError(f"item {item.index}: the batch stopped first; re-run to go on")
        outcome: Outcome = "uncertain" if state == "submitting" else "unfinished"
        return BatchResult(item.index, item.request, error=error, outcome=outcome, state=state)

    def crashed(self, item: Item, state: str, error: BaseException) -> BatchResult:
        """The result of an item whose flow raised (a defect, but it must not take the batch with it)."""
        if state == "submitting":
            uncertain = UncertainSubmitError(f"item {item.index}: {type(error).__name__}: {error}", task_may_exist=True)
            uncertain.__cause__ = error
            return BatchResult(item.index, item.request, error=uncertain, outcome="uncertain", state=state)
        failure = as_item_error(error, item.index)
        return BatchResult(item.index, item.request, error=failure, outcome="unfinished", state=state)

    def deliver(self, result: BatchResult) -> None:
        """Count a result, keep it if asked, and pass it on."""
        self.counts[result.outcome] += 1
        if self.collect:
            self.results.append(result)
        if self.on_result is not None:
            progress = BatchProgress(
                self.feed.read,
                self.counts["done"],
                self.counts["failed"],
                self.limit.in_flight,
                self.limit.limit,
                self.counts["uncertain"],
                self.counts["unfinished"],
            )
            try:
                self.on_result(result, progress)
            except Exception as error:  # the caller's callback: stop, and raise it once stopped
                self.halt(error)

    def finish(self) -> list[BatchResult]:
        """Report unmatched journal entries, close the journal, raise what stopped the batch."""
        for result in self.abandon():
            self.deliver(result)
        try:
            if self.journal is not None and self.feed.exhausted and not self.stopping:
                _warn_unmatched(self.journal)
        finally:
            self.close()
        if self.journal is not None and self.fatal is None:
            self.fatal = self.journal.failure()  # a record written while its item went on, refused
        if self.feed.source_error is not None:
            raise self.feed.source_error
        if self.fatal is not None:
            raise self.fatal
        self.results.sort(key=lambda result: result.index)
        return self.results

    def close(self) -> None:
        if self.journal is not None:
            self.journal.close()


def _ended(result: BatchResult) -> ItemFlow:
    """A flow of no step, for an item whose result is known before it starts."""
    yield from ()
    return result


def _warn_unmatched(journal: Journal) -> None:
    states: Counter[str] = Counter()
    paid: list[str] = []
    keys: list[str] = []
    for _, record in journal.unmatched():
        states[record["state"]] += 1
        if record.get("task_id") or isinstance(record.get("task"), dict):
            paid.append(str(record.get("task_id") or record["task"].get("id")))
        elif record["state"] == "submitting":
            keys.append(str(record.get("idempotency_key")))
    if not states:
        return
    summary = ", ".join(f"{count} {state}" for state, count in sorted(states.items()))
    details = ""
    if paid:
        details += f"; their tasks: {', '.join(paid[:10])}{' ...' if len(paid) > 10 else ''}"
    if keys:
        details += f"; submits that may have made a task, idempotency keys: {', '.join(keys[:10])}"
    warn(
        JournalWarning(
            f"{journal.path}: {sum(states.values())} entries match no item of this input ({summary}){details}."
            f" The journal was made for: {journal.made_for}. They are kept, untouched"
        )
    )


class _ThreadSlots:
    """The concurrency slots for threads: one waiter woken per slot given back."""

    def __init__(self, run: _Run) -> None:
        self._run = run
        self._condition = threading.Condition()

    def acquire(self) -> bool:
        limit = self._run.limit
        with self._condition:
            self._condition.wait_for(lambda: limit.has_room() or self._run.stopping)
            if self._run.stopping:
                return False
            limit.take()
            return True

    def release(self) -> None:
        with self._condition:
            self._run.limit.give_back()
            self._condition.notify()

    def poke(self) -> None:
        """The limit may have grown: let one waiter look."""
        with self._condition:
            self._condition.notify()

    def wake_all(self) -> None:
        with self._condition:
            self._condition.notify_all()


class _AsyncSlots:
    """The concurrency slots for async runs: one waiter woken per slot given back."""

    def __init__(self, run: _Run) -> None:
        self._run = run
        self._waiters: deque[anyio.Event] = deque()

    async def acquire(self) -> bool:
        limit = self._run.limit
        while not (limit.has_room() or self._run.stopping):
            waiter = anyio.Event()
            self._waiters.append(waiter)
            try:
                await waiter.wait()
            except BaseException:
                if waiter.is_set():
                    self.poke()  # woken, then cancelled before taking the slot: wake the next one
                else:
                    self._waiters.remove(waiter)
                raise
        if self._run.stopping:
            return False
        limit.take()
        return True

    def release(self) -> None:
        self._run.limit.give_back()
        self.poke()

    def poke(self) -> None:
        if self._waiters:
            self._waiters.popleft().set()

    def wake_all(self) -> None:
        while self._waiters:
            self.poke()


def _soon_from_any_thread() -> Callable[[Callable[[], object]], object]:
    """How another thread schedules a call on this event loop without waiting for it (asyncio or trio)."""
    try:
        import trio

        return trio.lowlevel.current_trio_token().run_sync_soon
    except (ImportError, RuntimeError):  # not installed, or not running under trio
        import asyncio

        return asyncio.get_running_loop().call_soon_threadsafe


async def _durable(written: Future[Any]) -> None:
    """Wait, without blocking the event loop, until the journal's writer thread has made a record durable."""
    if not written.done():
        done = anyio.Event()
        soon = _soon_from_any_thread()
        written.add_done_callback(lambda _: soon(done.set))
        await done.wait()
    written.result()


def _call(io: SyncIO, step: Submit | Wait | Save) -> Any:
    if isinstance(step, Submit):
        return io.submit(step.request, step.idempotency_key)
    if isinstance(step, Wait):
        return io.wait(step.task)
    paths = io.download(step.task, step.folder)
    sync_files(paths)
    return paths


def _drive(run: _Run, slots: _ThreadSlots, io: SyncIO, item: Item) -> BatchResult:
    """Drive one item's flow with blocking calls."""
    flow, state = run.start(item)
    holding = False
    try:
        step: Step = next(flow)
        while True:
            sent: Any = None
            if isinstance(step, Acquire):
                if not slots.acquire():
                    return run.stopped(item, state)
                holding = True
            elif isinstance(step, Release):
                holding = False
                slots.release()
            elif isinstance(step, Record):
                if run.stopping and step.state == "submitting":
                    return run.stopped(item, state)
                written = run.write(item, step)
                try:
                    if written is not None and (step.durable or written.done()):
                        written.result()
                except JournalError as error:
                    run.halt(error)
                    return run.stopped(item, state, error)
                if (withdrawn := run.submit_withdrawn(item, step)) is not None:
                    return withdrawn
                state = step.state
                run.moved(item, state)
                if state == "submitted":
                    slots.poke()
            elif isinstance(step, Pause):
                io.sleep(step.seconds)
            elif isinstance(step, Wait) and run.stopping:
                return run.stopped(item, state)
            else:
                try:
                    sent = _call(io, step)
                except Exception as error:
                    sent = error
            step = flow.send(sent)
    except StopIteration as stop:
        result: BatchResult = stop.value
        return result
    except Exception as error:
        return run.crashed(item, state, error)
    finally:
        if holding:
            slots.release()


def run_threads(
    requests: Iterable[ImageEditRequest],
    settings: BatchSettings,
    io: SyncIO,
    *,
    journal: str | os.PathLike[str] | None,
    on_result: Callable[[BatchResult, BatchProgress], object] | None,
    collect: bool = True,
) -> list[BatchResult]:
    """Run a batch on threads; ``on_result`` is called on the calling thread, one result at a time."""
    run = _Run(requests, settings, journal, on_result, collect)
    run.on_halt = io.stop.set
    journal_uploads(run.journal, io.uploads)
    slots = _ThreadSlots(run)
    # Bounded: workers wait for a slow on_result rather than pile results up in memory.
    outbox: queue.Queue[BatchResult | None] = queue.Queue(maxsize=settings.limit.ceiling)

    def worker() -> None:
        # The item leaves ``active`` only when the calling thread takes its result: a stop that comes
        # while the result waits in the queue still reports the item.
        try:
            while not run.stopping and (item := run.next_item()) is not None:
                outbox.put(_drive(run, slots, io, item))
        except Exception as error:  # the journal could not read an item's record: stop, and raise it
            run.halt(error)
        finally:
            outbox.put(None)

    # Daemon threads: a stopped batch leaves its waits behind rather than hang the process on them.
    workers = [
        threading.Thread(target=worker, name="evolink-batch", daemon=True) for _ in range(settings.limit.ceiling)
    ]
    try:
        for thread in workers:
            thread.start()
        live = len(workers)
        while live and run.fatal is None:
            try:
                # A timed wait: a blocked one might not see Ctrl-C until the next result arrives.
                result = outbox.get(timeout=0.25)
            except queue.Empty:
                continue
            if result is None:
                live -= 1
            else:
                run.deliver(run.ended(result))
    except BaseException:  # Ctrl-C: stop at once, report every item started, then let it through
        taken = _stop_threads(run, slots, workers, outbox)
        try:
            for result in taken:
                run.deliver(run.ended(result))
            _drain(run, outbox)
            for result in run.abandon():
                run.deliver(result)
        finally:
            run.close()
        raise
    if live:
        for result in _stop_threads(run, slots, workers, outbox):
            run.deliver(run.ended(result))
        _drain(run, outbox)
    return run.finish()


def _drain(run: _Run, outbox: queue.Queue[BatchResult | None]) -> None:
    """Deliver the results the workers queued and the main thread has not taken yet."""
    while True:
        try:
            result = outbox.get_nowait()
        except queue.Empty:
            return
        if result is not None:
            run.deliver(run.ended(result))


def _stop_threads(
    run: _Run, slots: _ThreadSlots, workers: list[threading.Thread], outbox: queue.Queue[BatchResult | None]
) -> list[BatchResult]:
    """Stop the workers; give them GRACE seconds to end; return the results they queued meanwhile.

    The queue is emptied while they end, so none of them stays blocked on a full one until the grace is
    over; a worker never started (Ctrl-C while they were being started) is not waited for.
    """
    run.halt(None)
    slots.wake_all()
    deadline = time.monotonic() + GRACE
    taken: list[BatchResult] = []
    with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C cuts the grace short, nothing more
        while any(thread.is_alive() for thread in workers) and (left := deadline - time.monotonic()) > 0:
            with contextlib.suppress(queue.Empty):
                if (result := outbox.get(timeout=min(left, 0.05))) is not None:
                    taken.append(result)
    return taken


class _Cut:
    """A submit cut off by a stopping batch after its grace second: the item stays ``submitting``."""


async def _call_async(io: AsyncIO, step: Submit | Wait | Save, submitting: set[anyio.CancelScope]) -> Any:
    if isinstance(step, Submit):
        # Shielded: a stopping batch cancels everything else at once, but gives a submit on the wire
        # GRACE seconds (its scope's deadline, set then) to come back with its task.
        with anyio.CancelScope(shield=True) as scope:
            submitting.add(scope)
            try:
                return await io.submit(step.request, step.idempotency_key)
            finally:
                submitting.discard(scope)
        return _Cut()
    if isinstance(step, Wait):
        return await io.wait(step.task)
    paths = await io.download(step.task, step.folder)
    await anyio.to_thread.run_sync(sync_files, paths)
    return paths


async def _drive_async(
    run: _Run, slots: _AsyncSlots, io: AsyncIO, item: Item, submitting: set[anyio.CancelScope]
) -> BatchResult:
    """Drive one item's flow with awaitable calls."""
    flow, state = run.start(item)
    holding = False
    try:
        step: Step = next(flow)
        while True:
            sent: Any = None
            if isinstance(step, Acquire):
                if not await slots.acquire():
                    return run.stopped(item, state)
                holding = True
            elif isinstance(step, Release):
                holding = False
                slots.release()
            elif isinstance(step, Record):
                if run.stopping and step.state == "submitting":
                    return run.stopped(item, state)
                written = run.write(item, step)
                try:
                    if written is not None and step.durable:
                        # Shielded: the record reaches the disk whether or not this task is cancelled,
                        # so it waits for it, then looks whether the batch stopped meanwhile.
                        with anyio.CancelScope(shield=True):
                            await _durable(written)
                    elif written is not None and written.done():
                        written.result()
                except JournalError as error:
                    run.halt(error)
                    return run.stopped(item, state, error)
                if (withdrawn := run.submit_withdrawn(item, step)) is not None:
                    return withdrawn
                state = step.state
                run.moved(item, state)
                if state == "submitted":
                    slots.poke()
            elif isinstance(step, Pause):
                await io.sleep(step.seconds)
            elif isinstance(step, Wait) and run.stopping:
                return run.stopped(item, state)
            else:
                try:
                    sent = await _call_async(io, step, submitting)
                except Exception as error:
                    sent = error
                if isinstance(sent, _Cut):
                    return run.stopped(item, state)
            step = flow.send(sent)
    except StopIteration as stop:
        result: BatchResult = stop.value
        return result
    except Exception as error:
        return run.crashed(item, state, error)
    finally:
        if holding:
            slots.release()


async def run_async(
    requests: Iterable[ImageEditRequest],
    settings: BatchSettings,
    io: AsyncIO,
    *,
    journal: str | os.PathLike[str] | None,
    on_result: Callable[[BatchResult, BatchProgress], object] | None,
    collect: bool = True,
) -> list[BatchResult]:
    """Run a batch (asyncio or trio); cancels and awaits every task it started before it returns or raises."""
    run = _Run(requests, settings, journal, on_result, collect)
    journal_uploads(run.journal, io.uploads)
    slots = _AsyncSlots(run)
    halted = anyio.Event()
    run.on_halt = halted.set
    submitting: set[anyio.CancelScope] = set()
    live = settings.limit.ceiling

    async def worker() -> None:
        nonlocal live
        try:
            while not run.stopping and (item := run.next_item()) is not None:
                run.deliver(run.ended(await _drive_async(run, slots, io, item, submitting)))
        except Exception as error:  # the feed itself failed (an input line changed since it was checked)
            run.halt(error)
        finally:
            live -= 1
            if not live:
                halted.set()

    try:
        async with anyio.create_task_group() as workers:
            for _ in range(settings.limit.ceiling):
                workers.start_soon(worker)
            try:
                await halted.wait()  # every worker ended, or the batch was halted
            finally:  # halted, or cancelled (Ctrl-C): stop what still runs, submits after their grace
                if live:
                    _stop_tasks(run, slots, submitting)
                    workers.cancel_scope.cancel()
    except BaseException:  # Ctrl-C, a cancelled caller: report every item started, then let it through
        with anyio.CancelScope(shield=True):
            try:
                for result in run.abandon():
                    run.deliver(result)
            finally:
                await anyio.to_thread.run_sync(run.close)
        raise
    for result in run.abandon():  # here, not in finish's thread: on_result runs on the caller's thread
        run.deliver(result)
    return await anyio.to_thread.run_sync(run.finish)


def _stop_tasks(run: _Run, slots: _AsyncSlots, submitting: set[anyio.CancelScope]) -> None:
    run.halt(None)
    slots.wake_all()
    deadline = anyio.current_time() + GRACE
    for scope in submitting:
        scope.deadline = deadline
