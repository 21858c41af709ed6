"""The batch drivers' flow: slots, stops, grace, journal records and results, for threads and tasks alike.

Most tests go through ``Client.run_many`` / ``AsyncClient.run_many`` (the fake API), or ``run_threads`` /
``run_async`` with a hand-made ``SyncIO`` / ``AsyncIO`` whose calls the test blocks and releases with
events. A few drive one item (``_drive``, ``_drive_async``) or the slots directly, where the moment a
stop must land (as a slot is taken, while a record is being written) cannot be reached from outside.
Every wait is bounded: a hang fails the test instead of blocking the suite.
"""

from __future__ import annotations

import _thread
import asyncio
import contextlib
import datetime
import errno
import gc
import hashlib
import io
import json
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx
import pytest
from PIL import Image

from evolink_images import (
    AsyncClient,
    BatchProgress,
    BatchResult,
    Client,
    QwenImageEdit,
    UncertainSubmitError,
    WanImageToImage,
)
from evolink_images._batch import AdaptiveLimit, BatchSettings
from evolink_images._batch_feed import Item, item_identity
from evolink_images._batch_run import (
    GRACE,
    AsyncIO,
    BatchStoppedError,
    SyncIO,
    _AsyncSlots,
    _drive,
    _drive_async,
    _Run,
    _stop_tasks,
    _ThreadSlots,
    run_async,
    run_threads,
)
from evolink_images._file_host import UploadedFile
from evolink_images._journal import Journal, JournalError
from evolink_images._retry import RetryPolicy
from evolink_images._task import Task
from evolink_images._upload_cache import UploadCache
from evolink_images.testing.fake import FakeClock, FakeEvoLink, TaskPlan

REQUESTS = [WanImageToImage(f"flow {i}", ["https://example.com/a.png"]) for i in range(40)]
INVALID = QwenImageEdit("", ["https://example.com/a.png"])  # refused before anything is sent
FAR = datetime.datetime(2999, 1, 1, tzinfo=datetime.UTC)
T = TypeVar("T")


# --- helpers -------------------------------------------------------------------------------------------------


def pending_task(number: int = 1) -> Task:
    return Task.from_dict({"id": f"task-unified-{number}-abc", "status": "pending"})


def completed_task(task: Task | str) -> Task:
    task_id = task.id if isinstance(task, Task) else task
    return Task.from_dict({"id": task_id, "status": "completed", "results": ["https://files.example/r.png"]})


def settings(limit: AdaptiveLimit) -> BatchSettings:
    return BatchSettings(limit=limit, policy=RetryPolicy(jitter=lambda: 1.0), wall_clock=lambda: 1_700_000_000.0)


def journal_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


def states(path: Path) -> list[str]:
    return [record["state"] for record in journal_records(path) if "item" in record]


def bounded(call: Callable[[], T], seconds: float = 15.0) -> T:
    """``call()`` on a thread of its own: a hang (even an endless loop on an event loop) fails, not blocks."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as error:  # handed back to the test's own thread
            box["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never came"
        time.sleep(0.005)


def batch_threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name == "evolink-batch"}


def assert_none_left_behind(before: set[threading.Thread], seconds: float = 1.0) -> None:
    """Every thread the batch started has ended (given ``seconds`` to put its last result away)."""
    for thread in batch_threads() - before:
        thread.join(seconds)
    assert not [thread for thread in batch_threads() - before if thread.is_alive()]


def unused(*args: Any) -> Any:
    raise AssertionError("not expected to be called")


async def unused_async(*args: Any) -> Any:
    raise AssertionError("not expected to be called")


def sync_io(
    submit: Callable[[Any, str], Any],
    wait: Callable[[Any], Any] = completed_task,
    stop: threading.Event | None = None,
    uploads: UploadCache | None = None,
) -> SyncIO:
    return SyncIO(
        submit=submit,
        wait=wait,
        download=unused,
        sleep=lambda seconds: None,
        stop=stop or threading.Event(),
        uploads=uploads,
    )


def async_io(
    submit: Callable[[Any, str], Awaitable[Any]],
    wait: Callable[[Any], Awaitable[Any]] | None = None,
    uploads: UploadCache | None = None,
) -> AsyncIO:
    async def done(task: Any) -> Task:
        return completed_task(task)

    async def no_sleep(seconds: float) -> None:
        return None

    return AsyncIO(submit=submit, wait=wait or done, download=unused_async, sleep=no_sleep, uploads=uploads)


class Watched(AdaptiveLimit):
    """An ``AdaptiveLimit`` that notes the threads it refused a slot, and may call a hook as a slot is taken."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.refused: set[int] = set()
        self.refusals = 0
        self.on_take: Callable[[], None] = lambda: None
        self.grows = True

    def has_room(self) -> bool:
        room = super().has_room()
        if not room:
            self.refused.add(threading.get_ident())
            self.refusals += 1
        return room

    def take(self) -> None:
        super().take()
        self.on_take()

    def succeeded(self) -> None:
        if self.grows:
            super().succeeded()


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def thread_errors(monkeypatch: pytest.MonkeyPatch) -> list[BaseException]:
    """What any thread raised and did not handle (a worker that died instead of reporting its item)."""
    errors: list[BaseException] = []

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            errors.append(args.exc_value)

    monkeypatch.setattr(threading, "excepthook", hook)
    return errors


