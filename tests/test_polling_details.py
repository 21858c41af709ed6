"""Polling in detail: the wait flow's deadline and last-poll reserve, its logs and errors, the schedule's formulas.

The flow is driven by hand on a fake clock: every step it yields is asserted, so each number of the
schedule and of the deadline shows in a sleep's exact length.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest

from evolink_images import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    EvoLinkError,
    PollSchedule,
    Task,
    TaskCancelledError,
    TaskFailedError,
    WaitTimeoutError,
)
from evolink_images._polling import Flow, Poll, Sleep, is_transient, outcome, wait_flow
from evolink_images._schedule import Evidence, Reading
from evolink_images.testing.fake import FakeClock
from evolink_images.testing.payloads import task_json


def task(status: str = "pending", **fields: Any) -> Task:
    return Task.from_dict(task_json(status, id="task-1", **fields))


def slow(status: str = "pending", progress: int = 0) -> Task:
    """A task whose estimate (1,000 s) makes every queued sleep the blind cap: 9 s with the default schedule."""
    return task(status, progress=progress, task_info={"estimated_time": 1000})


def sleeps_until_timeout(flow: Flow, clock: FakeClock, answer: Task) -> tuple[list[float], WaitTimeoutError]:
    """Drive ``flow``, answering every poll with ``answer`` at once; return its sleeps and the timeout."""
    sleeps: list[float] = []
    step = next(flow)
    for _ in range(100):
        if isinstance(step, Sleep):
            sleeps.append(step.seconds)
            clock.sleep(step.seconds)
            step = flow.send(None)
        else:
            try:
                step = flow.send(answer)
            except WaitTimeoutError as error:
                return sleeps, error
    raise AssertionError("the flow never timed out")


class TestLastPollReserve:
    def test_a_long_wait_makes_its_last_poll_one_second_before_the_deadline(self) -> None:
        clock = FakeClock(now=500.0)
        flow = wait_flow(slow(), timeout=20, clock=clock, schedule=PollSchedule())
        sleeps, error = sleeps_until_timeout(flow, clock, slow())
        assert sleeps == [9, 9, 1]  # the last poll at 19 s: one second before the 20 s deadline
        assert clock() == 519.0
        assert str(error) == "task task-1 was still pending (0%) after 20 s; it goes on: resume with wait('task-1')"

    def test_a_short_wait_keeps_a_tenth_of_its_timeout_for_the_last_poll(self) -> None:
        clock = FakeClock(now=500.0)
        flow = wait_flow(slow(), timeout=5, clock=clock, schedule=PollSchedule())
        sleeps, error = sleeps_until_timeout(flow, clock, slow())
        assert sleeps == [4.5]
        assert clock() == 504.5
        assert error.timeout == 5

    def test_a_wait_of_eight_seconds_polls_last_at_seven_point_two(self) -> None:
        clock = FakeClock(now=500.0)
        flow = wait_flow(slow(), timeout=8, clock=clock, schedule=PollSchedule())
        sleeps, _ = sleeps_until_timeout(flow, clock, slow())
        assert sleeps == [pytest.approx(7.2)]

    def test_a_minimum_interval_shorter_than_a_second_is_the_reserve(self) -> None:
        clock = FakeClock(now=500.0)
        flow = wait_flow(slow(), timeout=20, clock=clock, schedule=PollSchedule(min_interval=0.25))
        sleeps, _ = sleeps_until_timeout(flow, clock, slow())
        assert sleeps == [9, 9, 1.75]

    def test_the_deadline_counts_from_the_clock_when_the_wait_starts(self) -> None:
        clock = FakeClock(now=10_000.0)
        flow = wait_flow(slow(), timeout=30, clock=clock, schedule=PollSchedule())
        sleeps, _ = sleeps_until_timeout(flow, clock, slow())
        assert sleeps == [9, 9, 9, 2]
        assert clock() == 10_029.0

    def test_a_wait_known_only_by_its_id_polls_at_once_and_times_out_on_a_placeholder(self) -> None:
        clock = FakeClock(now=500.0)
        flow = wait_flow("task-1", timeout=5, clock=clock, schedule=PollSchedule())
        assert next(flow) == Poll()
        clock.advance(5)
        with pytest.raises(WaitTimeoutError) as caught:
            flow.send(APIConnectionError("refused"))
        assert str(caught.value) == (
            "task task-1 was still unknown (0%) after 5 s; it goes on: resume with wait('task-1')"
        )
        placeholder = caught.value.task
        assert (placeholder.id, placeholder.status, placeholder.progress) == ("task-1", "unknown", 0)
        assert placeholder.results == ()
        assert placeholder.error is None
        assert placeholder.estimated_time is None

    def test_the_timeout_carries_the_last_task_read(self) -> None:
        clock = FakeClock(now=500.0)
        flow = wait_flow(slow(), timeout=5, clock=clock, schedule=PollSchedule())
        _, error = sleeps_until_timeout(flow, clock, slow("processing", 40))
        assert str(error) == "task task-1 was still processing (40%) after 5 s; it goes on: resume with wait('task-1')"
        assert error.task.progress == 40


class TestFlowSteps:
    def test_a_finished_first_task_ends_the_flow_without_a_poll(self) -> None:
        flow = wait_flow(task("completed"), timeout=60, clock=FakeClock(), schedule=PollSchedule())
        with pytest.raises(StopIteration) as done:
            next(flow)
        assert done.value.value.status == "completed"

    @pytest.mark.parametrize(("status", "raised"), [("failed", TaskFailedError), ("cancelled", TaskCancelledError)])
    def test_a_task_that_ended_without_results_raises_naming_it(self, status: str, raised: type[Exception]) -> None:
        with pytest.raises(raised) as caught:
            outcome(task(status))
        assert getattr(caught.value, "task_id", None) == "task-1"

    def test_a_completed_task_is_returned_as_it_is(self) -> None:
        done = task("completed")
        assert outcome(done) is done

    def test_on_update_sees_the_first_task_and_then_each_change_of_status_or_progress(self) -> None:
        clock = FakeClock(now=500.0)
        seen: list[tuple[str, int]] = []
        flow = wait_flow(
            slow(),
            timeout=600,
            clock=clock,
            schedule=PollSchedule(),
            on_update=lambda t: seen.append((t.status, t.progress)),
        )
        assert seen == []
        step = next(flow)
        assert seen == [("pending", 0)]
        answers = [slow(), slow("processing", 0), slow("processing", 0), slow("processing", 5), task("completed")]
        for answer in answers:
            assert isinstance(step, Sleep)
            clock.sleep(step.seconds)
            assert flow.send(None) == Poll()
            try:
                step = flow.send(answer)
            except StopIteration:
                break
        assert seen == [("pending", 0), ("processing", 0), ("processing", 5), ("completed", 100)]

    def test_on_update_is_not_called_for_a_flow_started_from_an_id_until_a_poll_answers(self) -> None:
        seen: list[str] = []
        flow = wait_flow(
            "task-1", timeout=60, clock=FakeClock(), schedule=PollSchedule(), on_update=lambda t: seen.append(t.status)
        )
        assert next(flow) == Poll()
        assert seen == []
        flow.send(task("processing"))
        assert seen == ["processing"]

    def test_without_on_update_the_flow_runs_all_the_same(self) -> None:
        clock = FakeClock(now=500.0)
        flow = wait_flow(slow(), timeout=60, clock=clock, schedule=PollSchedule())
        assert next(flow) == Sleep(9)
        clock.sleep(9)
        assert flow.send(None) == Poll()
        assert flow.send(slow("processing", 10)) == Sleep(9)

    def test_a_permanent_poll_failure_is_raised_naming_the_task(self) -> None:
        flow = wait_flow("task-1", timeout=60, clock=FakeClock(), schedule=PollSchedule())
        assert next(flow) == Poll()
        failure = EvoLinkError("forbidden")
        with pytest.raises(EvoLinkError) as caught:
            flow.send(failure)
        assert caught.value is failure
        assert failure.task_id == "task-1"

    def test_a_transient_poll_failure_is_followed_by_a_sleep_and_another_poll(self) -> None:
        clock = FakeClock(now=500.0)
        flow = wait_flow("task-1", timeout=60, clock=clock, schedule=PollSchedule())
        assert next(flow) == Poll()
        assert flow.send(APIConnectionError("refused")) == Sleep(6)  # nothing known: the cap
        clock.sleep(6)
        assert flow.send(None) == Poll()


def status_error(status: int) -> APIStatusError:
    request = httpx.Request("GET", "https://api.evolink.ai/v1/tasks/task-1")
    return APIStatusError("status", response=httpx.Response(status, request=request))


class TestTransient:
    @pytest.mark.parametrize("status", [429, 500, 502, 503, 599])
    def test_rate_limits_and_server_errors_are_transient(self, status: int) -> None:
        assert is_transient(status_error(status))

    @pytest.mark.parametrize("status", [400, 401, 403, 404, 428, 430, 499])
    def test_other_client_errors_are_not(self, status: int) -> None:
        assert not is_transient(status_error(status))

    def test_a_connection_error_is_transient(self) -> None:
        assert is_transient(APIConnectionError("refused"))

    def test_a_garbled_body_is_transient_and_an_unusable_task_is_not(self) -> None:
        garbled = APIResponseError("garbled", response=None)
        assert is_transient(garbled)
        garbled.unusable_task = True
        assert not is_transient(garbled)

    def test_an_error_of_no_api_kind_is_not_transient(self) -> None:
        assert not is_transient(EvoLinkError("other"))


class TestLogs:
    def test_each_poll_is_logged_with_its_status_and_progress(self, caplog: pytest.LogCaptureFixture) -> None:
        flow = wait_flow("task-1", timeout=60, clock=FakeClock(), schedule=PollSchedule())
        next(flow)
        with caplog.at_level(logging.DEBUG, logger="evolink_images"):
            flow.send(task("processing", progress=40))
        assert caplog.messages == ["poll of task task-1: processing 40%"]

    def test_a_long_status_is_cut_in_the_log(self, caplog: pytest.LogCaptureFixture) -> None:
        flow = wait_flow("task-1", timeout=60, clock=FakeClock(), schedule=PollSchedule())
        next(flow)
        with caplog.at_level(logging.DEBUG, logger="evolink_images"):
            flow.send(task("s" * 100))
            flow.send(None)
            flow.send(task("t" * 101))
        assert caplog.messages == [
            f"poll of task task-1: {'s' * 100} 0%",
            f"poll of task task-1: {'t' * 100}... (1 more characters) 0%",
        ]

    def test_a_transient_failure_is_logged_by_its_kind(self, caplog: pytest.LogCaptureFixture) -> None:
        flow = wait_flow("task-1", timeout=60, clock=FakeClock(), schedule=PollSchedule())
        next(flow)
        with caplog.at_level(logging.DEBUG, logger="evolink_images"):
            flow.send(APIConnectionError("refused"))
        assert caplog.messages == ["poll of task task-1 failed, will poll again: APIConnectionError"]


def evidence(*readings: tuple[float, str, int], estimate: float | None = None, started: float = 0.0) -> Evidence:
    """Evidence as the flow builds it: the create response (pending, at ``started``), then ``readings``."""
    built = Evidence(started=started, estimate=estimate)
    built.add(Reading(started, "pending", 0))
    for at, status, progress in readings:
        built.add(Reading(at, status, progress))
    return built


class TestProgressFormula:
    schedule = PollSchedule()

    def test_the_expected_end_is_the_last_change_plus_the_progress_left_over_the_rate(self) -> None:
        # 20% at 10 s, 30% at 15 s: 2%/s; 70% left takes 35 s more.
        seen = evidence((10, "processing", 20), (15, "processing", 30))
        assert self.schedule.rate(seen) == 2.0
        assert self.schedule.expected_end(seen) == 15 + 70 / 2

    def test_the_rate_over_all_steps_wins_when_the_last_step_slowed(self) -> None:
        seen = evidence((10, "processing", 10), (20, "processing", 50), (60, "processing", 60))
        # all steps: 50% in 50 s = 1%/s; the last: 10% in 40 s = 0.25%/s.
        assert self.schedule.rate(seen) == 1.0
        assert self.schedule.expected_end(seen) == 100

    def test_without_a_rate_the_end_is_the_estimate_after_the_work_began(self) -> None:
        seen = evidence((50, "pending", 0), (55, "processing", 0), estimate=40)
        assert self.schedule.expected_end(seen) == 90


class TestEvidenceDetails:
    def test_fresh_evidence_knows_nothing_yet(self) -> None:
        seen = Evidence(started=3.0)
        assert (seen.estimate, seen.work_from, seen.pending_at, seen.left_queue) == (None, None, None, None)
        assert (seen.changes, seen.polls, seen.regressed) == ([], 0, False)

    def test_the_last_pending_reading_is_where_the_work_may_have_begun(self) -> None:
        seen = evidence((5, "pending", 0), (8, "pending", 0), (10, "processing", 20), (12, "pending", 0))
        assert seen.left_queue == Reading(8, "pending", 0)
        assert seen.work_from == 8
        assert seen.pending_at == 12  # seen pending again later: the work clock stays where it began
        assert seen.changes == [Reading(10, "processing", 20)]

    def test_a_task_seen_working_at_once_has_not_left_a_queue(self) -> None:
        seen = Evidence(started=7.0)
        seen.add(Reading(9.0, "processing", 30))
        assert seen.left_queue is None
        assert seen.changes == [Reading(9.0, "processing", 30)]

    def test_each_new_progress_value_is_compared_with_the_last_change(self) -> None:
        seen = evidence(
            (10, "processing", 10),
            (20, "processing", 20),
            (30, "processing", 30),
            (35, "processing", 30),
            (40, "processing", 20),
        )
        assert [(change.at, change.progress) for change in seen.changes] == [(10, 10), (20, 20), (30, 30), (40, 20)]

    def test_progress_below_the_last_change_marks_the_evidence_regressed_for_good(self) -> None:
        seen = evidence((10, "processing", 10), (20, "processing", 20), (30, "processing", 50))
        flags = []
        for reading in (Reading(40, "processing", 60), Reading(50, "processing", 30), Reading(60, "processing", 70)):
            seen.add(reading)
            flags.append(seen.regressed)
        assert flags == [False, True, True]  # 30 is below 60, though above 10 and 20


class Recording(PollSchedule):
    """The default schedule, noting how many polls each decision was told of."""

    def next_delay(self, evidence: Evidence, now: float) -> float:
        self.__dict__.setdefault("polls", []).append(evidence.polls)
        return super().next_delay(evidence, now)


def test_the_flow_counts_every_poll_failed_ones_too() -> None:
    schedule = Recording()
    clock = FakeClock(now=500.0)
    flow = wait_flow("task-1", timeout=600, clock=clock, schedule=schedule)
    assert next(flow) == Poll()
    for answer in (APIConnectionError("refused"), task("processing", progress=0), task("processing", progress=0)):
        step = flow.send(answer)
        assert isinstance(step, Sleep)
        clock.sleep(step.seconds)
        assert flow.send(None) == Poll()
    assert schedule.__dict__["polls"] == [1, 2, 3]


def test_the_flow_passes_created_at_and_the_first_estimate_to_the_schedule() -> None:
    seen: list[Evidence] = []

    class Spy(PollSchedule):
        def next_delay(self, evidence: Evidence, now: float) -> float:
            seen.append(evidence)
            return super().next_delay(evidence, now)

    clock = FakeClock(now=500.0)
    flow = wait_flow(slow(), timeout=600, clock=clock, schedule=Spy(), created_at=480.0)
    next(flow)
    assert seen[0].started == 480.0
    assert seen[0].estimate == 1000
    assert seen[0].pending_at == 480.0


class TestScheduleDetails:
    schedule = PollSchedule()

    def test_the_defaults_are_the_documented_ones(self) -> None:
        default = PollSchedule()
        assert (default.min_interval, default.max_interval, default.blind_cap, default.far_cap) == (1.5, 6, 9, 72)
        assert (default.far_fraction, default.estimate_trust, default.rate_horizon) == (0.5, 0.3, 1)
        assert (default.overdue_growth, default.resolution) == (1, 0.05)
        assert (default.default_estimate, default.max_far_interval, default.max_blind_interval) == (None, None, None)

    def test_the_caps_follow_max_interval_unless_set(self) -> None:
        assert PollSchedule(max_interval=4).blind_cap == 6
        assert PollSchedule(max_interval=4).far_cap == 48
        assert PollSchedule(max_interval=4, max_blind_interval=20).blind_cap == 20
        assert PollSchedule(max_interval=4, max_far_interval=30).far_cap == 30

    def test_the_tasks_own_estimate_beats_the_default_one(self) -> None:
        schedule = PollSchedule(default_estimate=20)
        assert schedule.estimate(Evidence(started=0, estimate=30)) == 30
        assert schedule.estimate(Evidence(started=0)) == 20
        assert PollSchedule().estimate(Evidence(started=0)) is None

    def test_the_last_step_rate_wins_when_the_work_speeds_up(self) -> None:
        seen = evidence(
            (10, "processing", 10),
            (20, "processing", 20),
            (30, "processing", 30),
            (40, "processing", 40),
            (50, "processing", 80),
        )
        assert self.schedule.rate(seen) == 4.0  # the last step: 40% in 10 s; over all steps 70% in 40 s
        assert self.schedule.expected_end(seen) == 55

    def test_the_rate_over_all_steps_wins_when_the_work_slows_down(self) -> None:
        seen = evidence(
            (10, "processing", 10),
            (20, "processing", 30),
            (30, "processing", 50),
            (40, "processing", 52),
            (50, "processing", 54),
        )
        assert self.schedule.rate(seen) == pytest.approx(1.1)  # 44% in 40 s; the last step only 2% in 10 s
        assert self.schedule.expected_end(seen) == pytest.approx(50 + 46 / 1.1)

    def test_the_sleep_counts_the_time_left_from_the_last_change_not_the_one_before(self) -> None:
        seen = evidence(
            (10, "processing", 10),
            (20, "processing", 30),
            (30, "processing", 50),
            (40, "processing", 52),
            (50, "processing", 54),
        )
        # 1.1%/s from 54% at 50 s: 41.8 s left, half of it slept (from 52% at 40 s it would say 16.8 s).
        assert self.schedule.next_delay(seen, 50) == pytest.approx(46 / 1.1 / 2)

    def test_changes_read_at_the_same_instant_give_no_rate(self) -> None:
        seen = Evidence(started=0)
        seen.add(Reading(10, "processing", 10))
        seen.changes.append(Reading(10, "processing", 20))
        assert self.schedule.rate(seen) is None

    def test_progress_back_to_where_it_started_is_no_rate(self) -> None:
        seen = evidence((10, "processing", 10), (20, "processing", 30), (30, "processing", 10))
        assert self.schedule.rate(seen) is None

    def test_a_rate_below_one_percent_a_second_is_a_rate(self) -> None:
        seen = evidence((10, "processing", 10), (30, "processing", 20))
        assert self.schedule.rate(seen) == 0.5
        assert self.schedule.expected_end(seen) == 190

    def test_working_without_rate_or_estimate_there_is_no_expected_end(self) -> None:
        assert self.schedule.expected_end(evidence((10, "processing", 0))) is None

    def test_a_queued_task_with_a_zero_estimate_is_polled_at_max_interval(self) -> None:
        assert self.schedule.next_delay(evidence(estimate=0), 0) == 6

    def test_a_queued_task_sleeps_half_its_time_queued_up_to_its_estimate_plus_max_interval(self) -> None:
        roomy = PollSchedule(max_interval=100, max_blind_interval=1000)
        assert roomy.next_delay(evidence(estimate=10, started=100), 120) == 10  # half of 20 s queued
        assert roomy.next_delay(evidence(estimate=10, started=100), 100) == 3  # three tenths of 10 s
        capped = PollSchedule(max_blind_interval=1000)
        assert capped.next_delay(evidence(estimate=100, started=100), 200) == 36  # 30 s plus 6 s

    def test_a_fresh_queued_task_with_a_tiny_estimate_sleeps_three_tenths_of_it(self) -> None:
        quick = PollSchedule(min_interval=0.1)
        assert quick.next_delay(evidence(estimate=1, started=100), 100) == pytest.approx(0.3)
        assert quick.next_delay(evidence(estimate=10, started=100), 100) == pytest.approx(3)

    def test_the_end_is_projected_from_the_last_change(self) -> None:
        seen = evidence((10, "processing", 10), (20, "processing", 20), (30, "processing", 30))
        # 1%/s from 30% at 30 s: the end at 100 s; at 60 s, half of the 40 s left.
        assert self.schedule.next_delay(seen, 60) == 20

    def test_exactly_at_the_resolution_before_the_end_counts_as_the_end(self) -> None:
        fine = PollSchedule(min_interval=0.01, resolution=1.0)
        seen = evidence((10, "processing", 50), (20, "processing", 60))  # 1%/s: the end at 60 s
        assert fine.next_delay(seen, 59) == 0.01  # 1 s before: reached
        assert fine.next_delay(seen, 58.5) == 0.75  # 1.5 s before: half of it
        assert fine.next_delay(seen, 62) == pytest.approx(2.01)  # 2 s overdue: the minimum plus those 2 s

    def test_the_default_resolution_is_a_twentieth_of_a_second(self) -> None:
        fine = PollSchedule(min_interval=0.01)
        seen = evidence((10, "processing", 50), (20, "processing", 60))  # the end at 60 s
        assert fine.next_delay(seen, 59) == 0.5
        assert fine.next_delay(seen, 60.5) == pytest.approx(0.51)

    def test_a_far_end_behind_regressed_progress_is_slept_on_no_longer_than_the_blind_cap(self) -> None:
        seen = evidence((10, "processing", 10), (20, "processing", 5), (40, "processing", 15))
        assert seen.regressed
        # 10% in 20 s: 0.5%/s, 85% left: 170 s; half is 85 s, more than the blind cap.
        assert self.schedule.next_delay(seen, 40) == 9

    def test_a_sleep_of_exactly_max_interval_needs_no_cap(self) -> None:
        # Regressed progress, the end 12 s away: half of it is max_interval itself, kept over a lower blind cap.
        seen = evidence((10, "processing", 50), (18, "processing", 40), (30, "processing", 70))  # 2.5%/s
        assert PollSchedule(max_blind_interval=4).next_delay(seen, 30) == 6

    def test_at_exactly_the_resolution_before_three_tenths_of_the_estimate_it_polls_evenly(self) -> None:
        fine = PollSchedule(resolution=1.0)
        seen = Evidence(started=0, estimate=10)
        seen.add(Reading(0, "processing", 0))
        assert fine.next_delay(seen, 2) == 6  # 1 s before 3 s of work: the estimate is reached
        assert fine.next_delay(seen, 1.5) == 1.5

    def test_a_first_reading_without_a_queue_before_it_is_no_first_step(self) -> None:
        seen = Evidence(started=0, estimate=60)
        seen.add(Reading(3, "processing", 90))
        assert self.schedule.next_delay(seen, 3) == 9  # from the estimate alone: the work may have begun at 0

    def test_two_changes_without_a_rate_are_no_first_step(self) -> None:
        seen = evidence((10, "processing", 40), (20, "processing", 30))
        assert self.schedule.next_delay(seen, 20) == 6  # overdue after 20 s of work: the cap

    def test_one_percent_at_once_is_a_first_step(self) -> None:
        seen = evidence((0.01, "processing", 1), estimate=60)  # 1% in 0.01 s: done within a second
        assert self.schedule.next_delay(seen, 0.01) == 1.5
        assert PollSchedule(min_interval=0.1).next_delay(seen, 0.01) == pytest.approx(0.495)

    def test_a_first_reading_at_the_same_instant_as_the_last_pending_one_is_no_first_step(self) -> None:
        seen = evidence((5, "pending", 0), (5, "processing", 50), estimate=60)
        assert self.schedule.next_delay(seen, 5) == 9

    def test_a_first_step_ending_exactly_at_the_resolution_leaves_the_estimate_in_charge(self) -> None:
        fine = PollSchedule(resolution=1.0, min_interval=0.1)
        seen = evidence((10, "processing", 50), estimate=100)  # 5%/s at least: done by 20 s
        assert fine.next_delay(seen, 19) == 9  # 1 s left is reached: the estimate decides (30 s of work)
        assert fine.next_delay(seen, 18) == 1


def test_a_first_working_reading_at_zero_percent_gives_no_rate_and_the_usual_sleep() -> None:
    seen = evidence((10, "processing", 0))
    assert PollSchedule().next_delay(seen, 10) == 6.0  # max_interval: nothing to go on yet, and no crash


def test_the_first_step_rate_counts_from_the_last_pending_reading_not_from_zero() -> None:
    # Queued from 100, working at 110 with 50% done: 5% a second, so 10 s left; half of that is slept.
    seen = evidence((110, "processing", 50), started=100, estimate=200)
    assert PollSchedule().next_delay(seen, 110) == 5.0
