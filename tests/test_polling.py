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
from evolink_images._schedule import Evidence, Reading
from evolink_images.testing.fake import FakeClock, FakeEvoLink, TaskPlan
from evolink_images.testing.payloads import error_json, task_json

from .conftest import BASE_URL, Face

TASK_URL = f"{BASE_URL}/v1/tasks/task-1"
SUBMIT_URL = f"{BASE_URL}/v1/images/generations"


def task(status: str = "pending", **fields: Any) -> Task:
    return Task.from_dict(task_json(status, id="task-1", **fields))


def responses(*bodies: dict[str, Any] | httpx.Response | Exception) -> list[Any]:
    return [body if isinstance(body, httpx.Response | Exception) else httpx.Response(200, json=body) for body in bodies]


def evidence(*readings: tuple[float, str, int], estimate: float | None = None, started: float = 0.0) -> Evidence:
    """Evidence as the flow builds it: the create response (pending, at ``started``), then ``readings``."""
    built = Evidence(started=started, estimate=estimate)
    built.add(Reading(started, "pending", 0))
    for at, status, progress in readings:
        built.add(Reading(at, status, progress))
    return built


class TestEvidence:
    def test_queue_time_is_not_work(self) -> None:
        seen = evidence((50, "pending", 0), (100, "pending", 0), (110, "processing", 10))
        assert seen.work_from == 100

    def test_a_task_never_seen_pending_works_from_the_start_of_the_wait(self) -> None:
        seen = Evidence(started=7.0)
        seen.add(Reading(9.0, "processing", 0))
        assert seen.work_from == 7.0

    def test_only_readings_whose_progress_differs_are_kept_as_changes(self) -> None:
        seen = evidence((10, "processing", 20), (15, "processing", 20), (20, "processing", 40))
        assert [(change.at, change.progress) for change in seen.changes] == [(10, 20), (20, 40)]