def client_run_many(kind: str, fake: FakeEvoLink, requests: Any, **options: Any) -> list[BatchResult]:
    if kind == "sync":
        with fake.client() as client:
            return client.run_many(requests, **options)

    async def main() -> list[BatchResult]:
        async with fake.async_client() as client:
            return await client.run_many(requests, **options)

    return asyncio.run(main())


def hook_writes(monkeypatch: pytest.MonkeyPatch, hook: Callable[[bytes], None]) -> None:
    """Call ``hook`` with each buffer before it is written with ``os.write`` (the journal's writer uses it)."""
    real_write = os.write

    def write(descriptor: int, data: Any) -> int:
        hook(bytes(data))
        return real_write(descriptor, data)

    monkeypatch.setattr(os, "write", write)


# --- threads: named, daemon -------------------------------------------------------------------------------------


def test_a_sync_batch_runs_its_calls_on_daemon_threads_named_for_the_batch() -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    seen: list[tuple[str, bool]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        thread = threading.current_thread()
        seen.append((thread.name, thread.daemon))
        return fake.handler(request)

    clock = fake.clock
    assert isinstance(clock, FakeClock)
    transport = httpx.MockTransport(handle)
    with Client(fake.api_key, base_url=fake.base_url, transport=transport, clock=clock, sleep=clock.sleep) as client:
        results = client.run_many(REQUESTS[:3], concurrency=2)
    assert all(result.ok for result in results)
    assert seen
    assert set(seen) == {("evolink-batch", True)}


# --- results kept by default -----------------------------------------------------------------------------------


def test_run_threads_keeps_every_result_unless_told_not_to() -> None:
    results = run_threads(
        REQUESTS[:3],
        settings(AdaptiveLimit(2)),
        sync_io(lambda request, key: pending_task()),
        journal=None,
        on_result=None,
    )
    assert [(result.index, result.outcome) for result in results] == [(0, "done"), (1, "done"), (2, "done")]


def test_run_async_keeps_every_result_unless_told_not_to() -> None:
    async def submit(request: Any, key: str) -> Task:
        return pending_task()

    async def main() -> list[BatchResult]:
        return await run_async(REQUESTS[:3], settings(AdaptiveLimit(2)), async_io(submit), journal=None, on_result=None)

    results = bounded(lambda: anyio.run(main))
    assert [(result.index, result.outcome) for result in results] == [(0, "done"), (1, "done"), (2, "done")]


# --- slots: never taken without being given back, never given back without being taken ------------------------


def test_items_that_never_hold_a_slot_give_none_back(kind: str) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    seen: list[BatchProgress] = []
    results = client_run_many(kind, fake, [INVALID, INVALID], concurrency=1, on_result=lambda r, p: seen.append(p))
    assert [result.outcome for result in results] == ["failed", "failed"]
    assert [progress.in_flight for progress in seen] == [0, 0]
    assert fake.posts() == 0


def crashing_submit_results(kind: str, limit: AdaptiveLimit) -> tuple[list[BatchResult], list[BatchProgress]]:
    """One item whose flow raises while it holds its slot: its submit answered with something not a task."""
    seen: list[BatchProgress] = []

    def on_result(result: BatchResult, progress: BatchProgress) -> None:
        seen.append(progress)

    if kind == "sync":
        io_ = sync_io(lambda request, key: "not a task")
        return run_threads(REQUESTS[:1], settings(limit), io_, journal=None, on_result=on_result), seen

    async def submit(request: Any, key: str) -> Any:
        return "not a task"

    async def main() -> list[BatchResult]:
        return await run_async(REQUESTS[:1], settings(limit), async_io(submit), journal=None, on_result=on_result)

    return bounded(lambda: anyio.run(main)), seen


def test_an_item_whose_flow_raises_while_holding_a_slot_is_uncertain_and_gives_its_slot_back(
    kind: str, thread_errors: list[BaseException]
) -> None:
    limit = AdaptiveLimit(1)
    [result], [progress] = crashing_submit_results(kind, limit)
    assert (result.outcome, result.state) == ("uncertain", "submitting")  # sent: a task may exist
    assert isinstance(result.error, UncertainSubmitError)
    assert isinstance(result.error.__cause__, TypeError)
    assert progress.in_flight == 0
    assert limit.in_flight == 0
    assert thread_errors == []


# --- the thread slots ------------------------------------------------------------------------------------------


def test_thread_slots_refuse_a_slot_once_the_batch_stopped_and_take_none() -> None:
    run = _Run([], settings(AdaptiveLimit(2)), None, None, True)
    slots = _ThreadSlots(run)
    run.halt(None)
    assert slots.acquire() is False
    assert run.limit.in_flight == 0


def test_async_slots_refuse_a_slot_once_the_batch_stopped_and_take_none() -> None:
    run = _Run([], settings(AdaptiveLimit(2)), None, None, True)
    slots = _AsyncSlots(run)
    run.halt(None)
    assert bounded(lambda: asyncio.run(slots.acquire())) is False
    assert run.limit.in_flight == 0


def test_a_thread_waiting_for_a_slot_takes_one_as_soon_as_the_limit_grows() -> None:
    limit = Watched(2, 1)
    run = _Run([], settings(limit), None, None, True)
    slots = _ThreadSlots(run)
    assert slots.acquire()
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(slots.acquire()), daemon=True)
    waiter.start()
    try:
        wait_until(lambda: limit.refusals >= 1)  # it waits: the one slot is held
        limit.limit = 2
        slots.poke()
        waiter.join(2)
        assert got == [True]
        assert limit.in_flight == 2
    finally:
        run.halt(None)
        slots.wake_all()
        waiter.join(2)


