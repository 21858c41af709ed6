"""run_many: one journaled state machine per item, identity by content, isolation, adaptive concurrency."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import Callable, Iterator, Mapping
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
    PollSchedule,
    QwenImageEdit,
    RequestValidationError,
    TaskFailedError,
    UncertainSubmitError,
    WaitTimeoutError,
    WanImageToImage,
)
from evolink_images._batch import AdaptiveLimit
from evolink_images._batch_feed import item_identity
from evolink_images._journal import Journal
from evolink_images.testing.fake import FakeClock, FakeEvoLink, TaskPlan

REQUESTS = [WanImageToImage(f"edit {i}", ["https://example.com/a.png"]) for i in range(12)]
Intercept = Callable[[httpx.Request], httpx.Response | None]


def _handler(fake: FakeEvoLink, intercept: Intercept | None) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        answer = intercept(request) if intercept is not None else None
        return answer if answer is not None else fake.handler(request)

    return handle


def run_many(
    kind: str,
    fake: FakeEvoLink,
    requests: Any,
    schedule: PollSchedule | None = None,
    intercept: Intercept | None = None,
    **options: Any,
) -> list[BatchResult]:
    clock = fake.clock
    transport = httpx.MockTransport(_handler(fake, intercept))
    settings: dict[str, Any] = {"base_url": fake.base_url, "transport": transport, "poll_schedule": schedule}
    if kind == "sync":
        sleep = clock.sleep if isinstance(clock, FakeClock) else None
        with Client(fake.api_key, clock=clock, sleep=sleep, **settings) as client:
            return client.run_many(requests, **options)

    async def main() -> list[BatchResult]:
        sleep = clock.async_sleep if isinstance(clock, FakeClock) else None
        async with AsyncClient(fake.api_key, clock=clock, sleep=sleep, **settings) as client:
            return await client.run_many(requests, **options)

    return asyncio.run(main())


def status_once(status: int, times: int = 1, **headers: str) -> Intercept:
    """Answer the next ``times`` POSTs with ``status`` (an error body the client parses)."""
    left = [times]

    def intercept(request: httpx.Request) -> httpx.Response | None:
        if request.method != "POST" or not left[0]:
            return None
        left[0] -= 1
        body = {"error": {"code": "refused", "message": f"refused with {status}", "type": "invalid_request_error"}}
        return httpx.Response(status, json=body, headers={k.replace("_", "-"): v for k, v in headers.items()})

    return intercept


def journal_states(path: Path) -> dict[str, str]:
    return {record["item"]: record["state"] for record in map(json.loads, path.read_text().splitlines()[1:])}


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_every_item_ends_with_its_result_or_its_error_in_order(kind: str) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=10))
    requests = [*REQUESTS[:3], QwenImageEdit("", ["https://example.com/a.png"]), REQUESTS[3]]
    fake.next_task(outcome="completed")
    fake.next_task(outcome="failed", error_code="content_policy_violation")
    results = run_many(kind, fake, requests, concurrency=2)
    assert [result.index for result in results] == [0, 1, 2, 3, 4]
    assert [result.request for result in results] == requests
    assert isinstance(results[3].error, RequestValidationError)
    assert sum(isinstance(result.error, TaskFailedError) for result in results) == 1
    assert [result.outcome for result in results].count("failed") == 2
    assert sum(result.ok for result in results) == 3
    assert fake.created == 4


def test_concurrency_is_never_exceeded_and_recovers_after_429s(kind: str) -> None:
    # Concurrency needs a real scheduler, so this test runs in scaled-down real time (about 2 s):
    # 0.3 s tasks, polls every 20-50 ms, an account limit of 3 tasks in flight.
    fake = FakeEvoLink(clock=time.monotonic, plan=TaskPlan(duration=0.3), max_running=3, retry_after="0")
    seen: list[BatchProgress] = []
    fast = PollSchedule(min_interval=0.02, max_interval=0.05)
    started = time.monotonic()
    results = run_many(
        kind, fake, REQUESTS, concurrency=6, on_result=lambda result, progress: seen.append(progress), schedule=fast
    )
    assert time.monotonic() - started < 15
    assert all(result.ok for result in results)
    assert fake.created == len(REQUESTS)
    assert fake.rate_limited > 0
    assert all(progress.in_flight <= 6 for progress in seen)
    assert min(progress.concurrency for progress in seen) < 6
    assert seen[-1].done == len(REQUESTS)


def test_a_rerun_with_the_journal_skips_finished_items_and_never_resubmits(kind: str, tmp_path: Path) -> None:
    journal = tmp_path / "journal.jsonl"
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    first = run_many(kind, fake, REQUESTS[:4], concurrency=2, journal=journal)
    assert fake.created == 4
    again = run_many(kind, fake, REQUESTS[:4], concurrency=2, journal=journal)
    assert fake.created == 4
    assert all(result.resumed and result.ok for result in again)
    assert [r.task.id for r in again if r.task] == [r.task.id for r in first if r.task]
    assert set(journal_states(journal).values()) == {"finished"}


def test_results_are_saved_by_the_runner_and_saved_is_the_final_state(kind: str, tmp_path: Path) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    journal, out = tmp_path / "journal.jsonl", tmp_path / "out"
    results = run_many(kind, fake, REQUESTS[:3], journal=journal, save_to=out)
    assert [result.state for result in results] == ["saved"] * 3
    assert all(path.read_bytes().startswith(b"\x89PNG") for result in results for path in result.files)
    assert set(journal_states(journal).values()) == {"saved"}
    downloads = sum(1 for method, url in fake.requests if url.startswith(fake.files_url))
    results[1].files[0].unlink()  # a result lost since: the re-run downloads it again, and only it
    again = run_many(kind, fake, REQUESTS[:3], journal=journal, save_to=out)
    assert all(result.ok for result in again)
    assert results[1].files[0].exists()
    assert sum(1 for method, url in fake.requests if url.startswith(fake.files_url)) == downloads + 1
    assert fake.created == 3


def test_a_failed_download_leaves_the_item_finished_and_a_rerun_downloads_without_paying(
    kind: str, tmp_path: Path
) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    fake.inject("not_found", target="files")  # a 404 is not retried: the download fails
    journal, out = tmp_path / "journal.jsonl", tmp_path / "out"
    [result] = run_many(kind, fake, REQUESTS[:1], journal=journal, save_to=out)
    assert (result.outcome, result.state) == ("unfinished", "finished")
    assert result.task is not None
    assert result.task.is_completed
    [again] = run_many(kind, fake, REQUESTS[:1], journal=journal, save_to=out)
    assert (again.outcome, again.state, again.resumed) == ("done", "saved", True)
    assert fake.created == 1


@pytest.mark.parametrize("status", [401, 402, 403, 429, 503])
def test_errors_that_prove_no_task_exists_leave_the_item_pending_and_a_rerun_sends_it(
    kind: str, tmp_path: Path, status: int
) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    journal = tmp_path / "journal.jsonl"
    times = 9 if status in {429, 503} else 1  # 429 and 503 are sent again within the run, 8 times
    [result] = run_many(
        kind, fake, REQUESTS[:1], journal=journal, intercept=status_once(status, times, retry_after="0")
    )
    assert (result.outcome, result.state) == ("unfinished", "pending")
    assert fake.created == 0
    [again] = run_many(kind, fake, REQUESTS[:1], journal=journal)
    assert again.ok
    assert not again.resumed
    assert fake.created == 1


def test_a_request_the_api_refused_as_invalid_is_final_and_never_sent_again(kind: str, tmp_path: Path) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    journal = tmp_path / "journal.jsonl"
    posts: list[str] = []

    def count_then_refuse(request: httpx.Request) -> httpx.Response | None:
        posts.append(request.method)
        return status_once(400)(request)

    [result] = run_many(kind, fake, REQUESTS[:1], journal=journal, intercept=count_then_refuse)
    assert (result.outcome, result.state) == ("failed", "finished")
    [again] = run_many(kind, fake, REQUESTS[:1], journal=journal, intercept=count_then_refuse)
    assert (again.outcome, again.resumed) == ("failed", True)
    assert posts.count("POST") == 1


def test_a_wait_that_timed_out_leaves_the_item_submitted_and_a_rerun_waits_on_it(kind: str, tmp_path: Path) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=100))
    journal = tmp_path / "journal.jsonl"
    [result] = run_many(kind, fake, REQUESTS[:1], journal=journal, timeout=10)
    assert isinstance(result.error, WaitTimeoutError)
    assert (result.outcome, result.state) == ("unfinished", "submitted")
    [again] = run_many(kind, fake, REQUESTS[:1], journal=journal, timeout=300)
    assert again.task is not None
    assert again.task.id == result.error.task_id
    assert fake.created == 1


def test_an_interrupted_submit_is_reported_uncertain_with_its_key_and_resent_only_when_asked(
    kind: str, tmp_path: Path
) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    journal = tmp_path / "journal.jsonl"
    key = "evolink-batch-0123456789abcdef0123456789abcdef"
    seen_keys: list[str | None] = []

    def record_key(request: httpx.Request) -> None:
        seen_keys.append(request.headers.get("idempotency-key") if request.method == "POST" else None)

    with Journal(journal) as handle:
        handle.write(item_identity(REQUESTS[0], 1), "submitting", idempotency_key=key).result()
    [result] = run_many(kind, fake, REQUESTS[:1], journal=journal, intercept=record_key)
    assert isinstance(result.error, UncertainSubmitError)
    assert result.error.task_may_exist
    assert key in str(result.error)
    assert (result.outcome, result.idempotency_key) == ("uncertain", key)
    assert fake.created == 0
    [again] = run_many(kind, fake, REQUESTS[:1], journal=journal, intercept=record_key, resend_uncertain=True)
    assert again.ok
    assert [k for k in seen_keys if k] == [key]  # sent once, with the key of the interrupted submit


def test_a_submit_that_may_have_made_a_task_stays_uncertain_and_is_not_sent_again(kind: str, tmp_path: Path) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    journal = tmp_path / "journal.jsonl"
    fake.inject("server_error", target="POST")  # a 500: the task may exist
    [result] = run_many(kind, fake, REQUESTS[:1], journal=journal)
    assert (result.outcome, result.state) == ("uncertain", "submitting")
    [again] = run_many(kind, fake, REQUESTS[:1], journal=journal)
    assert again.outcome == "uncertain"
    assert again.resumed
    assert fake.posts() == 1


def test_items_are_named_by_content_so_editing_the_input_never_pays_again(kind: str, tmp_path: Path) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    journal = tmp_path / "journal.jsonl"
    six = [REQUESTS[0], REQUESTS[1], REQUESTS[1], *REQUESTS[2:5]]  # a duplicate: two items, two tasks
    run_many(kind, fake, six, journal=journal)
    assert fake.created == 6
    edited = [*reversed(six[1:]), REQUESTS[5]]  # the first deleted, the rest reversed, one appended
    with pytest.warns(JournalWarning, match=r"1 entries match no item of this input \(1 finished\); their tasks"):
        results = run_many(kind, fake, edited, journal=journal)
    assert fake.created == 7
    assert [result.resumed for result in results] == [True] * 5 + [False]


def test_a_request_that_cannot_be_serialised_is_its_own_result_and_nothing_else_is_affected(kind: str) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    bad = WanImageToImage("edit", ["https://example.com/a.png"], extra_body={"seed": object()})
    results = run_many(kind, fake, [REQUESTS[0], bad, REQUESTS[1]], concurrency=3)
    assert isinstance(results[1].error, RequestValidationError)
    assert "extra_body" in str(results[1].error)
    assert [result.ok for result in results] == [True, False, True]
    assert fake.created == 2


class _Watched(Mapping[str, Any]):
    """An ``extra_body`` that notes how many tasks existed when it was read."""

    def __init__(self, fake: FakeEvoLink, seen: list[int]) -> None:
        self._fake, self._seen = fake, seen

    def __getitem__(self, key: str) -> Any:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        self._seen.append(self._fake.created)
        return iter(())

    def __len__(self) -> int:
        return 0


def test_every_item_of_a_list_is_checked_and_serialised_before_the_first_post(kind: str) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    seen: list[int] = []
    requests = [
        WanImageToImage(f"e {i}", ["https://example.com/a.png"], extra_body=_Watched(fake, seen)) for i in range(4)
    ]
    run_many(kind, fake, requests, concurrency=2)
    assert seen[:4] == [0, 0, 0, 0]


def test_any_exception_inside_an_item_becomes_its_result_and_no_slot_leaks(kind: str) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    broken = [0]

    def a_bug_in_the_first_three_waits(request: httpx.Request) -> httpx.Response | None:
        if request.method != "GET" or broken[0] >= 3:
            return None
        broken[0] += 1
        raise RuntimeError("a bug nobody planned for")  # not an EvoLinkError: it escapes wait()

    results = run_many(kind, fake, REQUESTS[:6], concurrency=1, intercept=a_bug_in_the_first_three_waits)
    assert [result.ok for result in results] == [False] * 3 + [True] * 3  # one slot, never leaked
    for result in results[:3]:
        assert (result.outcome, result.state) == ("unfinished", "submitted")  # a re-run waits on it
        assert isinstance(result.error.__cause__ if result.error else None, RuntimeError)


def test_retry_after_as_an_http_date_is_honoured(kind: str) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    clock = fake.clock
    assert isinstance(clock, FakeClock)
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    [result] = run_many(kind, fake, REQUESTS[:1], intercept=status_once(429, retry_after=when))
    assert result.ok
    assert [seconds for seconds in clock.sleeps if 28 <= seconds <= 30.01]  # the date's 30 s, not a back-off


def test_idempotency_keys_are_random_per_item_and_per_run(kind: str) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    keys: list[str] = []

    def record(request: httpx.Request) -> None:
        if request.method == "POST":
            keys.append(request.headers["idempotency-key"])

    run_many(kind, fake, REQUESTS[:3], intercept=record)
    run_many(kind, fake, REQUESTS[:3], intercept=record)
    assert len(set(keys)) == 6


def test_requests_are_read_lazily_a_few_per_worker_ahead(kind: str) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    read, ended, ahead = [0], [0], [0]

    def requests() -> Iterator[WanImageToImage]:
        for index in range(40):
            read[0] += 1
            ahead[0] = max(ahead[0], read[0] - ended[0])
            yield WanImageToImage(f"lazy {index}", ["https://example.com/a.png"])

    def on_result(result: BatchResult, progress: BatchProgress) -> None:
        ended[0] += 1

    results = run_many(kind, fake, requests(), concurrency=4, on_result=on_result, collect=False)
    assert results == []
    assert ended[0] == 40
    assert ahead[0] <= 2 * 4 + 1  # in flight, and waiting to be handed to on_result


def test_a_failing_input_iterable_stops_the_batch_and_is_raised(kind: str) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))

    def requests() -> Iterator[WanImageToImage]:
        yield REQUESTS[0]
        raise OSError("the disk went away")

    with pytest.raises(OSError, match="went away"):
        run_many(kind, fake, requests(), concurrency=2)


def test_an_on_result_that_raises_stops_the_batch_and_is_raised(kind: str) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))

    def on_result(result: BatchResult, progress: BatchProgress) -> None:
        raise LookupError("display broke")

    with pytest.raises(LookupError, match="display broke"):
        run_many(kind, fake, REQUESTS[:4], concurrency=1, on_result=on_result)
    assert fake.created < 4


def test_the_async_runner_cancels_and_awaits_every_task_it_started(tmp_path: Path) -> None:
    fake = FakeEvoLink(clock=time.monotonic, plan=TaskPlan(duration=60))
    journal = tmp_path / "journal.jsonl"

    async def main() -> set[asyncio.Task[Any]]:
        async with AsyncClient(fake.api_key, base_url=fake.base_url, transport=httpx.MockTransport(fake.handler)) as c:
            batch = asyncio.create_task(c.run_many(REQUESTS, concurrency=3, journal=journal))
            while fake.created < 3:
                await asyncio.sleep(0.01)
            started = time.monotonic()
            batch.cancel()
            with pytest.raises(asyncio.CancelledError):
                await batch
            assert time.monotonic() - started < 2
            return asyncio.all_tasks() - {asyncio.current_task()}

    assert asyncio.run(main()) == set()
    assert fake.created == 3
    assert sorted(journal_states(journal).values()) == ["submitted"] * 3
    Journal(journal).close()  # the lock was released


def test_a_stopping_sync_batch_waits_for_a_post_on_the_wire_and_journals_its_task(tmp_path: Path) -> None:
    import threading

    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    journal = tmp_path / "journal.jsonl"
    arrived = threading.Event()

    def slow_post(request: httpx.Request) -> None:
        if request.method == "POST":
            arrived.set()
            time.sleep(0.4)  # well inside the second a stopping batch gives a POST on the wire

    def requests() -> Iterator[WanImageToImage]:
        yield REQUESTS[0]
        assert arrived.wait(5)
        raise OSError("the disk went away")

    with pytest.raises(OSError, match="went away"):
        run_many("sync", fake, requests(), journal=journal, intercept=slow_post, concurrency=2)
    assert fake.created == 1
    record = journal_records(journal)[-1]
    assert (record["state"], record["task"]["id"]) == ("submitted", next(iter(fake.tasks)))
    Journal(journal).close()  # the lock was released


def test_the_sync_runner_stops_within_a_second_of_ctrl_c(tmp_path: Path) -> None:
    import _thread
    import threading

    fake = FakeEvoLink(clock=time.monotonic, plan=TaskPlan(duration=60))
    journal = tmp_path / "journal.jsonl"
    fired: list[float] = []

    def interrupt() -> None:
        while fake.created < 3:
            time.sleep(0.01)
        fired.append(time.monotonic())
        _thread.interrupt_main()

    threading.Thread(target=interrupt, daemon=True).start()
    client = Client(fake.api_key, base_url=fake.base_url, transport=httpx.MockTransport(fake.handler))
    with client, pytest.raises(KeyboardInterrupt):
        client.run_many(REQUESTS, concurrency=3, journal=journal)
    assert time.monotonic() - fired[0] < 1.5
    assert fake.created == 3
    assert sorted(journal_states(journal).values()) == ["submitted"] * 3
    Journal(journal).close()


def test_the_adaptive_limit_halves_once_per_congestion_event_and_climbs_back() -> None:
    limit = AdaptiveLimit(8)
    limit.rate_limited()
    limit.rate_limited()  # the same burst of 429s: one event
    assert limit.limit == 4
    limit.succeeded()
    limit.rate_limited()  # a new event after a success
    assert limit.limit == 2
    for _ in range(2 + 3):
        limit.succeeded()
    assert limit.limit == 4
    with pytest.raises(ValueError, match="at least 1"):
        AdaptiveLimit(0)


def test_a_released_slot_wakes_exactly_one_waiter() -> None:
    from evolink_images._batch import BatchSettings
    from evolink_images._batch_run import _AsyncSlots, _Run

    async def main() -> list[int]:
        run = _Run([], BatchSettings(AdaptiveLimit(1)), None, None, True)
        slots = _AsyncSlots(run)
        assert await slots.acquire()
        woken: list[int] = []

        async def waiter(number: int) -> None:
            await slots.acquire()
            woken.append(number)

        waiters = [asyncio.create_task(waiter(number)) for number in range(10)]
        await asyncio.sleep(0)
        slots.release()
        for _ in range(5):
            await asyncio.sleep(0)
        for task in waiters:
            task.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        return woken

    assert asyncio.run(main()) == [0]


def test_a_refused_connection_proves_no_task_and_the_submit_is_sent_again_after_a_pause(kind: str) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    refused = [1]

    def refuse_once(request: httpx.Request) -> httpx.Response | None:
        if request.method == "POST" and refused[0]:
            refused[0] -= 1
            raise httpx.ConnectError("connection refused", request=request)
        return None

    [result] = run_many(kind, fake, REQUESTS[:1], intercept=refuse_once)
    assert result.ok
    assert fake.created == 1


def test_a_cancelled_task_is_a_final_failure(kind: str, tmp_path: Path) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    fake.next_task(outcome="cancelled")
    journal = tmp_path / "journal.jsonl"
    [result] = run_many(kind, fake, REQUESTS[:1], journal=journal)
    assert (result.outcome, result.state) == ("failed", "finished")
    [again] = run_many(kind, fake, REQUESTS[:1], journal=journal)
    assert (again.outcome, again.resumed) == ("failed", True)
    assert fake.created == 1


def test_unmatched_uncertain_entries_are_reported_with_their_idempotency_keys(kind: str, tmp_path: Path) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    journal = tmp_path / "journal.jsonl"
    key = "evolink-batch-fedcba9876543210fedcba9876543210"
    with Journal(journal) as handle:
        handle.write(item_identity(REQUESTS[9], 1), "submitting", idempotency_key=key).result()
    with pytest.warns(JournalWarning, match=f"1 submitting.*idempotency keys: {key}"):
        run_many(kind, fake, REQUESTS[:1], journal=journal)


def journal_records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


def test_the_journal_holds_submitting_with_the_posts_own_key_before_the_post_then_each_later_state(
    kind: str, tmp_path: Path
) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    journal, out = tmp_path / "journal.jsonl", tmp_path / "out"
    at_post: list[tuple[dict[str, Any], str | None]] = []

    def read_the_journal_at_the_post(request: httpx.Request) -> None:
        if request.method == "POST":
            at_post.append((journal_records(journal)[-1], request.headers.get("idempotency-key")))

    [result] = run_many(kind, fake, REQUESTS[:1], journal=journal, save_to=out, intercept=read_the_journal_at_the_post)
    assert result.ok
    assert result.task is not None
    identity = item_identity(REQUESTS[0], 1)
    [(before_post, key)] = at_post
    assert key is not None
    assert key.startswith("evolink-batch-")
    assert before_post == {"item": identity, "state": "submitting", "index": 0, "idempotency_key": key}
    records = journal_records(journal)
    assert [(record["item"], record["state"], record["index"]) for record in records] == [
        (identity, "submitting", 0),
        (identity, "submitted", 0),
        (identity, "finished", 0),
        (identity, "saved", 0),
    ]
    assert records[1]["task_id"] == result.task.id
    assert records[1]["task"]["status"] == "pending"
    assert records[2]["task"]["status"] == records[3]["task"]["status"] == "completed"
    assert records[3]["files"] == [str(path) for path in result.files]


def test_a_post_cut_off_leaves_submitting_in_the_journal_and_the_rerun_resends_that_same_key_only_when_asked(
    kind: str, tmp_path: Path
) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    journal = tmp_path / "journal.jsonl"
    keys: list[str | None] = []

    def cut_off_the_first_post(request: httpx.Request) -> None:
        if request.method == "POST":
            keys.append(request.headers.get("idempotency-key"))
            if len(keys) == 1:
                raise httpx.ReadTimeout("the answer never came", request=request)

    [first] = run_many(kind, fake, REQUESTS[:1], journal=journal, intercept=cut_off_the_first_post)
    assert (first.outcome, first.state) == ("uncertain", "submitting")
    [written] = journal_records(journal)  # read back what the code wrote, not what a test wrote
    assert written == {
        "item": item_identity(REQUESTS[0], 1),
        "state": "submitting",
        "index": 0,
        "idempotency_key": keys[0],
    }
    [again] = run_many(kind, fake, REQUESTS[:1], journal=journal, intercept=cut_off_the_first_post)
    assert (again.outcome, again.resumed, again.idempotency_key) == ("uncertain", True, keys[0])
    assert len(keys) == 1  # not resent without resend_uncertain
    [resent] = run_many(
        kind, fake, REQUESTS[:1], journal=journal, intercept=cut_off_the_first_post, resend_uncertain=True
    )
    assert resent.ok
    assert keys == [keys[0], keys[0]]
    assert [record["state"] for record in journal_records(journal)] == [
        "submitting",
        "submitting",
        "submitted",
        "finished",
    ]
