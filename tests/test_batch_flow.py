"""One batch item's state machine (``item_flow``) driven step by step, with no driver, clock or network.

Each test sends the flow the answers a driver would and checks every step it yields: what it records
before a POST, when it gives its slot back, how long it pauses, what it concludes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from evolink_images import WanImageToImage
from evolink_images._batch import (
    MAX_SUBMIT_ATTEMPTS,
    AdaptiveLimit,
    BatchResult,
    BatchSettings,
    Pause,
    Record,
    Save,
    Submit,
    UncertainSubmitError,
    Wait,
    as_item_error,
    item_flow,
    new_batch_key,
)
from evolink_images._batch_feed import Item
from evolink_images._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    BadRequestError,
    EvoLinkError,
    InternalServerError,
    RateLimitError,
    TaskCancelledError,
    TaskFailedError,
    WaitTimeoutError,
)
from evolink_images._retry import RetryPolicy
from evolink_images._task import Task

REQUEST = WanImageToImage("Make it night", ["https://example.com/a.png"])
ITEM = Item(3, REQUEST, "digest#1")
KEY = "evolink-batch-0123456789abcdef0123456789abcdef"


def task(status: str = "completed", **extra: Any) -> Task:
    body: dict[str, Any] = {"id": "task-unified-1-abc", "status": status, **extra}
    if status == "completed":
        body.setdefault("results", ["https://files.example/r.png"])
    if status == "failed":
        body.setdefault("error", {"code": "content_policy_violation", "message": "no"})
    return Task.from_dict(body)


def status_error(kind: type[APIStatusError], status: int, retry_after: str | None = None) -> Any:
    headers = {"retry-after": retry_after} if retry_after else {}
    request = httpx.Request("POST", "https://api.evolink.ai/v1/images/generations")
    response = httpx.Response(status, headers=headers, request=request)
    return kind(f"HTTP {status}", response=response)


def settings(**options: Any) -> BatchSettings:
    options.setdefault("limit", AdaptiveLimit(4))
    options.setdefault("policy", RetryPolicy(jitter=lambda: 1.0))
    options.setdefault("wall_clock", lambda: 1_700_000_000.0)
    return BatchSettings(**options)


def drive(
    record: dict[str, Any] | None, shared: BatchSettings, answers: list[Any], item: Item = ITEM
) -> tuple[list[Any], BatchResult]:
    """Run the flow, answering each Submit, Wait and Save with the next of ``answers``; return steps and result."""
    flow = item_flow(item, record, shared)
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


def kinds(steps: list[Any]) -> list[str]:
    return [
        f"{type(step).__name__}:{step.state}" if isinstance(step, Record) else type(step).__name__ for step in steps
    ]


def test_a_new_item_records_submitting_durably_before_its_post_then_submitted_then_finished() -> None:
    done = task()
    steps, result = drive(None, settings(), [task("pending"), done])
    assert kinds(steps) == [
        "Acquire",
        "Record:submitting",
        "Submit",
        "Record:submitted",
        "Wait",
        "Release",
        "Record:finished",
    ]
    submitting, submit = steps[1], steps[2]
    assert submitting.durable is True
    assert submit.request is REQUEST
    assert submitting.fields == {"idempotency_key": submit.idempotency_key}
    assert submit.idempotency_key.startswith("evolink-batch-")
    assert steps[3].durable is False
    assert steps[3].fields == {
        "task_id": "task-unified-1-abc",
        "task": {"id": "task-unified-1-abc", "status": "pending"},
    }
    assert steps[4] == Wait(task("pending"))
    assert steps[6].fields == {"task": dict(done.raw)}
    assert (result.index, result.request, result.outcome, result.state, result.task) == (
        3,
        REQUEST,
        "done",
        "finished",
        done,
    )
    assert (result.error, result.resumed, result.files, result.idempotency_key) == (
        None,
        False,
        (),
        submit.idempotency_key,
    )
    assert result.ok


def test_each_item_gets_its_own_random_key_of_32_hex_digits() -> None:
    keys = {new_batch_key() for _ in range(50)}
    assert len(keys) == 50
    for key in keys:
        assert key.startswith("evolink-batch-")
        assert len(key) == len("evolink-batch-") + 32
        int(key.removeprefix("evolink-batch-"), 16)


def test_a_completed_task_is_saved_when_a_folder_is_given_and_the_files_are_recorded(tmp_path: Path) -> None:
    done = task()
    saved = [tmp_path / "a.png", tmp_path / "b.png"]
    steps, result = drive(None, settings(save_to=tmp_path), [done, done, [str(path) for path in saved]])
    assert kinds(steps)[-3:] == ["Record:finished", "Save", "Record:saved"]
    assert steps[-2] == Save(done, tmp_path)
    assert steps[-1].fields == {"task": dict(done.raw), "files": [str(path) for path in saved]}
    assert (result.outcome, result.state, result.files) == ("done", "saved", tuple(saved))


def test_a_failed_download_leaves_the_item_finished_and_unfinished(tmp_path: Path) -> None:
    done = task()
    steps, result = drive(None, settings(save_to=tmp_path), [done, done, OSError("disk")])
    assert kinds(steps)[-1] == "Save"
    assert (result.outcome, result.state, result.task) == ("unfinished", "finished", done)
    assert isinstance(result.error, EvoLinkError)
    assert str(result.error) == (
        "item 3: unexpected OSError: disk (task task-unified-1-abc; resume with wait('task-unified-1-abc'))"
    )
    assert result.error.task_id == "task-unified-1-abc"
    assert isinstance(result.error.__cause__, OSError)


@pytest.mark.parametrize(("status", "error"), [("failed", TaskFailedError), ("cancelled", TaskCancelledError)])
def test_a_failed_or_cancelled_task_is_final_and_never_saved(tmp_path: Path, status: str, error: type) -> None:
    ended = task(status)
    steps, result = drive(None, settings(save_to=tmp_path), [task("pending"), error(ended)])
    assert kinds(steps)[-2:] == ["Release", "Record:finished"]
    assert (result.outcome, result.state, result.task) == ("failed", "finished", ended)
    assert isinstance(result.error, error)
    assert not result.ok


def test_a_wait_that_times_out_leaves_the_item_submitted_for_a_rerun_to_wait_on() -> None:
    pending = task("pending")
    steps, result = drive(None, settings(), [pending, WaitTimeoutError(pending, 5)])
    assert kinds(steps)[-2:] == ["Wait", "Release"]
    assert (result.outcome, result.state) == ("unfinished", "submitted")
    assert isinstance(result.error, WaitTimeoutError)


def test_a_wait_that_fails_with_anything_else_is_wrapped_with_the_task_id() -> None:
    steps, result = drive({"state": "submitted", "task_id": "task-unified-9"}, settings(), [RuntimeError("boom")])
    assert kinds(steps) == ["Acquire", "Wait", "Release"]
    assert steps[1] == Wait("task-unified-9")
    assert (result.outcome, result.state) == ("unfinished", "submitted")
    assert result.error is not None
    assert (str(result.error), result.error.task_id) == (
        "item 3: unexpected RuntimeError: boom (task task-unified-9; resume with wait('task-unified-9'))",
        "task-unified-9",
    )


def test_a_submitted_item_with_its_task_on_record_waits_on_that_task_without_posting() -> None:
    pending = task("pending")
    record = {"state": "submitted", "task_id": "ignored", "task": dict(pending.raw), "idempotency_key": KEY}
    steps, result = drive(record, settings(), [task()])
    assert kinds(steps) == ["Acquire", "Wait", "Release", "Record:finished"]
    assert steps[1] == Wait(pending)
    # Resumed: its task comes from an earlier run's journal (nothing was sent for it now).
    assert (result.outcome, result.resumed, result.idempotency_key) == ("done", True, KEY)


@pytest.mark.parametrize("status", [429, 503])
def test_a_refusal_that_proves_no_task_exists_is_recorded_pending_and_sent_again_after_a_pause_with_the_same_key(
    status: int,
) -> None:
    kind = RateLimitError if status == 429 else InternalServerError
    limit = AdaptiveLimit(4)
    refused = status_error(kind, status)
    steps, result = drive(None, settings(limit=limit), [refused, task("pending"), task()])
    assert kinds(steps)[:10] == [
        "Acquire",
        "Record:submitting",
        "Submit",
        "Record:pending",
        "Release",
        "Pause",
        "Acquire",
        "Record:submitting",
        "Submit",
        "Record:submitted",
    ]
    key = steps[2].idempotency_key
    assert steps[3].fields == {"idempotency_key": key, "error": str(refused)}
    assert steps[8].idempotency_key == key
    assert steps[5] == Pause(0.5)  # the policy's first back-off (jitter 1)
    assert limit.limit == (2 if status == 429 else 4)
    assert result.ok


def test_a_retry_after_on_a_refused_submit_sets_the_pause() -> None:
    refused = status_error(RateLimitError, 429, retry_after="7")
    steps, _ = drive(None, settings(), [refused, task("pending"), task()])
    assert steps[5] == Pause(7.0)


def test_a_connection_never_made_is_sent_again_as_often_as_the_client_retries_with_growing_pauses() -> None:
    assert RetryPolicy(jitter=lambda: 1.0).max_retries == 2
    refusals = [APIConnectionError("refused") for _ in range(2)]
    steps, result = drive(None, settings(), [*refusals, task("pending"), task()])
    assert [step.seconds for step in steps if isinstance(step, Pause)] == [0.5, 1.0]
    assert result.ok


def test_an_unreachable_api_leaves_the_item_pending_after_the_clients_retries_not_eight_attempts() -> None:
    refusals = [APIConnectionError("refused") for _ in range(3)]
    steps, result = drive(None, settings(), refusals)
    assert sum(isinstance(step, Submit) for step in steps) == 3
    assert (result.outcome, result.state, result.error is not None) == ("unfinished", "pending", True)


def test_an_item_refused_every_time_stops_after_the_ninth_submit_and_stays_pending() -> None:
    assert MAX_SUBMIT_ATTEMPTS == 8
    refusals = [status_error(InternalServerError, 503) for _ in range(9)]
    steps, result = drive(None, settings(), refusals)
    assert sum(isinstance(step, Submit) for step in steps) == 9
    assert kinds(steps)[-2:] == ["Record:pending", "Release"]
    assert (result.outcome, result.state) == ("unfinished", "pending")
    assert result.error is refusals[-1]


@pytest.mark.parametrize("status", [401, 402, 403])
def test_a_refusal_not_worth_resending_stays_pending_at_once(status: int) -> None:
    refused = status_error(APIStatusError, status)
    steps, result = drive(None, settings(), [refused])
    assert kinds(steps) == ["Acquire", "Record:submitting", "Submit", "Record:pending", "Release"]
    assert (result.outcome, result.state, result.error) == ("unfinished", "pending", refused)


def test_a_bad_request_is_final_and_recorded_finished_with_its_message() -> None:
    refused = status_error(BadRequestError, 400)
    steps, result = drive(None, settings(), [refused])
    assert kinds(steps) == ["Acquire", "Record:submitting", "Submit", "Record:finished", "Release"]
    assert steps[3].fields == {"error": str(refused)}
    assert (result.outcome, result.state, result.error) == ("failed", "finished", refused)


@pytest.mark.parametrize(
    "outcome",
    [
        APITimeoutError("read timeout", task_may_exist=True),
        APIConnectionError("dropped", task_may_exist=True),
        "InternalServerError 500",
        "InternalServerError 502",
        RuntimeError("unexpected"),
    ],
)
def test_a_submit_that_may_have_created_a_task_is_uncertain_keeps_submitting_and_is_never_sent_again(
    outcome: Any,
) -> None:
    if isinstance(outcome, str):
        outcome = status_error(InternalServerError, int(outcome.split()[1]))
    steps, result = drive(None, settings(), [outcome])
    assert kinds(steps) == ["Acquire", "Record:submitting", "Submit", "Release"]
    key = steps[2].idempotency_key
    assert (result.outcome, result.state, result.idempotency_key) == ("uncertain", "submitting", key)
    assert isinstance(result.error, UncertainSubmitError)
    assert result.error.task_may_exist
    assert result.error.__cause__ is outcome
    assert str(result.error).startswith(f"the submit of item 3 (idempotency key {key}) failed after it was sent: ")


def test_an_interrupted_submit_is_reported_uncertain_on_a_rerun_with_its_key_and_how_to_resend() -> None:
    steps, result = drive({"state": "submitting", "idempotency_key": KEY}, settings(), [])
    assert steps == []
    assert (result.outcome, result.state, result.resumed, result.idempotency_key) == (
        "uncertain",
        "submitting",
        True,
        KEY,
    )
    assert isinstance(result.error, UncertainSubmitError)
    assert str(result.error) == (
        f"item 3 was being submitted (idempotency key {KEY}) when an earlier run stopped: a task may exist, so it"
        " was not sent again. Check your recent tasks; to send it again with the same key, re-run with"
        " resend_uncertain=True (--resend-uncertain); a task may have been created (and billed) all the same:"
        " check your recent tasks before submitting again"
    )


def test_an_interrupted_submit_is_sent_again_with_its_recorded_key_only_when_asked() -> None:
    steps, result = drive(
        {"state": "submitting", "idempotency_key": KEY}, settings(resend_uncertain=True), [task("pending"), task()]
    )
    assert steps[2] == Submit(REQUEST, KEY)
    assert steps[1].fields == {"idempotency_key": KEY}
    assert result.ok


def test_a_recorded_key_that_is_not_text_is_replaced_by_a_new_one() -> None:
    steps, result = drive({"state": "pending", "idempotency_key": 7}, settings(), [task("pending"), task()])
    assert steps[2].idempotency_key.startswith("evolink-batch-")
    assert result.idempotency_key == steps[2].idempotency_key


def test_a_saved_item_whose_files_exist_is_done_without_a_step(tmp_path: Path) -> None:
    done = task()
    (tmp_path / "a.png").write_bytes(b"x")
    record = {"state": "saved", "task": dict(done.raw), "files": [str(tmp_path / "a.png")], "idempotency_key": KEY}
    steps, result = drive(record, settings(save_to=tmp_path), [])
    assert steps == []
    assert (result.outcome, result.state, result.resumed, result.files) == (
        "done",
        "saved",
        True,
        (tmp_path / "a.png",),
    )
    assert result.task == done


def test_a_saved_item_with_a_missing_file_is_downloaded_again(tmp_path: Path) -> None:
    done = task()
    record = {"state": "saved", "task": dict(done.raw), "files": [str(tmp_path / "gone.png")]}
    steps, result = drive(record, settings(save_to=tmp_path), [[str(tmp_path / "gone.png")]])
    assert kinds(steps) == ["Save", "Record:saved"]
    assert (result.outcome, result.resumed) == ("done", True)


def test_a_finished_refusal_on_record_fails_again_without_sending() -> None:
    steps, result = drive({"state": "finished", "error": "HTTP 400: bad prompt"}, settings(), [])
    assert steps == []
    assert (result.outcome, result.state, result.resumed) == ("failed", "finished", True)
    assert str(result.error) == "HTTP 400: bad prompt (in an earlier run; sending it again would fail again)"
    _, plain = drive({"state": "finished"}, settings(), [])
    assert str(plain.error) == "the API refused the request (in an earlier run; sending it again would fail again)"


def test_an_item_that_could_not_be_read_fails_pending_without_a_step() -> None:
    broken = Item(5, REQUEST, "digest#2", error=EvoLinkError("line 6: not JSON"))
    steps, result = drive(None, settings(), [], item=broken)
    assert steps == []
    assert (result.index, result.outcome, result.state, result.error) == (5, "failed", "pending", broken.error)


def test_an_error_of_the_package_is_an_items_error_as_it_is_and_anything_else_is_wrapped() -> None:
    own = EvoLinkError("own")
    assert as_item_error(own, 1) is own
    wrapped = as_item_error(KeyError("k"), 4, "task-1")
    assert (str(wrapped), wrapped.task_id, type(wrapped.__cause__)) == (
        "item 4: unexpected KeyError: 'k' (task task-1; resume with wait('task-1'))",
        "task-1",
        KeyError,
    )
    assert str(as_item_error(ValueError("v"), 2)) == "item 2: unexpected ValueError: v"


def test_the_limit_starts_at_its_ceiling_and_refuses_a_ceiling_below_one() -> None:
    assert (AdaptiveLimit(3).limit, AdaptiveLimit(3, limit=2).limit) == (3, 2)
    with pytest.raises(ValueError, match=r"^concurrency must be at least 1$"):
        AdaptiveLimit(0)
    AdaptiveLimit(1)


def test_the_limit_admits_tasks_up_to_itself_and_no_further() -> None:
    limit = AdaptiveLimit(2)
    assert limit.has_room()
    limit.take()
    assert limit.has_room()
    limit.take()
    assert not limit.has_room()
    assert limit.in_flight == 2
    limit.give_back()
    assert limit.has_room()
    assert limit.in_flight == 1


def test_a_429_halves_the_limit_once_per_congestion_and_successes_raise_it_one_at_a_time_up_to_the_ceiling() -> None:
    limit = AdaptiveLimit(8)
    limit.rate_limited()
    limit.rate_limited()  # the same congestion event
    assert limit.limit == 4
    for _ in range(3):
        limit.succeeded()
    assert limit.limit == 4
    limit.succeeded()  # the 4th success at limit 4
    assert limit.limit == 5
    limit.rate_limited()
    assert limit.limit == 2
    limit.succeeded()
    limit.rate_limited()
    assert limit.limit == 1
    limit.rate_limited()
    assert limit.limit == 1
    for _ in range(200):
        limit.succeeded()
    assert limit.limit == 8  # never above the ceiling
    one = AdaptiveLimit(1)
    one.rate_limited()
    assert one.limit == 1


def test_after_a_raise_the_limit_needs_as_many_new_successes_as_its_new_value() -> None:
    limit = AdaptiveLimit(8)
    limit.rate_limited()
    for _ in range(4):
        limit.succeeded()
    assert limit.limit == 5
    for _ in range(4):
        limit.succeeded()
    assert limit.limit == 5
    limit.succeeded()
    assert limit.limit == 6


def test_a_successful_submit_counts_toward_raising_the_limit() -> None:
    limit = AdaptiveLimit(4, limit=1)
    _, result = drive(None, settings(limit=limit), [task("pending"), task()])
    assert result.ok
    assert limit.limit == 2


def test_a_submit_refused_by_validation_fails_the_item_as_finished_not_uncertain() -> None:
    from evolink_images import RequestValidationError
    from evolink_images._errors import Violation

    refused = RequestValidationError([Violation("image_urls[0]", "is 100x100 px", "each side within [360, 5000] px")])
    steps, result = drive(None, settings(), [refused])
    assert kinds(steps) == ["Acquire", "Record:submitting", "Submit", "Record:finished", "Release"]
    assert (result.outcome, result.state, result.error) == ("failed", "finished", refused)


def test_a_status_below_500_proves_no_task_was_created() -> None:
    refused = status_error(APIStatusError, 499)
    _, result = drive(None, settings(), [refused])
    assert (result.outcome, result.state) == ("unfinished", "pending")


def test_a_limit_started_below_its_ceiling_rises_after_as_many_successes_as_its_value() -> None:
    limit = AdaptiveLimit(4, limit=2)
    limit.succeeded()
    assert limit.limit == 2
    limit.succeeded()
    assert limit.limit == 3