def test_every_thread_waiting_for_a_slot_is_woken_when_the_batch_stops() -> None:
    limit = Watched(1)
    run = _Run([], settings(limit), None, None, True)
    slots = _ThreadSlots(run)
    assert slots.acquire()
    got: list[bool] = []
    waiters = [threading.Thread(target=lambda: got.append(slots.acquire()), daemon=True) for _ in range(3)]
    for waiter in waiters:
        waiter.start()
    try:
        wait_until(lambda: len(limit.refused) == 3)
        run.halt(None)
        slots.wake_all()
        for waiter in waiters:
            waiter.join(2)
        assert got == [False, False, False]
        assert limit.in_flight == 1
    finally:
        for _ in waiters:
            slots.poke()
        for waiter in waiters:
            waiter.join(2)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_task_cancelled_while_waiting_for_a_slot_does_not_swallow_the_next_wake_up() -> None:
    async def main() -> bool:
        run = _Run([], settings(AdaptiveLimit(1)), None, None, True)
        slots = _AsyncSlots(run)
        assert await slots.acquire()
        gone = asyncio.create_task(slots.acquire())
        await settle()
        gone.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await gone
        waiting = asyncio.create_task(slots.acquire())
        await settle()
        slots.release()
        try:
            return await asyncio.wait_for(waiting, 2)
        finally:
            waiting.cancel()

    assert bounded(lambda: asyncio.run(main())) is True


def test_a_task_woken_for_a_slot_then_cancelled_passes_the_wake_up_on() -> None:
    async def main() -> bool:
        run = _Run([], settings(AdaptiveLimit(1)), None, None, True)
        slots = _AsyncSlots(run)
        assert await slots.acquire()
        first = asyncio.create_task(slots.acquire())
        second = asyncio.create_task(slots.acquire())
        await settle()
        slots.release()  # wakes the first ...
        first.cancel()  # ... which is cancelled before it takes the slot
        with pytest.raises(asyncio.CancelledError):
            await first
        try:
            return await asyncio.wait_for(second, 2)
        finally:
            second.cancel()

    assert bounded(lambda: asyncio.run(main())) is True


def test_every_task_waiting_for_a_slot_is_woken_when_the_batch_stops() -> None:
    async def main() -> list[bool]:
        run = _Run([], settings(AdaptiveLimit(1)), None, None, True)
        slots = _AsyncSlots(run)
        assert await slots.acquire()
        waiters = [asyncio.create_task(slots.acquire()) for _ in range(3)]
        await settle()
        run.halt(None)
        slots.wake_all()
        try:
            return list(await asyncio.wait_for(asyncio.gather(*waiters), 2))
        finally:
            for waiter in waiters:
                waiter.cancel()

    assert bounded(lambda: asyncio.run(main()), 10) == [False, False, False]


# --- a submit that went through lets a waiting item take the slot the limit just gained -----------------------


def test_a_grown_limit_lets_the_next_item_submit_while_the_first_waits(kind: str) -> None:
    limit = Watched(2, 1)  # one slot, two once a submit goes through
    posts: list[str] = []
    saw_both: list[bool] = []
    if kind == "sync":
        both = threading.Event()
        lock = threading.Lock()

        def submit(request: Any, key: str) -> Task:
            with lock:
                posts.append(key)
                count = len(posts)
            if count == 1:
                wait_until(lambda: limit.refusals >= 1)  # the other item waits for the one slot
            else:
                both.set()
            return pending_task(count)

        def wait(task: Any) -> Task:
            saw_both.append(both.wait(3))
            return completed_task(task)

        results = bounded(
            lambda: run_threads(REQUESTS[:2], settings(limit), sync_io(submit, wait), journal=None, on_result=None)
        )
    else:

        async def main() -> list[BatchResult]:
            both = anyio.Event()

            async def submit(request: Any, key: str) -> Task:
                posts.append(key)
                count = len(posts)
                if count == 1:
                    while limit.refusals < 1:  # the other item waits for the one slot
                        await anyio.sleep(0.005)
                else:
                    both.set()
                return pending_task(count)

            async def wait(task: Any) -> Task:
                with anyio.move_on_after(3):
                    await both.wait()
                saw_both.append(both.is_set())
                return completed_task(task)

            return await run_async(REQUESTS[:2], settings(limit), async_io(submit, wait), journal=None, on_result=None)

        results = bounded(lambda: anyio.run(main))
    assert [result.outcome for result in results] == ["done", "done"]
    assert len(posts) == 2
    assert saw_both == [True, True]  # the second POST came while the first task was waited on


# --- saved results are made durable before the saved record ---------------------------------------------------


def test_saved_results_are_fsynced(kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    opened: dict[int, str] = {}
    synced: list[str] = []
    real_open, real_fsync = os.open, os.fsync

    def spy_open(path: Any, flags: int, *args: Any) -> int:
        descriptor = real_open(path, flags, *args)
        opened[descriptor] = str(path)
        return descriptor

    def spy_fsync(descriptor: int) -> None:
        synced.append(opened.get(descriptor, ""))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "open", spy_open)
    monkeypatch.setattr(os, "fsync", spy_fsync)
    results = client_run_many(kind, fake, REQUESTS[:2], save_to=tmp_path / "out", concurrency=2)
    monkeypatch.undo()
    files = [path for result in results for path in result.files]
    assert len(files) == 2
    assert all(path.exists() for path in files)
    assert {str(path) for path in files} <= set(synced)
    assert str(tmp_path / "out") in synced


