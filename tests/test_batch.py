"""run_many: bounded adaptive concurrency, one outcome per item, and a journal that prevents double billing."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from evolink_images import (
    BatchProgress,
    BatchResult,
    PollSchedule,
    QwenImageEdit,
    RequestValidationError,
    TaskFailedError,
    UncertainSubmitError,
    WanImageToImage,
)
from evolink_images._batch import AdaptiveLimit
from evolink_images._batch_feed import item_identity
from evolink_images.testing.fake import FakeEvoLink, TaskPlan

REQUESTS = [WanImageToImage(f"edit {i}", ["https://example.com/a.png"]) for i in range(12)]


def run_many(
    kind: str, fake: FakeEvoLink, requests: list[Any], schedule: PollSchedule | None = None, **options: Any
) -> list[BatchResult]:
    if kind == "sync":
        with fake.client(poll_schedule=schedule) as client:
            return client.run_many(requests, **options)

    async def main() -> list[BatchResult]:
        async with fake.async_client(poll_schedule=schedule) as client:
            return await client.run_many(requests, **options)

    return asyncio.run(main())


@pytest.fixture(params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_every_item_ends_with_its_result_or_its_error_in_order(kind: str) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=10))
    fake.next_task()
    requests = [*REQUESTS[:3], QwenImageEdit("", ["https://example.com/a.png"]), REQUESTS[3]]
    fake.next_task(outcome="completed")
    fake.next_task(outcome="failed", error_code="content_policy_violation")
    results = run_many(kind, fake, requests, concurrency=2)
    assert [result.index for result in results] == [0, 1, 2, 3, 4]
    assert [result.request for result in results] == requests
    assert isinstance(results[3].error, RequestValidationError)
    assert sum(isinstance(result.error, TaskFailedError) for result in results) == 1
    assert sum(result.ok for result in results) == 3
    assert fake.created == 4


def test_concurrency_is_never_exceeded_and_recovers_after_429s(kind: str) -> None:
    # Concurrency needs a real scheduler, so this test runs in scaled-down real time (about 2 s):
    # 0.3 s tasks, polls every 20-50 ms, an account limit of 3 tasks in flight.
    fake = FakeEvoLink(clock=time.monotonic, plan=TaskPlan(duration=0.3), max_running=3, retry_after="0")
    seen: list[BatchProgress] = []
    fast = PollSchedule(min_interval=0.02, max_interval=0.05)
    results = run_many(
        kind, fake, REQUESTS, concurrency=6, on_result=lambda result, progress: seen.append(progress), schedule=fast
    )
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


def test_after_a_crash_submitted_items_are_waited_on_and_interrupted_submits_are_not_resent(
    kind: str, tmp_path: Path
) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=5))
    with fake.client() as client:
        existing = client.submit(REQUESTS[1])
    journal = tmp_path / "journal.jsonl"
    lines = [
        {"key": item_key(1, REQUESTS[1]), "state": "submitted", "task_id": existing.id},
        {"key": item_key(2, REQUESTS[2]), "state": "submitting"},
    ]
    journal.write_text("".join(json.dumps(line) + "\n" for line in lines))
    results = run_many(kind, fake, REQUESTS[:3], concurrency=2, journal=journal)
    assert results[0].ok
    assert results[1].ok
    assert results[1].task is not None
    assert results[1].task.id == existing.id
    assert isinstance(results[2].error, UncertainSubmitError)
    assert results[2].error.task_may_exist
    assert fake.created == 2  # the existing task and item 0: nothing submitted twice


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
