"""Polling: the pure schedule, and wait() through both clients on a fake clock."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from evolink_images import (
    NotFoundError,
    PollSchedule,
    Task,
    TaskCancelledError,
    TaskFailedError,
    WaitTimeoutError,
    WanImageToImage,
)
from evolink_images._polling import Poll, Sleep, wait_flow
from evolink_images.testing.fake import FakeClock, FakeEvoLink, TaskPlan
from evolink_images.testing.payloads import error_json, task_json

from .conftest import BASE_URL, Face

TASK_URL = f"{BASE_URL}/v1/tasks/task-1"
SUBMIT_URL = f"{BASE_URL}/v1/images/generations"


def task(status: str = "pending", **fields: Any) -> Task:
    return Task.from_dict(task_json(status, id="task-1", **fields))


def responses(*bodies: dict[str, Any] | httpx.Response | Exception) -> list[Any]:
    return [body if isinstance(body, httpx.Response | Exception) else httpx.Response(200, json=body) for body in bodies]


class TestSchedule:
    schedule = PollSchedule(min_interval=1.0, max_interval=5.0, far_fraction=0.5, backoff=1.5)

    def test_far_from_the_estimate_it_sleeps_half_the_time_left(self) -> None:
        assert self.schedule.next_delay(0, 20, 0) == 10
        assert self.schedule.next_delay(10, 20, 0) == 5

    def test_close_to_the_estimate_it_polls_at_the_minimum_interval(self) -> None:
        assert self.schedule.next_delay(19, 20, 0) == 1
        assert self.schedule.next_delay(19.5, 20, 0) == 0.5

    def test_after_the_estimate_it_backs_off_up_to_the_cap(self) -> None:
        delays = [self.schedule.next_delay(30, 20, n) for n in range(8)]
        assert delays[:3] == [1.0, 1.5, 2.25]
        assert delays == sorted(delays)
        assert max(delays) == 5.0

    def test_float_noise_before_the_estimate_counts_as_reaching_it(self) -> None:
        assert self.schedule.next_delay(30 - 8.5e-14, 30, 0) == 1.0

    def test_without_an_estimate_it_backs_off_from_the_start(self) -> None:
        assert self.schedule.next_delay(0, None, 0) == 1.0
        assert self.schedule.next_delay(0, None, 20) == 5.0

    def test_a_long_estimate_still_polls_at_least_every_thirty_seconds(self) -> None:
        assert self.schedule.next_delay(0, 1000, 0) == 30


def test_the_flow_sleeps_then_polls_and_returns_the_completed_task(clock: FakeClock) -> None:
    flow = wait_flow(task(), timeout=100, clock=clock, schedule=PollSchedule())
    step = next(flow)
    assert step == Sleep(15)
    clock.sleep(15)
    assert flow.send(None) == Poll()
    with pytest.raises(StopIteration) as done:
        flow.send(task("completed"))
    assert done.value.value.status == "completed"


def test_wait_returns_the_completed_task(api_client: Face, api: respx.Router) -> None:
    api.get(TASK_URL).mock(
        side_effect=responses(task_json("processing", id="task-1"), task_json("completed", id="task-1"))
    )
    result = api_client.wait(task())
    assert result.is_completed
    assert result.results


def test_wait_on_a_finished_task_does_not_poll(api_client: Face, api: respx.Router) -> None:
    route = api.route()
    assert api_client.wait(task("completed")).is_completed
    assert route.call_count == 0


def test_a_failed_task_raises_with_its_code_and_who_is_to_blame(api_client: Face, api: respx.Router) -> None:
    failed = task_json("failed", id="task-1", error={"code": "content_policy_violation", "message": "no"})
    api.get(TASK_URL).respond(200, json=failed)
    with pytest.raises(TaskFailedError) as caught:
        api_client.wait("task-1")
    error = caught.value
    assert (error.code, error.message, error.cause, error.task_id) == (
        "content_policy_violation",
        "no",
        "request",
        "task-1",
    )
    assert error.task.error is not None
    assert not error.task.error.retryable
    assert "retrying it unchanged will fail again" in str(error)


def test_a_service_failure_says_a_retry_may_help(api_client: Face, api: respx.Router) -> None:
    api.get(TASK_URL).respond(200, json=task_json("failed", id="task-1"))
    with pytest.raises(TaskFailedError) as caught:
        api_client.wait("task-1")
    assert caught.value.cause == "service"


def test_a_cancelled_task_raises_task_cancelled(api_client: Face, api: respx.Router) -> None:
    api.get(TASK_URL).respond(200, json=task_json("cancelled", id="task-1"))
    with pytest.raises(TaskCancelledError) as caught:
        api_client.wait("task-1")
    assert caught.value.task_id == "task-1"


def test_unknown_statuses_count_as_not_finished(api_client: Face, api: respx.Router) -> None:
    api.get(TASK_URL).mock(
        side_effect=responses(
            task_json("queued", id="task-1"),
            task_json("moderation_review", id="task-1"),
            task_json("completed", id="task-1"),
        )
    )
    assert api_client.wait("task-1").is_completed


def test_transient_poll_failures_do_not_end_the_wait(client_factory: Any, api: respx.Router) -> None:
    client = client_factory(max_retries=0)
    api.get(TASK_URL).mock(
        side_effect=responses(
            httpx.ConnectError("refused"),
            httpx.Response(429, json=error_json("rate_limit_exceeded")),
            httpx.Response(502, text="<html>"),
            httpx.Response(200, content=b"{trunc"),
            task_json("completed", id="task-1"),
        )
    )
    assert client.wait("task-1").is_completed


def test_a_permanent_poll_failure_ends_the_wait_and_names_the_task(api_client: Face, api: respx.Router) -> None:
    api.get(TASK_URL).respond(404, json=error_json("task_not_found"))
    with pytest.raises(NotFoundError) as caught:
        api_client.wait("task-1")
    assert caught.value.task_id == "task-1"


def test_the_wait_never_outlives_its_deadline(api_client: Face, api: respx.Router, clock: FakeClock) -> None:
    route = api.get(TASK_URL).respond(200, json=task_json("processing", id="task-1"))
    start = clock()
    with pytest.raises(WaitTimeoutError) as caught:
        api_client.wait(task(), timeout=60)
    assert clock() - start <= 60
    assert caught.value.task_id == "task-1"
    assert caught.value.task.status == "processing"
    assert "wait('task-1')" in str(caught.value)
    assert route.call_count >= 5


def test_a_wait_that_never_reaches_the_task_still_times_out(
    client_factory: Any, api: respx.Router, clock: FakeClock
) -> None:
    client = client_factory(max_retries=0)
    api.get(TASK_URL).mock(side_effect=httpx.ConnectError("refused"))
    start = clock()
    with pytest.raises(WaitTimeoutError) as caught:
        client.wait("task-1", timeout=30)
    assert clock() - start <= 30
    assert caught.value.task.status == "unknown"


def test_on_update_is_called_on_every_change_of_status_or_progress(api_client: Face, api: respx.Router) -> None:
    api.get(TASK_URL).mock(
        side_effect=responses(
            task_json("processing", progress=10, id="task-1"),
            task_json("processing", progress=10, id="task-1"),
            task_json("processing", progress=60, id="task-1"),
            task_json("completed", id="task-1"),
        )
    )
    seen: list[tuple[str, int]] = []
    api_client.wait(task(), on_update=lambda t: seen.append((t.status, t.progress)))
    assert seen == [("pending", 0), ("processing", 10), ("processing", 60), ("completed", 100)]


def test_run_submits_once_and_waits(api_client: Face, api: respx.Router) -> None:
    post = api.post(SUBMIT_URL).respond(200, json=task_json("pending", id="task-1"))
    api.get(TASK_URL).mock(
        side_effect=responses(
            httpx.ConnectError("x"),
            httpx.ConnectError("x"),
            httpx.ConnectError("x"),
            task_json("completed", id="task-1"),
        )
    )
    result = api_client.run(WanImageToImage("Make it night", ["https://example.com/a.png"]))
    assert result.is_completed
    assert post.call_count == 1


@pytest.mark.parametrize(("duration", "estimate"), [(30, 30), (30, 15), (30, 45), (120, 60), (8, 12)])
def test_estimate_and_progress_keep_polls_few_and_the_lag_short(duration: float, estimate: int) -> None:
    fake = FakeEvoLink(plan=TaskPlan(duration=duration, estimated_time=estimate))
    client = fake.client()
    clock = fake.clock
    task = client.submit(WanImageToImage("x", ["https://example.com/a.png"]))
    created = clock()
    client.wait(task)
    polls = sum(1 for method, _ in fake.requests if method == "GET")
    assert clock() - created - duration <= 1.0  # found within a second of completing
    assert polls <= 12


def test_a_stalled_progress_does_not_push_the_next_poll_out(
    api_client: Face, api: respx.Router, clock: FakeClock
) -> None:
    api.get(TASK_URL).mock(
        side_effect=responses(
            *[task_json("processing", progress=40, id="task-1")] * 12, task_json("completed", id="task-1")
        )
    )
    api_client.wait(task(task_info={"estimated_time": 30}), timeout=120)
    assert max(clock.sleeps) <= 15


def test_wait_refuses_a_bad_task_id(api_client: Face) -> None:
    with pytest.raises(ValueError, match="task_id"):
        api_client.wait("")
