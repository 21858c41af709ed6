"""run_many's records of a run: what a stop reports, what a crash becomes, the counts, the unmatched report.

Each test goes through ``Client.run_many`` / ``AsyncClient.run_many`` on the fake API, unless the state it
pins cannot be reached from outside (then ``_Run`` is used directly, and the test says why).
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from evolink_images import (
    AsyncClient,
    BatchProgress,
    BatchResult,
    Client,
    JournalWarning,
    QwenImageEdit,
    UncertainSubmitError,
    WanImageToImage,
    _batch_run,
    _journal,
)
from evolink_images._batch import AdaptiveLimit, BatchSettings
from evolink_images._batch_feed import item_identity
from evolink_images._errors import EvoLinkError
from evolink_images._journal import Journal, JournalError
from evolink_images.testing.fake import FakeClock, FakeEvoLink, TaskPlan

REQUESTS = [WanImageToImage(f"edit {i}", ["https://example.com/a.png"]) for i in range(4)]
INVALID = QwenImageEdit("", ["https://example.com/a.png"])  # refused before anything is sent: "failed" at once
Handler = Callable[[httpx.Request], Any]


def os_with(**replaced: Any) -> types.SimpleNamespace:
    """The journal module's ``os``, with some functions replaced."""
    names = {name: getattr(os, name) for name in dir(os) if not name.startswith("__")}
    return types.SimpleNamespace(**{**names, **replaced})


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def run_many(kind: str, fake: FakeEvoLink, requests: Any, handler: Handler | None = None, **options: Any) -> Any:
    """``run_many`` of a client of ``kind`` on ``fake`` (or on ``handler``, sync or async to match ``kind``)."""
    clock = fake.clock
    transport = httpx.MockTransport(handler or fake.handler)
    settings: dict[str, Any] = {"base_url": fake.base_url, "transport": transport}
    if kind == "sync":
        sleep = clock.sleep if isinstance(clock, FakeClock) else None
        with Client(fake.api_key, clock=clock, sleep=sleep, **settings) as client:
            return client.run_many(requests, **options)

    async def main() -> list[BatchResult]:
        async_sleep = clock.async_sleep if isinstance(clock, FakeClock) else None
        async with AsyncClient(fake.api_key, clock=clock, sleep=async_sleep, **settings) as client:
            return await client.run_many(requests, **options)

    return asyncio.run(main())


# --- deliver: the counts each on_result call is given --------------------------------------------------------


def test_the_progress_counts_failed_and_uncertain_items_each_under_its_own_name(kind: str) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    fake.inject("server_error", target="POST")  # a 500 after sending: the task may exist
    seen: list[tuple[BatchResult, BatchProgress]] = []
    results = run_many(kind, fake, [INVALID, REQUESTS[0]], concurrency=1, on_result=lambda r, p: seen.append((r, p)))
    assert [(result.index, result.outcome) for result in results] == [(0, "failed"), (1, "uncertain")]
    [(first, after_first), (second, after_second)] = seen
    assert (first.index, second.index) == (0, 1)
    assert (after_first.done, after_first.failed, after_first.uncertain, after_first.unfinished) == (0, 1, 0, 0)
    assert (after_second.done, after_second.failed, after_second.uncertain, after_second.unfinished) == (0, 1, 1, 0)
    assert fake.posts() == 1


# --- _warn_unmatched: the report of journal entries no item of this input matched ---------------------------


def unmatched_warning(kind: str, path: Path) -> str:
    """The one JournalWarning a run of ``REQUESTS[0]`` on the journal ``path`` gives (the item itself ends done)."""
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    with pytest.warns(JournalWarning) as caught:
        [result] = run_many(kind, fake, REQUESTS[:1], journal=path)
    assert result.ok
    [warning] = [str(entry.message) for entry in caught if issubclass(entry.category, JournalWarning)]
    return warning


def journal_of(path: Path, records: dict[str, dict[str, Any]]) -> str:
    """A journal holding ``records`` (item -> state and fields), each durable; what it says it was made for."""
    with Journal(path) as journal:
        for item, fields in records.items():
            journal.write(item, **fields).result()
        assert journal.made_for is not None
        return journal.made_for