# --- the journal's uploads -------------------------------------------------------------------------------------


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 400), (10, 20, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def test_a_batch_records_its_uploads_in_the_journal_and_a_rerun_uses_them(kind: str, tmp_path: Path) -> None:
    fake = FakeEvoLink(clock=FakeClock(now=1000.0), plan=TaskPlan(duration=0))
    data = png()
    path = tmp_path / "batch.jsonl"
    [first] = client_run_many(kind, fake, [WanImageToImage("night", [data])], journal=path, timeout=30)
    assert first.outcome == "done"
    assert fake.file_host.uploads == 1
    [upload] = [record for record in journal_records(path) if "item" not in record]
    assert upload["upload"] == hashlib.sha256(data).hexdigest()
    again = client_run_many(
        kind, fake, [WanImageToImage("night", [data]), WanImageToImage("snow", [data])], journal=path, timeout=30
    )
    assert [result.outcome for result in again] == ["done", "done"]
    assert fake.file_host.uploads == 1  # a new client: only the journal knew the picture was sent


# --- one item driven directly: a stop that lands at a precise moment --------------------------------------------


ITEM = Item(0, REQUESTS[0], item_identity(REQUESTS[0], 1))


def drive_one(kind: str, run: _Run, calls: list[str]) -> BatchResult:
    """Drive ``ITEM`` with ``run``'s journal and limit; its POSTs and waits are counted in ``calls``."""
    if kind == "sync":

        def submit(request: Any, key: str) -> Task:
            calls.append("POST")
            return pending_task()

        def wait(task: Any) -> Task:
            calls.append("GET")
            return completed_task(task)

        return bounded(lambda: _drive(run, _ThreadSlots(run), sync_io(submit, wait), ITEM))

    async def submit_async(request: Any, key: str) -> Task:
        calls.append("POST")
        return pending_task()

    async def wait_async(task: Any) -> Task:
        calls.append("GET")
        return completed_task(task)

    async def main() -> BatchResult:
        return await _drive_async(run, _AsyncSlots(run), async_io(submit_async, wait_async), ITEM, set())

    return bounded(lambda: anyio.run(main))


def test_a_stop_that_comes_as_the_slot_is_taken_sends_and_records_nothing(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    limit = Watched(1)
    run = _Run([], settings(limit), path, None, True)
    limit.on_take = lambda: run.halt(None)
    calls: list[str] = []
    result = drive_one(kind, run, calls)
    run.close()
    assert (result.index, result.outcome, result.state) == (0, "unfinished", "pending")
    assert "the batch stopped first" in str(result.error)
    assert calls == []
    assert journal_records(path) == []
    assert limit.in_flight == 0


def test_a_stop_that_comes_as_a_resumed_tasks_slot_is_taken_leaves_it_submitted_unpolled(
    kind: str, tmp_path: Path
) -> None:
    path = tmp_path / "j.jsonl"
    task = {"id": "task-unified-7-abc", "status": "pending"}
    with Journal(path) as journal:
        journal.write(ITEM.identity, "submitted", index=0, task_id=task["id"], task=task).result(timeout=5)
    limit = Watched(1)
    run = _Run([], settings(limit), path, None, True)
    limit.on_take = lambda: run.halt(None)
    calls: list[str] = []
    result = drive_one(kind, run, calls)
    run.close()
    assert (result.outcome, result.state) == ("unfinished", "submitted")
    assert calls == []
    assert states(path) == ["submitted"]
    assert limit.in_flight == 0


def test_an_item_refused_a_slot_by_a_stopped_batch_is_reported_unfinished(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    run = _Run([], settings(AdaptiveLimit(1)), path, None, True)
    run.halt(None)
    calls: list[str] = []
    result = drive_one(kind, run, calls)
    run.close()
    assert (result.outcome, result.state) == ("unfinished", "pending")
    assert calls == []
    assert journal_records(path) == []


def test_a_stop_while_the_submitting_record_is_written_takes_it_back_and_sends_nothing(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j.jsonl"
    run = _Run([], settings(AdaptiveLimit(1)), path, None, True)

    def stop_on_submitting(data: bytes) -> None:
        if b'"state":"submitting"' in data:
            run.halt(None)

    hook_writes(monkeypatch, stop_on_submitting)
    calls: list[str] = []
    result = drive_one(kind, run, calls)
    run.close()
    monkeypatch.undo()
    assert (result.outcome, result.state) == ("unfinished", "pending")
    assert calls == []
    assert states(path) == ["submitting", "pending"]
    assert run.limit.in_flight == 0


def test_a_submit_still_on_the_wire_after_the_grace_is_cut_off_and_reported_uncertain() -> None:
    async def main() -> tuple[BatchResult, float]:
        run = _Run([], settings(AdaptiveLimit(1)), None, None, True)
        slots = _AsyncSlots(run)
        submitting: set[anyio.CancelScope] = set()
        posting = anyio.Event()

        async def submit(request: Any, key: str) -> Task:
            posting.set()
            await anyio.sleep(4)  # an answer that comes too late
            return pending_task()

        box: list[BatchResult] = []

        async def drive() -> None:
            box.append(await _drive_async(run, slots, async_io(submit), ITEM, submitting))

        async with anyio.create_task_group() as group:
            group.start_soon(drive)
            await posting.wait()
            started = time.monotonic()
            _stop_tasks(run, slots, submitting)
        return box[0], time.monotonic() - started

    result, took = bounded(lambda: anyio.run(main))
    assert took < GRACE + 1.5
    assert (result.outcome, result.state) == ("uncertain", "submitting")
    assert not isinstance(result.error, UncertainSubmitError)
    assert "the batch stopped first" in str(result.error)


# --- a journal that cannot record the submitting record stops the batch before any POST --------------------------


def test_a_submitting_record_the_disk_refuses_stops_the_batch_at_that_item_before_any_post(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full_on_submitting(data: bytes) -> None:
        if b'"state":"submitting"' in data:
            raise OSError(errno.ENOSPC, "No space left on device")

    hook_writes(monkeypatch, disk_full_on_submitting)
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    seen: list[BatchResult] = []
    path = tmp_path / "j.jsonl"
    with pytest.raises(JournalError, match="No space left on device") as raised:
        client_run_many(kind, fake, REQUESTS[:5], concurrency=1, journal=path, on_result=lambda r, p: seen.append(r))
    monkeypatch.undo()
    assert fake.posts() == 0
    [result] = seen  # the batch stopped at the first item: the others were never started
    assert (result.index, result.outcome, result.state) == (0, "unfinished", "pending")
    assert result.error is raised.value
    assert journal_records(path) == []


def test_the_submitting_record_is_on_disk_before_its_post_even_on_a_slow_disk(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def slow_disk(data: bytes) -> None:
        if b'"state":"submitting"' in data:
            time.sleep(0.2)

    hook_writes(monkeypatch, slow_disk)
    path = tmp_path / "j.jsonl"
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    at_post: list[list[str]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            at_post.append(states(path))
        return fake.handler(request)

    clock = fake.clock
    assert isinstance(clock, FakeClock)
    options: dict[str, Any] = {"base_url": fake.base_url, "transport": httpx.MockTransport(handle), "clock": clock}
    if kind == "sync":
        with Client(fake.api_key, sleep=clock.sleep, **options) as client:
            [result] = client.run_many(REQUESTS[:1], journal=path)
    else:

        async def main() -> list[BatchResult]:
            async with AsyncClient(fake.api_key, sleep=clock.async_sleep, **options) as client:
                return await client.run_many(REQUESTS[:1], journal=path)

        [result] = asyncio.run(main())
    assert result.ok
    assert at_post == [["submitting"]]


# --- a sync batch that stops: POSTs on the wire get their grace, waits left behind are reported -------------------


def test_a_sync_batch_stopped_by_its_input_gives_a_post_on_the_wire_its_grace(
    tmp_path: Path, thread_errors: list[BaseException]
) -> None:
    path = tmp_path / "j.jsonl"
    stop = threading.Event()
    posting = threading.Event()
    posts: list[str] = []
    waits: list[Any] = []

    def submit(request: Any, key: str) -> Task:
        posts.append(key)
        posting.set()
        assert stop.wait(5)  # the batch stops while this POST is on the wire ...
        time.sleep(0.3)  # ... and its answer comes well within the grace
        return pending_task()

    def wait(task: Any) -> Task:
        waits.append(task)
        return completed_task(task)

    def lines() -> Iterator[WanImageToImage]:
        yield REQUESTS[0]
        assert posting.wait(5)
        raise OSError("the disk went away")

    seen: list[BatchResult] = []
    before = batch_threads()
    started = time.monotonic()
    with pytest.raises(OSError, match="went away"):
        bounded(
            lambda: run_threads(
                lines(),
                settings(AdaptiveLimit(2)),
                sync_io(submit, wait, stop),
                journal=path,
                on_result=lambda r, p: seen.append(r),
            )
        )
    assert time.monotonic() - started < GRACE + 2
    assert [(result.index, result.outcome, result.state) for result in seen] == [(0, "unfinished", "submitted")]
    records = journal_records(path)
    assert [record["state"] for record in records] == ["submitting", "submitted"]
    assert records[1]["task_id"] == pending_task().id
    assert len(posts) == 1
    assert waits == []  # not polled: the batch had stopped
    assert_none_left_behind(before)
    assert thread_errors == []


def test_ctrl_c_in_on_result_gives_a_post_on_the_wire_its_grace_and_reports_it(
    tmp_path: Path, thread_errors: list[BaseException]
) -> None:
    path = tmp_path / "j.jsonl"
    stop = threading.Event()
    posting = threading.Event()

    def submit(request: Any, key: str) -> Task:
        posting.set()
        assert stop.wait(5)
        time.sleep(0.3)
        return pending_task()

    seen: list[BatchResult] = []

    def on_result(result: BatchResult, progress: BatchProgress) -> None:
        seen.append(result)
        if len(seen) == 1:
            assert posting.wait(5)
            raise KeyboardInterrupt

    before = batch_threads()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        bounded(
            lambda: run_threads(
                [INVALID, REQUESTS[1]],
                settings(AdaptiveLimit(2)),
                sync_io(submit, stop=stop),
                journal=path,
                on_result=on_result,
            )
        )
    assert time.monotonic() - started < GRACE + 2
    assert stop.is_set()
    assert [(result.index, result.outcome, result.state) for result in seen] == [
        (0, "failed", "pending"),
        (1, "unfinished", "submitted"),
    ]
    assert states(path) == ["submitting", "submitted"]
    assert_none_left_behind(before)
    assert thread_errors == []


def test_ctrl_c_reports_a_wait_left_behind_in_the_state_the_journal_holds(
    tmp_path: Path, thread_errors: list[BaseException]
) -> None:
    path = tmp_path / "j.jsonl"
    waiting = threading.Event()
    release = threading.Event()

    def wait(task: Any) -> Task:
        waiting.set()
        release.wait(5)  # a wait that does not end when the batch stops
        return completed_task(task)

    seen: list[BatchResult] = []

    def on_result(result: BatchResult, progress: BatchProgress) -> None:
        seen.append(result)
        if len(seen) == 1:
            assert waiting.wait(5)
            raise KeyboardInterrupt

    before = batch_threads()
    started = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            bounded(
                lambda: run_threads(
                    [INVALID, REQUESTS[1]],
                    settings(AdaptiveLimit(2)),
                    sync_io(lambda request, key: pending_task(), wait),
                    journal=path,
                    on_result=on_result,
                )
            )
        assert time.monotonic() - started < GRACE + 2
        assert [(result.index, result.outcome, result.state) for result in seen] == [
            (0, "failed", "pending"),
            (1, "unfinished", "submitted"),
        ]
        assert states(path) == ["submitting", "submitted"]
    finally:
        release.set()
    assert_none_left_behind(before, 2)
    assert states(path) == ["submitting", "submitted"]  # the thread left behind wrote nothing more
    Journal(path).close()  # and the lock was released
    assert thread_errors == []


def test_ctrl_c_wakes_every_thread_waiting_for_a_slot_and_leaves_none_behind(
    thread_errors: list[BaseException],
) -> None:
    # Six workers, three items, one slot: one item is waited on, two wait for the slot; the three idle
    # workers end at once (so the stopped items' results all fit the outbox).
    limit = Watched(6, 1)
    limit.grows = False
    stop = threading.Event()
    waiting = threading.Event()
    posts: list[str] = []

    def submit(request: Any, key: str) -> Task:
        posts.append(key)
        return pending_task()

    def wait(task: Any) -> Any:
        waiting.set()
        if stop.wait(5):  # ended by the stop, as Client's waits are
            return BatchStoppedError("the batch stopped")
        return completed_task(task)

    def interrupt() -> None:
        assert waiting.wait(5)
        wait_until(lambda: len(limit.refused) == 2)
        time.sleep(0.1)  # the main thread is past starting its workers, in its loop over their results
        _thread.interrupt_main()

    seen: list[BatchResult] = []
    before = batch_threads()
    threading.Thread(target=interrupt, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_threads(
            REQUESTS[1:4],
            settings(limit),
            sync_io(submit, wait, stop),
            journal=None,
            on_result=lambda r, p: seen.append(r),
        )
    assert time.monotonic() - started < GRACE + 2
    assert stop.is_set()
    assert_none_left_behind(before)
    assert len(posts) == 1
    assert sorted((result.index, result.outcome) for result in seen) == [
        (0, "unfinished"),
        (1, "unfinished"),
        (2, "unfinished"),
    ]
    assert sorted(result.state for result in seen) == ["pending", "pending", "submitted"]
    assert limit.in_flight == 0
    assert thread_errors == []


# --- an async batch that is cancelled: submits shielded for their grace, every item reported, the journal closed ---


def cancel_batch(
    path: Path,
    requests: list[Any],
    io_: AsyncIO,
    ready: Callable[[], Awaitable[None]],
    limit: AdaptiveLimit,
) -> tuple[list[BatchResult], float]:
    """The reports of a batch under an anyio cancel scope, cancelled once ``ready()`` returns; its end's delay."""
    seen: list[BatchResult] = []

    async def main() -> float:
        scope = anyio.CancelScope()
        ended = anyio.Event()

        async def batch() -> None:
            try:
                with scope:
                    await run_async(requests, settings(limit), io_, journal=path, on_result=lambda r, p: seen.append(r))
            finally:
                ended.set()

        async with anyio.create_task_group() as group:
            group.start_soon(batch)
            await ready()
            started = anyio.current_time()
            scope.cancel()
            await ended.wait()
            took = anyio.current_time() - started
        assert scope.cancelled_caught
        return took

    took = bounded(lambda: anyio.run(main))
    return seen, took


def test_a_cancelled_async_batch_gives_a_post_on_the_wire_its_grace_and_reports_every_item(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    posts: list[str] = []
    waiting = threading.Event()
    posting = threading.Event()

    async def submit(request: Any, key: str) -> Task:
        posts.append(key)
        if len(posts) == 2:
            posting.set()
            await anyio.sleep(0.3)  # the answer comes well within the grace
        return pending_task(len(posts))

    async def wait(task: Any) -> Task:
        waiting.set()
        await anyio.sleep(60)
        return completed_task(task)

    async def ready() -> None:
        while not (waiting.is_set() and posting.is_set()):
            await anyio.sleep(0.005)

    seen, took = cancel_batch(path, REQUESTS[:2], async_io(submit, wait), ready, AdaptiveLimit(2))
    assert took < GRACE + 1
    assert sorted((result.index, result.outcome, result.state) for result in seen) == [
        (0, "unfinished", "submitted"),
        (1, "unfinished", "submitted"),
    ]
    records = journal_records(path)
    assert sorted(record["state"] for record in records) == ["submitted", "submitted", "submitting", "submitting"]
    assert {record.get("task_id") for record in records} == {None, pending_task(1).id, pending_task(2).id}
    assert len(posts) == 2
    Journal(path).close()  # the cancelled batch closed its journal: the lock was released


def test_a_cancelled_async_batch_cuts_a_post_off_after_its_grace_and_reports_it_uncertain(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    posting = threading.Event()

    async def submit(request: Any, key: str) -> Task:
        posting.set()
        await anyio.sleep(4)  # an answer that comes too late
        return pending_task()

    async def ready() -> None:
        while not posting.is_set():
            await anyio.sleep(0.005)

    seen, took = cancel_batch(path, REQUESTS[:1], async_io(submit), ready, AdaptiveLimit(1))
    assert GRACE - 0.1 < took < GRACE + 1.5
    assert [(result.outcome, result.state) for result in seen] == [("uncertain", "submitting")]
    assert states(path) == ["submitting"]
    Journal(path).close()


def test_a_cancel_while_the_submitting_record_is_written_takes_it_back_and_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j.jsonl"
    writing = threading.Event()
    release = threading.Event()
    posts: list[str] = []

    def slow_disk(data: bytes) -> None:
        if b'"state":"submitting"' in data:
            writing.set()
            release.wait(5)

    async def submit(request: Any, key: str) -> Task:
        posts.append(key)
        return pending_task()

    async def ready() -> None:
        while not writing.is_set():
            await anyio.sleep(0.005)

    def release_soon() -> None:
        assert writing.wait(5)
        time.sleep(0.3)  # the cancel lands while the record is still being written
        release.set()

    hook_writes(monkeypatch, slow_disk)
    threading.Thread(target=release_soon, daemon=True).start()
    try:
        seen, took = cancel_batch(path, REQUESTS[:1], async_io(submit), ready, AdaptiveLimit(1))
    finally:
        release.set()
    monkeypatch.undo()
    assert took < GRACE + 1
    assert posts == []
    assert [(result.outcome, result.state) for result in seen] == [("unfinished", "pending")]
    assert states(path) == ["submitting", "pending"]  # a re-run sends it, knowing no task exists


# --- async: a journal that breaks while a POST is on the wire -------------------------------------------------------


def test_a_journal_that_broke_while_a_post_was_on_the_wire_stops_the_item_uncertain_without_polling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j.jsonl"
    broken = threading.Event()
    real_truncate = os.ftruncate

    def disk_full_on_uploads(data: bytes) -> None:
        if b'"upload":' in data:
            raise OSError(errno.ENOSPC, "No space left on device")

    def truncate(descriptor: int, length: int) -> None:
        real_truncate(descriptor, length)
        broken.set()  # the journal took its failed write back: it is broken

    hook_writes(monkeypatch, disk_full_on_uploads)
    monkeypatch.setattr(os, "ftruncate", truncate)
    uploads = UploadCache()
    waits: list[Any] = []

    async def submit(request: Any, key: str) -> Task:
        uploads.put(UploadedFile("https://files.evolink.ai/a.png", FAR, sha256="a" * 64))  # recorded: refused
        assert await anyio.to_thread.run_sync(broken.wait, 5)
        return pending_task()

    async def wait(task: Any) -> Task:
        waits.append(task)
        return completed_task(task)

    seen: list[BatchResult] = []

    async def main() -> list[BatchResult]:
        io_ = async_io(submit, wait, uploads)
        return await run_async(
            REQUESTS[:1], settings(AdaptiveLimit(1)), io_, journal=path, on_result=lambda r, p: seen.append(r)
        )

    with pytest.raises(JournalError, match="No space left on device"):
        bounded(lambda: anyio.run(main))
    monkeypatch.undo()
    [result] = seen
    assert (result.outcome, result.state) == ("uncertain", "submitting")  # the journal holds submitting
    assert isinstance(result.error, JournalError)
    assert waits == []
    assert states(path) == ["submitting"]


# --- async: a worker whose item fails before its flow starts stops the batch -----------------------------------------


def test_an_async_batch_whose_journal_record_cannot_be_read_stops_and_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    damaged = ValueError("a damaged record")

    def record(self: Journal, item: str) -> None:
        raise damaged

    monkeypatch.setattr(Journal, "record", record)
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    with pytest.raises(ValueError, match="a damaged record") as raised:
        client_run_many("async", fake, REQUESTS[:3], concurrency=1, journal=tmp_path / "j.jsonl")
    assert raised.value is damaged
    assert fake.posts() == 0


# --- async: what a batch keeps while it runs is bounded by its concurrency, not its length ---------------------------


def test_an_async_batch_keeps_nothing_per_submit_once_it_ended() -> None:
    scopes: list[int] = []

    async def submit(request: Any, key: str) -> Task:
        return pending_task()

    def on_result(result: BatchResult, progress: BatchProgress) -> None:
        if result.index == len(REQUESTS) - 1:
            gc.collect()
            scopes.append(sum(isinstance(thing, anyio.CancelScope) for thing in gc.get_objects()))

    async def main() -> list[BatchResult]:
        return await run_async(
            REQUESTS, settings(AdaptiveLimit(2)), async_io(submit), journal=None, on_result=on_result, collect=False
        )

    assert bounded(lambda: anyio.run(main)) == []
    [alive] = scopes
    assert alive < len(REQUESTS) // 2


def test_items_waiting_for_a_slot_when_an_async_batch_stops_are_reported_on_the_event_loops_thread() -> None:
    # Four items, two slots: two are waited on, two wait for a slot. The first task ends, its on_result
    # raises: the batch stops. Each item still waiting for a slot ends as a worker (not a cancelled task):
    # it is reported at once, on the event loop's thread (on_result's own), unfinished and still pending.
    limit = Watched(4, 2)
    limit.grows = False
    waits: list[Any] = []
    seen: list[tuple[int, str, str]] = []

    async def submit(request: Any, key: str) -> Task:
        return pending_task(len(waits) + 1)

    async def wait(task: Any) -> Task:
        waits.append(task)
        if len(waits) == 1:
            while len(waits) < 2 or limit.refusals < 2:  # the other task is waited on, two items wait for a slot
                await anyio.sleep(0.005)
            return completed_task(task)
        await anyio.sleep(60)
        return completed_task(task)

    def on_result(result: BatchResult, progress: BatchProgress) -> None:
        seen.append((result.index, result.state, threading.current_thread().name))
        if len(seen) == 1:
            raise LookupError("display broke")

    async def main() -> str:
        with pytest.raises(LookupError, match="display broke"):
            await run_async(REQUESTS[:4], settings(limit), async_io(submit, wait), journal=None, on_result=on_result)
        return threading.current_thread().name

    loop_thread = bounded(lambda: anyio.run(main))
    assert sorted(state for _, state, _ in seen) == ["finished", "pending", "pending", "submitted"]
    assert [thread for _, state, thread in seen if state == "pending"] == [loop_thread, loop_thread]
    assert limit.in_flight == 0


# --- defects these tests found, fixed ---------------------------------------------------------------------------


def test_a_stop_while_every_worker_ends_at_once_reports_every_item_and_does_not_sit_out_the_grace() -> None:
    # Four workers, a queue of four: each stopped worker queues a result and then its end. The queue was
    # read only after the grace, so workers blocked on it for the whole second, and a result queued after
    # the last read was lost (its item had already left the active list).
    stop = threading.Event()
    waiting = threading.Barrier(4)

    def wait(task: Task | str) -> Task:
        waiting.wait(5)
        stop.wait(5)
        raise BatchStoppedError("stopped")

    def submit(request: Any, key: str) -> Task:
        return Task.from_dict({"id": "task-unified-1-abc", "status": "pending"})

    io = SyncIO(submit=submit, wait=wait, download=lambda task, folder: [], sleep=lambda seconds: None, stop=stop)
    seen: list[int] = []

    def on_result(result: BatchResult, progress: BatchProgress) -> None:
        seen.append(result.index)
        if len(seen) == 1:
            waiting.wait(5)  # the three other items are being waited on
            raise KeyboardInterrupt

    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_threads([INVALID, *REQUESTS[:3]], BatchSettings(AdaptiveLimit(4)), io, journal=None, on_result=on_result)
    assert sorted(seen) == [0, 1, 2, 3]
    assert time.monotonic() - started < GRACE  # the workers ended at once: nothing waited out the grace


def test_a_journal_record_that_cannot_be_read_stops_the_sync_batch_and_is_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    journal = tmp_path / "journal.jsonl"
    with fake.client() as client:
        client.run_many(REQUESTS[:2], journal=journal)  # both items journaled

    def unreadable(self: Journal, offset: int) -> bytes:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(Journal, "_read_at", unreadable)
    died: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: died.append(args.exc_value))
    with fake.client() as client, pytest.raises(OSError, match="Input/output error"):
        client.run_many(REQUESTS[:2], journal=journal, concurrency=1)
    assert died == []  # no worker thread died of it
    monkeypatch.undo()
    Journal(journal).close()  # the lock was released


def test_ctrl_c_while_the_workers_are_being_started_is_raised_and_releases_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_start = threading.Thread.start
    starts = [0]

    def start(thread: threading.Thread) -> None:  # a SIGINT landing between two thread.start() calls
        if thread.name == "evolink-batch":
            starts[0] += 1
            if starts[0] == 2:
                raise KeyboardInterrupt
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    journal = tmp_path / "journal.jsonl"
    io = SyncIO(
        submit=lambda request, key: Task.from_dict({"id": "task-unified-1-abc", "status": "pending"}),
        wait=lambda task: Task.from_dict({"id": "task-unified-1-abc", "status": "pending"}),
        download=lambda task, folder: [],
        sleep=lambda seconds: None,
    )
    with pytest.raises(KeyboardInterrupt):
        run_threads(REQUESTS[:1], BatchSettings(AdaptiveLimit(3)), io, journal=journal, on_result=None)
    monkeypatch.undo()
    Journal(journal).close()  # the lock was released


def test_the_async_batch_reports_the_items_it_abandons_on_the_callers_thread() -> None:
    fake = FakeEvoLink(clock=time.monotonic, plan=TaskPlan(duration=60))

    def lines() -> Iterator[WanImageToImage]:
        yield REQUESTS[0]
        yield REQUESTS[1]
        for _ in range(500):  # both tasks are being waited on when the input fails (5 s at most)
            if fake.created >= 2:
                break
            time.sleep(0.01)
        raise ValueError("line 3 is not JSON")

    async def main() -> list[tuple[int, str, str]]:
        seen: list[tuple[int, str, str]] = []

        def on_result(result: BatchResult, progress: BatchProgress) -> None:
            seen.append((result.index, result.state, threading.current_thread().name))

        transport = httpx.MockTransport(fake.handler)
        async with AsyncClient(fake.api_key, base_url=fake.base_url, transport=transport) as client:
            with pytest.raises(ValueError, match="not JSON"):
                await client.run_many(lines(), concurrency=3, on_result=on_result)
        return seen

    caller = threading.current_thread().name
    assert sorted(asyncio.run(asyncio.wait_for(main(), 20))) == [(0, "submitted", caller), (1, "submitted", caller)]
