"""The batch's money decisions pinned exactly: the limit after each 429, which refused uploads are sent again.

``item_flow`` is driven step by step (no driver, clock or network): every POST it asks for is counted.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import io
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from evolink_images import AsyncClient, BatchProgress, Client, PollSchedule, WanImageToImage
from evolink_images._batch import (
    AdaptiveLimit,
    BatchResult,
    BatchSettings,
    Pause,
    Record,
    Save,
    Submit,
    Wait,
    item_flow,
)
from evolink_images._batch_feed import Feed, Item, canonical_body, item_identity
from evolink_images._batch_run import BatchStoppedError, journal_uploads, stoppable_sleep, sync_files
from evolink_images._errors import UploadError
from evolink_images._file_host import UploadedFile
from evolink_images._journal import Journal, JournalError
from evolink_images._retry import RetryPolicy
from evolink_images._task import Task
from evolink_images._upload_cache import UploadCache
from evolink_images.testing.fake import FakeEvoLink, TaskPlan

REQUEST = WanImageToImage("Make it night", ["https://example.com/a.png"])
ITEM = Item(5, REQUEST, "digest#1")


def completed() -> Task:
    return Task.from_dict(
        {"id": "task-unified-1-abc", "status": "completed", "results": ["https://files.example/r.png"]}
    )


def settings(limit: AdaptiveLimit | None = None) -> BatchSettings:
    return BatchSettings(
        limit=limit or AdaptiveLimit(4), policy=RetryPolicy(jitter=lambda: 1.0), wall_clock=lambda: 1_700_000_000.0
    )


def drive(shared: BatchSettings, answers: list[Any]) -> tuple[list[Any], BatchResult]:
    """Run a new item's flow, answering each Submit, Wait and Save with the next of ``answers``."""
    flow = item_flow(ITEM, None, shared)
    steps: list[Any] = []
    feed: Iterator[Any] = iter(answers)
    reply: Any = None
    try:
        while True:
            step = flow.send(reply)
            steps.append(step)
            reply = next(feed) if isinstance(step, Submit | Wait | Save) else None
    except StopIteration as stop:
        result: BatchResult = stop.value
    assert next(feed, "none left") == "none left", "every answer was used"
    return steps, result


def posts(steps: list[Any]) -> int:
    return sum(isinstance(step, Submit) for step in steps)


# --- AdaptiveLimit.rate_limited: never above the other tasks the batch holds ---------------------------------


def test_a_429_on_the_only_task_in_flight_leaves_a_limit_of_one() -> None:
    limit = AdaptiveLimit(8)
    limit.take()  # the refused submit's own slot: no other task is held
    limit.rate_limited()
    assert limit.limit == 1


def test_a_429_while_two_tasks_are_held_leaves_a_limit_of_one_for_the_one_other_task() -> None:
    limit = AdaptiveLimit(8)
    limit.take()
    limit.take()
    limit.rate_limited()
    assert limit.limit == 1


def test_a_429_while_three_tasks_are_held_caps_the_halved_limit_at_the_two_others() -> None:
    limit = AdaptiveLimit(8)
    for _ in range(3):
        limit.take()
    limit.rate_limited()
    assert limit.limit == 2  # halved to 4, then capped at the 2 other tasks


def test_a_429_with_more_tasks_held_than_the_halved_limit_keeps_the_halved_limit() -> None:
    limit = AdaptiveLimit(8)
    for _ in range(6):
        limit.take()
    limit.rate_limited()
    assert limit.limit == 4


def test_a_second_429_of_the_same_congestion_is_still_capped_at_the_other_tasks_held() -> None:
    limit = AdaptiveLimit(8)
    for _ in range(6):
        limit.take()
    limit.rate_limited()
    assert limit.limit == 4
    for _ in range(3):
        limit.give_back()  # three tasks ended: three held, the refused one among them
    limit.rate_limited()  # not halved again (the same congestion), but capped
    assert limit.limit == 2


# --- _worth_resending: a refused upload is sent again only after a 429 or a 503, and only if not stored -------