class TestSchedule:
    schedule = PollSchedule()  # min 1.5 s, max 6 s, blind cap 9 s, far cap 72 s, far fraction 0.5, trust 0.3

    def test_the_rate_comes_from_readings_that_differ_not_from_creation(self) -> None:
        # 100 s queued, then 10%: from creation that is a 1,000 s task; the readings say 100 s of work.
        seen = evidence((100, "pending", 0), (110, "processing", 10), (115, "processing", 10), (120, "processing", 20))
        assert self.schedule.rate(seen) == 1.0
        assert self.schedule.expected_end(seen) == 200

    def test_the_faster_of_the_last_step_and_all_steps_sets_the_rate(self) -> None:
        seen = evidence((0.5, "processing", 0), (10.5, "processing", 10), (20.5, "processing", 40))
        assert self.schedule.rate(seen) == 3.0
        assert self.schedule.expected_end(seen) == 40.5

    def test_one_progress_value_is_no_rate(self) -> None:
        seen = evidence((100, "pending", 0), (110, "processing", 10), (130, "processing", 10))
        assert self.schedule.rate(seen) is None

    def test_far_from_the_end_it_sleeps_half_the_time_left(self) -> None:
        seen = evidence((100, "pending", 0), (110, "processing", 10), (120, "processing", 20))
        assert self.schedule.next_delay(seen, 150) == 25

    def test_a_young_rate_is_not_extrapolated_further_than_the_work_seen(self) -> None:
        # 1% after 10 s says 1,000 s, but progress may speed up: no sleep longer than the 20 s worked.
        seen = evidence((100, "pending", 0), (110, "processing", 0), (120, "processing", 1))
        assert self.schedule.next_delay(seen, 120) == 20

    def test_near_the_end_it_halves_the_time_left_down_to_the_minimum(self) -> None:
        seen = evidence((10, "processing", 20), (20, "processing", 40))  # ends at 50
        assert self.schedule.next_delay(seen, 45) == 2.5
        assert self.schedule.next_delay(seen, 49.5) == 1.5

    def test_a_stalled_progress_does_not_push_the_end_out_and_past_it_the_sleep_grows_to_the_cap(self) -> None:
        seen = evidence((10, "processing", 20), (20, "processing", 40), (40, "processing", 40), (50, "processing", 40))
        assert self.schedule.expected_end(seen) == 50
        assert self.schedule.next_delay(seen, 50) == 1.5
        assert self.schedule.next_delay(seen, 52) == 3.5
        assert self.schedule.next_delay(seen, 100) == 6

    def test_without_progress_it_sleeps_to_three_tenths_of_the_estimate_then_polls_evenly(self) -> None:
        seen = evidence((1, "processing", 0), estimate=30)
        assert self.schedule.next_delay(seen, 1) == 8
        assert self.schedule.next_delay(seen, 9) == 6
        assert self.schedule.next_delay(seen, 30) == 6
        assert self.schedule.next_delay(seen, 300) == 6

    def test_the_estimate_counts_from_when_the_work_started(self) -> None:
        seen = evidence((100, "pending", 0), (103, "processing", 0), estimate=30)
        assert self.schedule.next_delay(seen, 105) == 4  # 5 s of work at most; 9 s needed at least
        assert self.schedule.next_delay(evidence((10, "pending", 0), (11, "processing", 0), estimate=30), 11) == 8

    def test_the_first_working_reading_brings_the_next_poll_forward_when_its_progress_says_the_end_is_near(
        self,
    ) -> None:
        # 20% in the 3 s since the last pending reading: at least 6.7%/s, so done within 12 s more; half
        # of that (the far fraction) beats the 9 s the estimate alone would give (0.3 x 60 - 3, capped).
        assert self.schedule.next_delay(evidence((3, "processing", 20), estimate=60), 3) == pytest.approx(6)
        assert self.schedule.next_delay(evidence((3, "processing", 0), estimate=60), 3) == pytest.approx(9)
        # The demo's task: 38% after 1.5 s of a 4 s estimate is polled again at the floor, not in 6 s.
        assert self.schedule.next_delay(evidence((1.5, "processing", 38), estimate=4), 1.5) == 1.5

    def test_a_first_step_that_stalls_past_the_end_it_implied_leaves_the_estimate_in_charge(self) -> None:
        seen = evidence((3, "processing", 20), estimate=60)  # at least 6.7%/s: done by 15 s if even
        assert self.schedule.next_delay(seen, 9) == pytest.approx(3)  # half the 6 s it leaves
        assert self.schedule.next_delay(seen, 16) == pytest.approx(2)  # past it: the estimate's 18 - 16
        assert self.schedule.next_delay(seen, 30) == 6  # past both: polled evenly, not at the floor

    def test_a_queued_task_sleeps_three_tenths_of_its_estimate(self) -> None:
        assert self.schedule.next_delay(evidence(estimate=30), 0) == 9
        assert self.schedule.next_delay(evidence((40, "pending", 0), estimate=30), 40) == 9

    def test_a_queued_task_without_an_estimate_is_polled_at_the_cap(self) -> None:
        assert self.schedule.next_delay(evidence(), 0) == 6

    def test_without_a_rate_no_sleep_is_longer_than_the_blind_cap_whatever_the_estimate(self) -> None:
        assert self.schedule.next_delay(evidence(estimate=1000), 0) == 9
        assert self.schedule.next_delay(evidence((1, "processing", 0), estimate=1000), 1) == 9
        assert PollSchedule(max_blind_interval=20).next_delay(evidence(estimate=1000), 0) == 20

    def test_no_sleep_is_longer_than_the_far_cap_even_when_a_rate_puts_the_end_hours_away(self) -> None:
        seen = evidence((10, "processing", 0), (1010, "processing", 10))  # 0.01% per second
        assert self.schedule.next_delay(seen, 1010) == 72
        assert PollSchedule(max_far_interval=30).next_delay(seen, 1010) == 30

    def test_without_estimate_or_progress_it_backs_off_from_the_minimum_to_the_cap(self) -> None:
        seen = evidence((0, "processing", 0))
        assert [self.schedule.next_delay(seen, now) for now in (0, 2, 20)] == [1.5, 3.5, 6]

    def test_progress_that_goes_backwards_is_no_rate(self) -> None:
        seen = evidence((10, "processing", 40), (20, "processing", 30))
        assert self.schedule.rate(seen) is None

    def test_a_queued_task_has_no_expected_end(self) -> None:
        assert self.schedule.expected_end(evidence((40, "pending", 0), estimate=30)) is None

    def test_a_default_estimate_stands_in_for_a_missing_one(self) -> None:
        schedule = PollSchedule(default_estimate=20)
        seen = evidence((2, "processing", 0))
        assert schedule.expected_end(seen) == 20
        assert schedule.next_delay(seen, 2) == 4  # sleeps to three tenths of 20 s of work
        assert schedule.next_delay(evidence((2, "processing", 0), estimate=30), 2) == 7

    def test_the_minimum_interval_is_a_floor(self) -> None:
        seen = evidence((10, "processing", 20), (20, "processing", 40))
        assert PollSchedule(min_interval=2).next_delay(seen, 49) == 2