def test_unmatched_entries_are_counted_by_state_with_their_tasks_and_keys_word_for_word(
    kind: str, tmp_path: Path
) -> None:
    path = tmp_path / "journal.jsonl"
    made_for = journal_of(
        path,
        {
            "a#1": {"state": "submitted", "task_id": "task-a"},  # a task id alone
            "b#1": {"state": "finished", "task": {"id": "task-b", "status": "completed"}},  # a task body alone
            "c#1": {"state": "saved", "task_id": "task-c", "task": {"id": "task-other"}},  # the id on record wins
            "d#1": {"state": "submitting", "idempotency_key": "key-d"},
            "e#1": {"state": "submitting", "idempotency_key": "key-e"},
            "f#1": {"state": "pending", "idempotency_key": "key-f"},  # nothing sent: neither task nor key
        },
    )
    assert unmatched_warning(kind, path) == (
        f"{path}: 6 entries match no item of this input (1 finished, 1 pending, 1 saved, 1 submitted, 2 submitting)"
        "; their tasks: task-a, task-b, task-c"
        "; submits that may have made a task, idempotency keys: key-d, key-e."
        f" The journal was made for: {made_for}. They are kept, untouched"
    )


def test_ten_unmatched_tasks_and_ten_keys_are_all_named_without_an_ellipsis(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    records: dict[str, dict[str, Any]] = {}
    for n in range(10):
        records[f"p{n:02}#1"] = {"state": "finished", "task_id": f"t{n:02}"}
        records[f"s{n:02}#1"] = {"state": "submitting", "idempotency_key": f"k{n:02}"}
    made_for = journal_of(path, records)
    tasks = ", ".join(f"t{n:02}" for n in range(10))
    keys = ", ".join(f"k{n:02}" for n in range(10))
    assert unmatched_warning("sync", path) == (
        f"{path}: 20 entries match no item of this input (10 finished, 10 submitting)"
        f"; their tasks: {tasks}; submits that may have made a task, idempotency keys: {keys}."
        f" The journal was made for: {made_for}. They are kept, untouched"
    )


def test_past_ten_unmatched_tasks_the_first_ten_are_named_then_an_ellipsis_and_keys_stop_at_ten(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.jsonl"
    records: dict[str, dict[str, Any]] = {}
    for n in range(11):
        records[f"p{n:02}#1"] = {"state": "submitted", "task_id": f"t{n:02}"}
        records[f"s{n:02}#1"] = {"state": "submitting", "idempotency_key": f"k{n:02}"}
    made_for = journal_of(path, records)
    tasks = ", ".join(f"t{n:02}" for n in range(10))
    keys = ", ".join(f"k{n:02}" for n in range(10))
    assert unmatched_warning("async", path) == (
        f"{path}: 22 entries match no item of this input (11 submitted, 11 submitting)"
        f"; their tasks: {tasks} ...; submits that may have made a task, idempotency keys: {keys}."
        f" The journal was made for: {made_for}. They are kept, untouched"
    )


# --- stops: what the journal and the results say of an item the batch stopped following ---------------------


def journal_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


class Stopper:
    """An ``on_result`` that raises each time (``stop 1``, ``stop 2``, ...), first waiting for ``ready`` if given."""

    def __init__(self, ready: Callable[[], object] | None = None) -> None:
        self.ready = ready
        self.seen: list[BatchResult] = []

    def __call__(self, result: BatchResult, progress: BatchProgress) -> None:
        self.seen.append(result)
        if len(self.seen) == 1 and self.ready is not None:
            self.ready()
        raise RuntimeError(f"stop {len(self.seen)}")

    def by_index(self) -> dict[int, BatchResult]:
        return {result.index: result for result in self.seen}


def test_a_stop_while_the_submitting_record_is_written_takes_it_back_to_pending_and_sends_nothing(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal.jsonl"
    Journal(path).close()
    fsyncing, release = threading.Event(), threading.Event()
    held: list[str] = []
    timed_out: list[str] = []

    def slow_fsync(fd: int) -> None:
        # The "submitting" record of item 0 is on its way to the disk when the batch stops.
        if not held and b'"submitting"' in path.read_bytes():
            held.append("held")
            fsyncing.set()
            if not release.wait(2):
                timed_out.append("the stop never came while the record was written")
            time.sleep(0.1)  # sync: let the main thread finish halting the batch
        os.fsync(fd)

    def stop_once_the_record_is_on_its_way() -> None:
        assert fsyncing.wait(2)
        release.set()

    monkeypatch.setattr(_journal, "os", os_with(fsync=slow_fsync))
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    stopper = Stopper(stop_once_the_record_is_on_its_way)
    with pytest.raises(RuntimeError, match=r"^stop 1$"):  # the first error, not the later ones
        run_many(kind, fake, [REQUESTS[0], INVALID], concurrency=2, journal=path, on_result=stopper)
    monkeypatch.undo()
    assert timed_out == []
    assert fake.posts() == 0
    results = stopper.by_index()
    assert (results[1].outcome, results[1].state) == ("failed", "pending")
    withdrawn = results[0]
    assert (withdrawn.outcome, withdrawn.state) == ("unfinished", "pending")
    assert str(withdrawn.error) == "item 0: the batch stopped first; re-run to go on"
    assert len(stopper.seen) == 2
    [submitting, pending] = journal_records(path)
    key = submitting["idempotency_key"]
    identity = item_identity(REQUESTS[0], 1)
    assert submitting == {"item": identity, "state": "submitting", "index": 0, "idempotency_key": key}
    assert pending == {"item": identity, "state": "pending", "index": 0, "idempotency_key": key}
    [again] = run_many(kind, fake, REQUESTS[:1], journal=path)  # pending, not uncertain: sent, with its key
    assert (again.outcome, again.resumed) == ("done", False)
    assert [request.idempotency_key for request in fake.recorded if request.method == "POST"] == [key]


def test_a_journal_that_cannot_write_the_first_record_stops_the_batch_before_its_post(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal.jsonl"
    Journal(path).close()
    header = path.read_bytes()

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_journal, "os", os_with(write=full))
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    seen: list[BatchResult] = []
    message = (
        f"the journal {path} cannot be written (No space left on device); the batch stopped and nothing more"
        " was sent. Free the space (or fix the file) and re-run to resume"
    )
    with pytest.raises(JournalError) as raised:
        run_many(kind, fake, REQUESTS[:1], concurrency=1, journal=path, on_result=lambda r, p: seen.append(r))
    monkeypatch.undo()
    assert str(raised.value) == message
    assert fake.posts() == 0
    [result] = seen
    assert (result.index, result.outcome, result.state, str(result.error)) == (0, "unfinished", "pending", message)
    assert path.read_bytes() == header


def test_a_submit_still_on_the_wire_after_the_grace_is_reported_uncertain_and_stays_submitting(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_batch_run, "GRACE", 0.2)
    path = tmp_path / "journal.jsonl"
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    posted, release = threading.Event(), threading.Event()
    refusal = {"error": {"code": "refused", "message": "no", "type": "invalid_request_error"}}

    def item_0(request: httpx.Request) -> bool:
        return request.method == "POST" and b"edit 0" in request.content

    def sync_handler(request: httpx.Request) -> httpx.Response:
        """Item 0's POST hangs; item 1's is refused (400) once item 0's is on the wire."""
        if item_0(request):
            posted.set()
            release.wait(5)  # the thread the stopped batch left behind ends with the test
        elif request.method == "POST":
            assert posted.wait(2)
            return httpx.Response(400, json=refusal)
        return fake.handler(request)

    async def async_handler(request: httpx.Request) -> httpx.Response:
        if item_0(request):
            posted.set()
            await asyncio.sleep(5)  # cut off by the batch's grace
        elif request.method == "POST":
            for _ in range(200):
                if posted.is_set():
                    break
                await asyncio.sleep(0.01)
            return httpx.Response(400, json=refusal)
        return fake.handler(request)

    stopper = Stopper()
    started = time.monotonic()
    try:
        with pytest.raises(RuntimeError, match=r"^stop 1$"):
            run_many(
                kind,
                fake,
                REQUESTS[:2],
                sync_handler if kind == "sync" else async_handler,
                concurrency=2,
                journal=path,
                on_result=stopper,
            )
    finally:
        release.set()
    assert time.monotonic() - started < 2
    results = stopper.by_index()
    assert (results[1].outcome, results[1].state) == ("failed", "finished")
    cut = results[0]
    assert (cut.outcome, cut.state) == ("uncertain", "submitting")
    assert str(cut.error) == "item 0: the batch stopped first; re-run to go on"
    assert len(stopper.seen) == 2
    assert journal_states(path)[item_identity(REQUESTS[0], 1)] == "submitting"


def journal_states(path: Path) -> dict[str, str]:
    states: dict[str, str] = {}
    for record in journal_records(path):
        states[record["item"]] = record["state"]
    return states


# --- crashed: a defect in an item's flow is that item's result, and the batch goes on ------------------------


def journal_refusing(monkeypatch: pytest.MonkeyPatch, state: str, error: Exception) -> None:
    """Make the journal raise ``error`` (a defect, not a JournalError) when asked to record ``state``."""
    write = Journal.write

    def refuse(self: Journal, item: str, step: str, **fields: Any) -> Any:
        if step == state:
            raise error
        return write(self, item, step, **fields)

    monkeypatch.setattr(Journal, "write", refuse)


def test_a_defect_after_the_post_is_an_uncertain_item_naming_the_error_and_the_batch_goes_on(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    defect = TypeError("Object of type Thing is not JSON serializable")
    journal_refusing(monkeypatch, "submitted", defect)
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    path = tmp_path / "journal.jsonl"
    crashed, other = run_many(kind, fake, [REQUESTS[0], INVALID], concurrency=1, journal=path)
    assert fake.created == 1  # the task exists: the item is uncertain, never pending
    assert (crashed.index, crashed.outcome, crashed.state) == (0, "uncertain", "submitting")
    assert isinstance(crashed.error, UncertainSubmitError)
    assert crashed.error.task_may_exist is True
    assert crashed.error.__cause__ is defect
    assert str(crashed.error) == (
        "item 0: TypeError: Object of type Thing is not JSON serializable; a task may have been created (and"
        " billed) all the same: check your recent tasks before submitting again"
    )
    assert (other.index, other.outcome) == (1, "failed")
    assert journal_states(path) == {item_identity(REQUESTS[0], 1): "submitting"}


def test_a_defect_while_a_task_is_followed_leaves_the_item_unfinished_in_its_state_with_the_error_wrapped(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    defect = RuntimeError("the record could not be made")
    journal_refusing(monkeypatch, "finished", defect)
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    path = tmp_path / "journal.jsonl"
    crashed, done = run_many(kind, fake, REQUESTS[:2], concurrency=1, journal=path)
    assert (crashed.index, crashed.outcome, crashed.state) == (0, "unfinished", "submitted")
    assert type(crashed.error) is EvoLinkError
    assert str(crashed.error) == "item 0: unexpected RuntimeError: the record could not be made"
    assert crashed.error.__cause__ is defect
    assert (done.index, done.outcome, done.state) == (1, "unfinished", "submitted")  # the same defect
    assert journal_states(path)[item_identity(REQUESTS[0], 1)] == "submitted"


# --- abandon: each item a stopped run leaves behind is reported once ------------------------------------------


def test_the_items_a_stopped_run_leaves_behind_are_handed_back_once_each() -> None:
    # Not reachable from outside: every driver abandons once, then returns or raises. Pinned on _Run itself.
    shared = BatchSettings(limit=AdaptiveLimit(2))
    run = _batch_run._Run(REQUESTS[:2], shared, None, None, True)
    for _ in range(2):
        item = run.next_item()
        assert item is not None
        run.start(item)
    left = run.abandon()
    assert [(result.index, result.outcome, result.state) for result in left] == [
        (0, "unfinished", "pending"),
        (1, "unfinished", "pending"),
    ]
    assert [str(result.error) for result in left] == [
        "item 0: the batch stopped first; re-run to go on",
        "item 1: the batch stopped first; re-run to go on",
    ]
    assert run.abandon() == []
    assert run.finish() == []