def upload_refused(status: int | None, *, may_be_stored: bool = False) -> UploadError:
    return UploadError("upload refused", file_name="a.png", status_code=status, may_be_stored=may_be_stored)


def test_an_upload_refused_with_429_is_sent_again_after_a_pause_with_the_same_key() -> None:
    steps, result = drive(settings(), [upload_refused(429), completed(), completed()])
    assert posts(steps) == 2
    keys = {step.idempotency_key for step in steps if isinstance(step, Submit)}
    assert len(keys) == 1
    assert sum(isinstance(step, Pause) for step in steps) == 1
    assert (result.outcome, result.state) == ("done", "finished")


def test_an_upload_refused_with_503_is_sent_again_after_a_pause() -> None:
    steps, result = drive(settings(), [upload_refused(503), completed(), completed()])
    assert posts(steps) == 2
    assert result.ok


def test_an_upload_refused_with_429_every_time_is_sent_as_often_as_the_client_retries() -> None:
    # An upload is not a submit refused by the API: patience is the policy's max_retries (2), so 3 POSTs.
    refusals: list[Any] = [upload_refused(429) for _ in range(3)]
    steps, result = drive(settings(), refusals)
    assert posts(steps) == 3
    assert (result.outcome, result.state) == ("unfinished", "pending")
    assert result.error is refusals[-1]


def test_an_upload_that_may_have_been_stored_is_never_sent_again_in_this_run() -> None:
    refused = upload_refused(429, may_be_stored=True)
    steps, result = drive(settings(), [refused])
    assert posts(steps) == 1
    assert not any(isinstance(step, Pause) for step in steps)
    assert (result.outcome, result.state, result.error) == ("unfinished", "pending", refused)
    assert [step.state for step in steps if isinstance(step, Record)] == ["submitting", "pending"]


def test_an_upload_refused_with_a_status_other_than_429_or_503_is_not_sent_again() -> None:
    for status in (428, 430, 500, 502, 504, None):
        refused = upload_refused(status)
        steps, result = drive(settings(), [refused])
        assert posts(steps) == 1, status
        assert (result.outcome, result.state, result.error) == ("unfinished", "pending", refused), status


def test_an_upload_refused_with_429_does_not_lower_the_limit() -> None:
    # Only a RateLimitError from the API is congestion of the account's tasks; the file host's 429 is not.
    limit = AdaptiveLimit(4)
    drive(settings(limit), [upload_refused(429), completed(), completed()])
    assert limit.limit == 4


# --- the feed: a local image's stand-in, and an index on disk that fails --------------------------------------


def png(side: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (side, side), (10, 20, 30)).save(out, format="PNG")
    return out.getvalue()


def test_a_local_image_stands_in_the_canonical_body_as_the_sha256_of_its_bytes(tmp_path: Path) -> None:
    data = png(400)
    photo = tmp_path / "photo.png"
    photo.write_bytes(data)
    request = WanImageToImage("Make it night", [photo, "https://example.com/b.png"])
    digest = hashlib.sha256(data).hexdigest()
    assert canonical_body(request) == (
        f'{{"image_urls":["local:sha256:{digest}","https://example.com/b.png"],'
        '"model":"wan2.5-image-to-image","prompt":"Make it night"}'
    )


def test_the_same_picture_in_two_files_is_the_same_item(tmp_path: Path) -> None:
    data = png(400)
    (tmp_path / "one.png").write_bytes(data)
    (tmp_path / "two.png").write_bytes(data)
    one = WanImageToImage("Make it night", [tmp_path / "one.png"])
    two = WanImageToImage("Make it night", [tmp_path / "two.png"])
    assert item_identity(one, 1) == item_identity(two, 1)


class FailingIndex:
    """A ``DiskIndex`` whose SQLite temporary folder is full."""

    def increment(self, key: str) -> int:
        raise OSError("the disk is full")


def test_a_list_whose_index_on_disk_fails_refuses_to_start_and_says_nothing_was_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("evolink_images._batch_feed.DiskIndex", FailingIndex)
    with pytest.raises(JournalError) as raised:
        Feed([REQUEST], named=True)
    assert str(raised.value) == "the batch cannot start: the disk is full; nothing was sent"
    assert raised.value.__cause__ is None


