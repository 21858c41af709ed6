"""The retry policy's pure parts, value by value: defaults, the decision table, Retry-After, call options.

The expected numbers are written here (the README's documented defaults), never read from the code.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from typing import Any

import httpx
import pytest

from evolink_images._retry import (
    AsyncRetryTransport,
    CallOptions,
    RetryPolicy,
    RetryTransport,
    _Attempts,
    call_options,
    parse_retry_after,
)
from evolink_images._wire.deadline import DeadlineExceeded
from evolink_images._wire.guard import CAP, DEADLINE

NOW = 1_700_000_000.0


def test_the_default_policy_retries_twice_backs_off_from_half_a_second_to_8_and_honours_60_s_of_retry_after() -> None:
    policy = RetryPolicy()
    assert (policy.max_retries, policy.backoff_base, policy.backoff_cap, policy.retry_after_cap) == (2, 0.5, 8.0, 60.0)
    assert CallOptions() == CallOptions(max_retries=None, deadline=None, max_body=None)


def test_a_retry_after_is_used_as_given_up_to_its_cap_and_jitter_does_not_touch_it() -> None:
    policy = RetryPolicy(jitter=lambda: 0.0)
    assert policy.delay(0, 7.0) == 7.0
    assert policy.delay(3, 0.0) == 0.0
    assert policy.delay(0, 60.0) == 60.0
    assert policy.delay(0, 61.0) == 60.0


def test_the_backoff_is_base_times_two_to_the_attempt_times_a_jitter_between_a_half_and_one() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=100.0, jitter=lambda: 0.5)
    assert [policy.delay(n, None) for n in range(4)] == [0.75, 1.5, 3.0, 6.0]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0.0),
        ("7", 7.0),
        (" 12 ", 12.0),
        ("", None),
        (None, None),
        ("-5", None),
        ("1.5", None),
        ("soon", None),
        ("Tue, 14 Nov 2023 22:13:50", None),  # no zone: not an HTTP date
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),
        (email.utils.formatdate(NOW - 30, usegmt=True), 0.0),
        ("Tue, 99 Nov 2023 22:13:50 GMT", None),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date_with_a_zone(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize(
    ("method", "status", "error", "retried"),
    [
        ("POST", 429, None, True),
        ("POST", 503, None, True),
        ("POST", 500, None, False),
        ("POST", 502, None, False),
        ("POST", 504, None, False),
        ("POST", 400, None, False),
        ("POST", None, httpx.ConnectError("x"), True),
        ("POST", None, httpx.ConnectTimeout("x"), True),
        ("POST", None, httpx.PoolTimeout("x"), True),
        ("POST", None, httpx.ReadTimeout("x"), False),
        ("POST", None, httpx.RemoteProtocolError("x"), False),
        ("GET", 429, None, True),
        ("GET", 500, None, True),
        ("GET", 599, None, True),
        ("GET", 499, None, False),
        ("GET", 404, None, False),
        ("GET", 200, None, False),
        ("GET", None, None, False),
        ("GET", None, httpx.ReadTimeout("x"), True),
        ("GET", None, httpx.RemoteProtocolError("x"), True),
        ("GET", None, ValueError("x"), False),
    ],
)
def test_what_is_retried_depends_on_the_method_and_the_outcome(
    method: str, status: int | None, error: Exception | None, retried: bool
) -> None:
    assert RetryPolicy().should_retry(method, status=status, error=error) is retried


def current() -> CallOptions:
    request = httpx.Request("GET", "https://api.evolink.ai/v1/tasks/t")
    attempts = _Attempts(RetryPolicy(max_retries=2), lambda: 0.0, request)
    return CallOptions(attempts.max_retries, attempts.deadline, attempts.max_body)


def test_nested_call_options_keep_the_earlier_deadline_and_the_inner_retries_and_body_cap() -> None:
    assert current() == CallOptions(2, None, None)
    with call_options(max_retries=5, deadline=100.0, max_body=1000):
        assert current() == CallOptions(5, 100.0, 1000)
        with call_options(deadline=50.0):
            assert current() == CallOptions(5, 50.0, 1000)
        with call_options(deadline=200.0, max_retries=0):
            assert current() == CallOptions(0, 100.0, 1000)
        with call_options(max_body=10):
            assert current() == CallOptions(5, 100.0, 10)
        with call_options():
            assert current() == CallOptions(5, 100.0, 1000)
        assert current() == CallOptions(5, 100.0, 1000)
    assert current() == CallOptions(2, None, None)
    with call_options(deadline=30.0):
        assert current() == CallOptions(2, 30.0, None)
    with call_options(max_body=5):
        assert current() == CallOptions(2, None, 5)


def attempts_for(method: str, *, now: float = 0.0, timeout: dict[str, float] | None = None) -> _Attempts:
    request = httpx.Request(method, "https://api.evolink.ai/v1/tasks/t", extensions={"timeout": timeout or {}})
    return _Attempts(RetryPolicy(max_retries=2, jitter=lambda: 1.0), lambda: now, request)


def test_each_attempt_carries_what_is_left_of_the_deadline_and_clamps_every_timeout_to_it() -> None:
    with call_options(deadline=10.0, max_body=123):
        attempts = attempts_for("GET", now=4.0, timeout={"connect": 2.0, "read": 30.0, "write": 6.0})
    before = time.monotonic()
    attempts.prepare()
    extensions = attempts.request.extensions
    assert extensions[CAP] == 123
    assert extensions["timeout"] == {"connect": 2.0, "read": 6.0, "write": 6.0, "pool": 6.0}
    assert before + 6.0 <= extensions[DEADLINE] <= time.monotonic() + 6.0


def test_an_attempt_without_a_deadline_keeps_its_timeouts_and_gets_no_deadline() -> None:
    attempts = attempts_for("GET", timeout={"read": 30.0})
    attempts.prepare()
    assert attempts.request.extensions["timeout"] == {"read": 30.0}
    assert DEADLINE not in attempts.request.extensions
    assert CAP not in attempts.request.extensions


@pytest.mark.parametrize("now", [10.0, 11.0])
def test_an_attempt_with_nothing_left_of_its_deadline_is_not_sent(now: float) -> None:
    with call_options(deadline=10.0):
        attempts = attempts_for("GET", now=now)
    with pytest.raises(DeadlineExceeded, match=r"^the call's time budget ran out$"):
        attempts.prepare()


def test_retries_stop_after_max_retries_counting_each_one() -> None:
    attempts = attempts_for("GET")
    response = httpx.Response(500)
    assert attempts.next_delay(response=response) == 0.5
    assert attempts.attempt == 1
    assert attempts.next_delay(response=response) == 1.0
    assert attempts.attempt == 2
    assert attempts.next_delay(response=response) is None
    assert attempts.attempt == 2


def test_a_retry_whose_wait_would_reach_the_deadline_is_not_made() -> None:
    with call_options(deadline=10.5):
        attempts = attempts_for("GET", now=10.0)
    assert attempts.next_delay(response=httpx.Response(500)) is None  # 10 + 0.5 reaches 10.5
    with call_options(deadline=10.51):
        attempts = attempts_for("GET", now=10.0)
    assert attempts.next_delay(response=httpx.Response(500)) == 0.5


def test_a_spent_budget_is_never_retried_and_a_retry_after_is_honoured() -> None:
    attempts = attempts_for("GET")
    assert attempts.next_delay(error=DeadlineExceeded("spent")) is None
    assert attempts.next_delay(response=httpx.Response(503, headers={"Retry-After": "3"})) == 3.0
    assert attempts.next_delay(response=httpx.Response(200)) is None


def test_each_retry_is_logged_with_its_number_method_path_wait_and_cause(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="evolink_images")
    attempts = attempts_for("GET")
    attempts.next_delay(response=httpx.Response(500))
    attempts.next_delay(error=httpx.ReadTimeout("slow"))
    assert [record.getMessage() for record in caplog.records if record.name == "evolink_images"] == [
        "retry 1/2 of GET /v1/tasks/t in 0.50 s after 500",
        "retry 2/2 of GET /v1/tasks/t in 1.00 s after ReadTimeout",
    ]


def test_a_policy_shows_and_compares_by_its_numbers_never_by_its_jitter_function() -> None:
    assert repr(RetryPolicy()) == "RetryPolicy(max_retries=2, backoff_base=0.5, backoff_cap=8.0, retry_after_cap=60.0)"
    assert RetryPolicy(jitter=lambda: 0.0) == RetryPolicy(jitter=lambda: 1.0)
    assert RetryPolicy(max_retries=3) != RetryPolicy()


def test_retries_alone_set_in_call_options_apply() -> None:
    with call_options(max_retries=4):
        assert current() == CallOptions(4, None, None)


def test_an_attempt_with_half_a_second_left_is_sent_with_half_a_second() -> None:
    with call_options(deadline=10.0):
        attempts = attempts_for("GET", now=9.5)
    attempts.prepare()
    assert attempts.request.extensions["timeout"] == {"connect": 0.5, "read": 0.5, "write": 0.5, "pool": 0.5}


class Inner(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Answers 500 then 200, keeping each request's extensions and each response; counts closes."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.responses: list[httpx.Response] = []
        self.closed = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(dict(request.extensions))
        response = httpx.Response(500 if len(self.seen) == 1 else 200, stream=httpx.ByteStream(b"{}"))
        self.responses.append(response)
        return response

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return self.handle_request(request)

    def close(self) -> None:
        self.closed += 1

    async def aclose(self) -> None:
        self.closed += 1


def send(kind: str, inner: Inner, clock: float = 0.0) -> httpx.Response:
    request = httpx.Request("GET", "https://api.evolink.ai/v1/tasks/t", extensions={"timeout": {"read": 30.0}})
    if kind == "sync":
        transport = RetryTransport(inner, RetryPolicy(jitter=lambda: 0.0), sleep=lambda _: None, clock=lambda: clock)
        response = transport.handle_request(request)
        transport.close()
        return response

    async def nap(_: float) -> None:
        return None

    async def main() -> httpx.Response:
        transport = AsyncRetryTransport(inner, RetryPolicy(jitter=lambda: 0.0), sleep=nap, clock=lambda: clock)
        response = await transport.handle_async_request(request)
        await transport.aclose()
        return response

    return asyncio.run(main())


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_each_attempt_of_a_transport_carries_the_deadline_and_a_retried_answer_is_closed(kind: str) -> None:
    inner = Inner()
    with call_options(deadline=5.0, max_body=77):
        response = send(kind, inner)
    assert response.status_code == 200
    assert len(inner.seen) == 2
    for extensions in inner.seen:
        assert extensions[CAP] == 77
        assert extensions["timeout"] == {"read": 5.0, "connect": 5.0, "write": 5.0, "pool": 5.0}
        assert DEADLINE in extensions
    first, last = inner.responses
    assert first.is_closed
    assert not last.is_closed
    assert inner.closed == 1  # closing the transport closes the one it wraps


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_a_transport_sends_nothing_once_the_deadline_has_passed(kind: str) -> None:
    inner = Inner()
    with call_options(deadline=5.0), pytest.raises(DeadlineExceeded):
        send(kind, inner, clock=5.0)
    assert inner.seen == []