def test_the_flow_sleeps_then_polls_and_returns_the_completed_task(clock: FakeClock) -> None:
    flow = wait_flow(task(), timeout=100, clock=clock, schedule=PollSchedule())
    step = next(flow)
    assert step == Sleep(9)  # three tenths of the 30 s estimate: no task ends much sooner than that
    clock.sleep(9)
    assert flow.send(None) == Poll()
    with pytest.raises(StopIteration) as done:
        flow.send(task("completed"))
    assert done.value.value.status == "completed"


def test_the_flow_never_sleeps_past_its_deadline_and_polls_last_before_it(clock: FakeClock) -> None:
    flow = wait_flow(task(task_info={"estimated_time": 1000}), timeout=5, clock=clock, schedule=PollSchedule())
    assert next(flow) == Sleep(4.5)  # 9 s wanted; the deadline is 5 s away, less 0.5 s for the last request
    clock.sleep(4.5)
    assert flow.send(None) == Poll()
    clock.advance(0.3)
    with pytest.raises(WaitTimeoutError):
        flow.send(task("processing"))


def test_the_flow_dates_a_reading_halfway_through_its_request(clock: FakeClock) -> None:
    flow = wait_flow("task-1", timeout=600, clock=clock, schedule=PollSchedule())
    assert next(flow) == Poll()
    clock.advance(2)
    # No estimate, no rate yet: 2 s of work seen, so 1.5 s plus that.
    assert flow.send(task("processing", progress=10)) == Sleep(3.5)
    clock.sleep(3.5)
    assert flow.send(None) == Poll()
    clock.advance(2)
    # Readings at +1 s (10%) and +6.5 s (40%): the end is 11 s after the second, at +17.5 s; it is
    # +7.5 s now, so half of 10 s (dated on arrival, the readings would have said half of 11 s).
    step = flow.send(task("processing", progress=40))
    assert isinstance(step, Sleep)
    assert step.seconds == pytest.approx(5.0)


def test_a_task_queued_for_a_hundred_seconds_is_not_taken_for_a_slow_one(clock: FakeClock) -> None:
    flow = wait_flow(task(), timeout=600, clock=clock, schedule=PollSchedule())  # pending, estimate 30 s
    start = clock()
    step = next(flow)
    while clock() - start < 100:  # each pending reading: three tenths of the estimate, work not begun
        assert step == Sleep(9)
        clock.sleep(9)
        assert flow.send(None) == Poll()
        step = flow.send(task("pending"))
    clock.sleep(9)  # 117 s after creation
    assert flow.send(None) == Poll()
    assert flow.send(task("processing", progress=10)) == Sleep(6)  # one reading is no rate: the cap
    clock.sleep(6)
    assert flow.send(None) == Poll()
    # 10% to 30% in 6 s: 21 s left (from creation, 10% after 117 s would have said 1,053 s left).
    step = flow.send(task("processing", progress=30))
    assert isinstance(step, Sleep)
    assert step.seconds == pytest.approx(10.5)


def test_created_at_starts_the_work_clock_of_a_task_first_seen_working(clock: FakeClock) -> None:
    flow = wait_flow("task-1", timeout=600, clock=clock, schedule=PollSchedule(), created_at=clock() - 2)
    assert next(flow) == Poll()
    clock.advance(2)
    assert flow.send(task("processing", progress=0)) == Sleep(5.5)  # 4 s of work: 1.5 s plus that


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
    # Found within min_interval; a short task may end before a second reading gives a rate, and is then
    # found within max_interval.
    assert clock() - created - duration <= (1.5 if duration > 8 else 6.0)
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