def test_an_input_whose_index_on_disk_fails_stops_the_feed_for_good_and_says_nothing_more_was_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("evolink_images._batch_feed.DiskIndex", FailingIndex)
    pulled: list[int] = []

    def lines() -> Iterator[WanImageToImage]:
        for number in range(3):
            pulled.append(number)
            yield REQUEST

    feed = Feed(lines(), named=True)
    assert feed.next() is None
    assert isinstance(feed.source_error, JournalError)
    assert str(feed.source_error) == "the batch stopped: the disk is full; nothing more was sent"
    assert feed.exhausted
    assert feed.next() is None  # no further line is read, none handed out
    assert pulled == [0]
    assert feed.read == 1


# --- the drivers: sleeps a stop ends, uploads the journal feeds and records, files made durable -------------


def test_a_stoppable_real_sleep_lasts_its_time_while_the_batch_runs() -> None:
    nap = stoppable_sleep(time.sleep, threading.Event())
    started = time.monotonic()
    nap(0.05)
    assert time.monotonic() - started >= 0.05


def test_a_stoppable_real_sleep_of_a_negative_time_returns_at_once() -> None:
    nap = stoppable_sleep(time.sleep, threading.Event())
    started = time.monotonic()
    nap(-5.0)
    assert time.monotonic() - started < 0.5


def test_a_stoppable_real_sleep_ends_at_once_once_the_batch_stopped_and_says_the_task_goes_on() -> None:
    stop = threading.Event()
    stop.set()
    nap = stoppable_sleep(time.sleep, stop)
    started = time.monotonic()
    with pytest.raises(BatchStoppedError) as raised:
        nap(30.0)
    assert time.monotonic() - started < 1.0
    assert str(raised.value) == "the batch stopped; the task goes on, and a re-run waits on it"


def test_a_stoppable_simulated_sleep_is_the_callers_own_sleep() -> None:
    naps: list[float] = []
    nap = stoppable_sleep(naps.append, threading.Event())
    nap(2.5)
    assert naps == [2.5]


SHA_A = "a" * 64
SHA_B = "b" * 64
FAR = datetime.datetime(2999, 1, 1, tzinfo=datetime.UTC)


def test_the_runs_uploads_start_from_the_journals_and_each_new_upload_is_recorded_there(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    journal.uploads[SHA_A] = {
        "upload": SHA_A,
        "file_url": "https://files.evolink.ai/a.png",
        "expires_at": FAR.isoformat(),
    }
    journal.uploads["c" * 64] = {"upload": "c" * 64}  # not an upload record that can be used: skipped
    uploads = UploadCache()
    journal_uploads(journal, uploads)
    known = uploads.get(SHA_A)
    assert known is not None
    assert (known.file_url, known.expires_at) == ("https://files.evolink.ai/a.png", FAR)
    assert uploads.get("c" * 64) is None
    uploads.put(UploadedFile("https://files.evolink.ai/b.png", FAR, "file-b", sha256=SHA_B))
    journal.close()
    records = [json.loads(line) for line in path.read_text().splitlines()[1:]]
    assert records == [
        {
            "upload": SHA_B,
            "file_url": "https://files.evolink.ai/b.png",
            "expires_at": FAR.isoformat(),
            "file_id": "file-b",
        }
    ]


def test_without_a_journal_the_runs_uploads_are_left_as_they_are() -> None:
    uploads = UploadCache()
    journal_uploads(None, uploads)
    uploads.put(UploadedFile("https://files.evolink.ai/b.png", FAR, sha256=SHA_B))  # reported to no one
    assert uploads.get(SHA_B) is not None


def test_saved_files_and_each_of_their_folders_once_are_fsynced_and_every_descriptor_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "out").mkdir()
    files = [tmp_path / "out" / "a.png", tmp_path / "out" / "b.png", tmp_path / "c.png"]
    for file in files:
        file.write_bytes(b"x")
    opened: dict[int, str] = {}
    synced: list[str] = []
    closed: list[str] = []
    real_open, real_fsync, real_close = os.open, os.fsync, os.close

    def spy_open(path: Any, flags: int, *args: Any) -> int:
        descriptor = real_open(path, flags, *args)
        opened[descriptor] = str(path)
        return descriptor

    def spy_fsync(descriptor: int) -> None:
        synced.append(opened[descriptor])
        real_fsync(descriptor)

    def spy_close(descriptor: int) -> None:
        closed.append(opened.pop(descriptor))
        real_close(descriptor)

    monkeypatch.setattr(os, "open", spy_open)
    monkeypatch.setattr(os, "fsync", spy_fsync)
    monkeypatch.setattr(os, "close", spy_close)
    sync_files(files)
    monkeypatch.undo()
    assert synced[:3] == [str(file) for file in files]
    assert sorted(synced[3:]) == sorted([str(tmp_path / "out"), str(tmp_path)])
    assert sorted(closed) == sorted(synced)
    assert opened == {}


