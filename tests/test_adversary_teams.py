"""What another team met, adopting the package from its README: each test is one promise, checked from outside.

Found by an adversarial pass (issue 14's list, done as a team would: a wheel in a fresh virtualenv,
an app and its tests written from the README alone). Each test failed before its fix.
"""

from __future__ import annotations

import dataclasses
import random
import time
import typing

import anyio
import pytest

from benchmarks import adversary_polling as adversary
from evolink_images import (
    AsyncClient,
    BatchResult,
    Client,
    ConfigurationError,
    PollSchedule,
    RequestValidationError,
    Task,
    WaitTimeoutError,
    WanImageToImage,
)
from evolink_images._batch import AdaptiveLimit
from evolink_images._schedule import Evidence, Reading
from evolink_images.testing import FakeEvoLink

BACKENDS = ["asyncio", "trio"]


def _requests(count: int) -> list[WanImageToImage]:
    return [WanImageToImage(f"edit {i}", ["https://example.com/a.png"]) for i in range(count)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_app_s_own_async_client_finishes_a_ten_minute_task_under_the_fixture_on_either_backend(
    fake_evolink: FakeEvoLink, backend: str
) -> None:
    fake_evolink.next_task(duration=600.0)

    async def app() -> Task:
        async with AsyncClient() as client:
            return await client.run(_requests(1)[0], timeout=900)

    started = time.monotonic()
    task = anyio.run(app, backend=backend)
    assert time.monotonic() - started < 10  # the fake's clock did the waiting, not the test
    assert task.is_completed
    assert 600 <= fake_evolink.clock() <= 660


@pytest.mark.parametrize("backend", BACKENDS)
def test_nine_fake_tasks_at_concurrency_eight_take_two_task_times_on_either_backend(
    fake_evolink: FakeEvoLink, backend: str
) -> None:
    for _ in range(9):
        fake_evolink.next_task(duration=60.0)

    async def app() -> list[BatchResult]:
        async with fake_evolink.async_client() as client:
            return await client.run_many(_requests(9), concurrency=8)

    results = anyio.run(app, backend=backend)
    assert [r.outcome for r in results] == ["done"] * 9, [r.error for r in results]
    assert 120 <= fake_evolink.clock() <= 200


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_batch_above_the_account_limit_waits_for_room_instead_of_giving_items_up(
    fake_evolink: FakeEvoLink, backend: str
) -> None:
    fake_evolink.max_running = 3
    for _ in range(8):
        fake_evolink.next_task(duration=60.0)

    async def app() -> list[BatchResult]:
        async with fake_evolink.async_client() as client:
            return await client.run_many(_requests(8), concurrency=8)

    results = anyio.run(app, backend=backend)
    assert [r.outcome for r in results] == ["done"] * 8, [str(r.error) for r in results]
    assert fake_evolink.rate_limited > 0  # the limit was met, and learned
    assert fake_evolink.created == 8
    assert fake_evolink.rate_limited <= 12  # not a storm of retries while the slots are full


def test_a_429_during_a_burst_leaves_the_limit_no_higher_than_the_other_tasks_held() -> None:
    limit = AdaptiveLimit(8)
    for _ in range(8):
        limit.take()
    limit.rate_limited()  # 7 others held: halving to 4 is the tighter bound
    assert limit.limit == 4
    for _ in range(4):
        limit.give_back()
    limit.rate_limited()  # the same burst, but only 3 others held now: the account's room is 3
    assert limit.limit == 3
    assert not limit.has_room()


def test_the_fake_sends_a_request_id_so_task_request_id_can_be_tested(fake_evolink: FakeEvoLink) -> None:
    with Client() as client:
        task = client.submit(_requests(1)[0])
        again = client.get_task(task.id)
    assert task.request_id
    assert again.request_id
    assert task.request_id != again.request_id


@pytest.mark.parametrize("header", ["Idempotency-Key", "idempotency-key"])
def test_default_and_extra_headers_refuse_an_idempotency_key_that_would_be_shared_by_every_submit(
    fake_evolink: FakeEvoLink, header: str
) -> None:
    with pytest.raises(ConfigurationError, match="idempotency_key"):
        Client(default_headers={header: "k" * 20})
    with Client() as client, pytest.raises(RequestValidationError, match="idempotency_key"):
        client.submit(_requests(1)[0], extra_headers={header: "k" * 20})
    assert fake_evolink.posts() == 0


def test_a_wait_timeout_always_names_its_task_so_the_readme_resume_example_type_checks() -> None:
    hints = typing.get_type_hints(WaitTimeoutError)
    assert hints["task_id"] is str
    error = WaitTimeoutError(Task(id="task-1", status="processing"), 5.0)
    assert error.task_id == "task-1"


# -- Polling: progress that goes backwards must not back long sleeps ------------------------------


def _lags(model: adversary.Model, tasks: int) -> tuple[list[float], float]:
    specs = adversary._specs(model, tasks, "regression")
    outcomes = adversary.run_adaptive(specs, adversary.NETWORKS[0], "regression")
    return sorted(o.lag for o in outcomes), max(o.longest_sleep for o in outcomes)


def test_once_progress_has_gone_backwards_a_slow_looking_rate_backs_no_sleep_longer_than_a_blind_one() -> None:
    schedule = PollSchedule()
    evidence = Evidence(started=0.0)
    for at, progress in ((0.0, 0), (10.0, 30), (40.0, 20), (100.0, 35)):  # jitter: 30, then 20
        evidence.add(Reading(at, "processing", progress))
    assert schedule.next_delay(evidence, 100.0) == schedule.blind_cap  # the rate alone said 32.5 s
    steady = Evidence(started=0.0)
    for at, progress in ((0.0, 0), (10.0, 5), (40.0, 20), (100.0, 35)):
        steady.add(Reading(at, "processing", progress))
    assert schedule.next_delay(steady, 100.0) > schedule.blind_cap  # monotone progress still sleeps long


def test_a_task_that_restarts_from_zero_still_ends_within_the_lag_bound() -> None:
    lags, _ = _lags(adversary.progress_resets, 150)
    assert lags[int(0.95 * len(lags))] <= 10.0


def test_a_fresh_task_is_still_first_polled_at_three_tenths_of_a_short_estimate() -> None:
    """Every task starts ``pending``: that alone is no evidence of a queue (a 4 s task: 1.2 s, not 7.2 s)."""
    schedule = PollSchedule()
    fresh = Evidence(started=0.0, estimate=4.0)
    fresh.add(Reading(0.0, "pending", 0))
    assert schedule.next_delay(fresh, 0.0) == pytest.approx(1.5)  # 1.2 s, raised to min_interval
    queued = Evidence(started=0.0, estimate=4.0)
    queued.add(Reading(0.0, "pending", 0))
    queued.add(Reading(60.0, "pending", 0))
    assert schedule.next_delay(queued, 60.0) == pytest.approx(1.2 + 6.0)  # a minute queued: sleeps grow


def test_a_long_queue_is_not_polled_faster_because_the_work_is_short() -> None:
    """0-600 s in ``pending`` with a 5 s estimate: the queue's length has nothing to do with the estimate."""

    def short_estimate_long_queue(rng: random.Random) -> adversary.Spec:
        spec = adversary.pending_0_600_no_progress(rng)
        return dataclasses.replace(spec, queue=300 + spec.queue / 2, duration=5.0, estimate=5.0)

    specs = adversary._specs(short_estimate_long_queue, 60, "queue")
    outcomes = adversary.run_adaptive(specs, adversary.NETWORKS[0], "queue")
    queue_polls = sum(o.polls for o in outcomes) / len(outcomes)
    # 300-600 s of queue at one poll per 9 s is at most about 67 polls; at 1.5 s it was 300.
    assert queue_polls <= 80, queue_polls


# -- The command line: global options after every command ---------------------------------------


def test_contract_check_takes_base_url_after_its_name_like_every_other_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from evolink_images.cli import _parser

    parser = _parser.build_parser()
    args = parser.parse_args(["contract-check", "--live", "--base-url", "http://127.0.0.1:9", "--json"])
    assert args.base_url == "http://127.0.0.1:9"
    assert args.json


# -- confirm_callback sends a GET: per-call options like every other sending method ---------------


def test_confirm_callback_takes_a_timeout_and_extra_headers_for_its_get(fake_evolink: FakeEvoLink) -> None:
    with Client() as client:
        task = client.submit(_requests(1)[0])
        confirmed = client.confirm_callback(task.to_dict(), timeout=5, extra_headers={"X-Trace": "cb-1"})
    assert confirmed.id == task.id
    assert fake_evolink.recorded[-1].headers.get("x-trace") == "cb-1"


def test_a_command_line_timeout_names_the_command_to_resume_not_a_python_call(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from evolink_images.cli import main
    from evolink_images.testing import TaskPlan

    monkeypatch.setenv("EVOLINK_API_KEY", "sk-evo-fake-0000000000000000")
    fake = FakeEvoLink(plan=TaskPlan(duration=20))
    argv = ["edit", "--model", "qwen-image-edit", "--prompt", "Add a hat", "--image", "https://example.com/a.png"]
    assert main([*argv, "--timeout", "5"], client_factory=lambda base_url: fake.client()) == 5
    err = capsys.readouterr().err
    [task_id] = fake.tasks
    assert f"resume with: evolink-images status {task_id} --wait" in err
    assert "wait('" not in err