# --- _Run: a batch that cannot start, an input or a journal index that fails mid-run --------------------------


def fake_run_many(
    kind: str,
    fake: FakeEvoLink,
    requests: Any,
    intercept: Callable[[httpx.Request], None] | None = None,
    **options: Any,
) -> list[Any]:
    def handle(request: httpx.Request) -> httpx.Response:
        if intercept is not None:
            intercept(request)
        return fake.handler(request)

    settings: dict[str, Any] = {
        "base_url": fake.base_url,
        "transport": httpx.MockTransport(handle),
        "poll_schedule": PollSchedule(min_interval=0.05, max_interval=0.05),
    }
    if kind == "sync":
        with Client(fake.api_key, **settings) as client:
            return client.run_many(requests, **options)

    async def main() -> list[Any]:
        async with AsyncClient(fake.api_key, **settings) as client:
            return await client.run_many(requests, **options)

    return asyncio.run(main())


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_batch_whose_index_on_disk_fails_before_it_starts_releases_its_journal(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("evolink_images._batch_feed.DiskIndex", FailingIndex)
    fake = FakeEvoLink()
    path = tmp_path / "j.jsonl"
    with pytest.raises(JournalError, match=r"^the batch cannot start: the disk is full; nothing was sent$"):
        fake_run_many(kind, fake, [REQUEST], journal=path)
    assert fake.posts() == 0
    Journal(path).close()  # not locked any more


def test_a_journal_that_cannot_read_an_items_record_stops_the_batch_before_any_post(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = JournalError("the journal's index failed")

    def record(self: Journal, item: str) -> None:
        raise broken

    monkeypatch.setattr(Journal, "record", record)
    fake = FakeEvoLink()
    seen: list[Any] = []
    with pytest.raises(JournalError) as raised:
        fake_run_many(
            kind, fake, [REQUEST], journal=tmp_path / "j.jsonl", concurrency=1, on_result=lambda r, p: seen.append(r)
        )
    assert raised.value is broken
    assert fake.posts() == 0
    [result] = seen
    assert (result.index, result.outcome, result.state, result.error) == (0, "unfinished", "pending", broken)


def test_an_input_that_raises_while_a_task_is_waited_on_stops_the_batch_and_its_wait_at_once(kind: str) -> None:
    fake = FakeEvoLink(clock=time.monotonic, plan=TaskPlan(duration=60))
    polled = threading.Event()

    def intercept(request: httpx.Request) -> None:
        if request.method == "GET":
            polled.set()

    def lines() -> Iterator[WanImageToImage]:
        yield REQUEST
        if kind == "sync":  # a thread of its own: raise once the first item is being waited on
            polled.wait(5)
        raise ValueError("line 2 is not JSON")

    seen: list[tuple[Any, BatchProgress]] = []
    started = time.monotonic()
    with pytest.raises(ValueError, match=r"^line 2 is not JSON$"):
        fake_run_many(
            kind, fake, lines(), intercept, concurrency=2, timeout=3, on_result=lambda r, p: seen.append((r, p))
        )
    assert time.monotonic() - started < 2.5  # not the wait's 3 s timeout
    [(result, progress)] = seen
    assert (result.index, result.outcome, result.state) == (0, "unfinished", "submitted")
    assert fake.posts() == 1
    assert progress.unfinished == 1
