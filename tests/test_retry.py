"""Retries: how many requests each fault produces, back-off, Retry-After and the idempotency key."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable

import httpx
import pytest
import respx

from evolink_images import APIError, APITimeoutError, InternalServerError, RateLimitError, WanImageToImage
from evolink_images._retry import RetryPolicy, call_options, parse_retry_after
from evolink_images.testing.fake import FakeClock
from evolink_images.testing.payloads import DEFAULT_TASK_ID, error_json, task_json

from .conftest import BASE_URL, Face

SUBMIT_URL = f"{BASE_URL}/v1/images/generations"
TASK_ID = DEFAULT_TASK_ID
TASK_URL = f"{BASE_URL}/v1/tasks/{TASK_ID}"
REQUEST = WanImageToImage("Make it night", ["https://example.com/a.png"])


def fault(kind: str) -> httpx.Response | Exception:
    """A fresh response or exception for ``kind`` (respx raises exceptions found in a sequence)."""
    outcomes: dict[str, httpx.Response | Exception] = {
        "connect error": httpx.ConnectError("refused"),
        "connect timeout": httpx.ConnectTimeout("slow"),
        "read timeout": httpx.ReadTimeout("slow"),
        "dropped connection": httpx.RemoteProtocolError("server hung up"),
        "429": httpx.Response(429, json=error_json("rate_limit_exceeded")),
        "500": httpx.Response(500, json=error_json("internal_error")),
        "502": httpx.Response(502, text="<html>bad gateway</html>"),
        "503": httpx.Response(503, json=error_json("service_unavailable")),
    }
    return outcomes[kind]


def always(kind: str) -> Callable[[httpx.Request], httpx.Response]:
    """A respx side effect that meets every request with ``kind``."""

    def effect(request: httpx.Request) -> httpx.Response:
        outcome = fault(kind)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return effect


# The POSTs one submit makes when every attempt meets the fault, with max_retries=2.
POST_ATTEMPTS = {
    "connect error": 3,
    "connect timeout": 3,
    "429": 3,
    "503": 3,
    "read timeout": 1,
    "dropped connection": 1,
    "500": 1,
    "502": 1,
}


@pytest.mark.parametrize(("kind", "attempts"), POST_ATTEMPTS.items())
def test_a_post_is_retried_only_when_no_task_can_exist(
    api_client: Face, api: respx.Router, kind: str, attempts: int
) -> None:
    route = api.post(SUBMIT_URL).mock(side_effect=always(kind))
    with pytest.raises(APIError) as caught:
        api_client.submit(REQUEST)
    assert route.call_count == attempts
    assert caught.value.task_may_exist is (attempts == 1)


@pytest.mark.parametrize("kind", list(POST_ATTEMPTS))
def test_a_get_is_retried_on_every_transient_fault(api_client: Face, api: respx.Router, kind: str) -> None:
    route = api.get(TASK_URL).mock(side_effect=always(kind))
    with pytest.raises(APIError):
        api_client.get_task(TASK_ID)
    assert route.call_count == 3


def test_a_retried_post_reuses_one_idempotency_key_and_a_new_submit_gets_another(
    api_client: Face, api: respx.Router
) -> None:
    route = api.post(SUBMIT_URL).mock(
        side_effect=[fault("503"), fault("connect error")] + [httpx.Response(200, json=task_json())] * 2
    )
    api_client.submit(REQUEST)
    keys = {call.request.headers["Idempotency-Key"] for call in route.calls}
    assert route.call_count == 3
    assert len(keys) == 1
    api_client.submit(REQUEST)
    assert route.calls.last.request.headers["Idempotency-Key"] not in keys


def test_a_get_recovers_after_transient_faults(api_client: Face, api: respx.Router) -> None:
    api.get(TASK_URL).mock(side_effect=[fault("502"), fault("read timeout"), httpx.Response(200, json=task_json())])
    assert api_client.get_task(TASK_ID).status == "pending"


def test_retry_after_seconds_is_honoured(api_client: Face, api: respx.Router, clock: FakeClock) -> None:
    api.get(TASK_URL).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json=task_json())]
    )
    api_client.get_task(TASK_ID)
    assert clock.sleeps == [7.0]


def test_retry_after_is_capped(api_client: Face, api: respx.Router, clock: FakeClock) -> None:
    api.get(TASK_URL).mock(
        side_effect=[httpx.Response(503, headers={"Retry-After": "3600"}), httpx.Response(200, json=task_json())]
    )
    api_client.get_task(TASK_ID, timeout=120)  # room for the capped wait within the call's budget
    assert clock.sleeps == [RetryPolicy().retry_after_cap]


def test_a_retry_after_longer_than_the_budget_left_ends_the_call_instead(
    api_client: Face, api: respx.Router, clock: FakeClock
) -> None:
    route = api.get(TASK_URL).mock(side_effect=[httpx.Response(503, headers={"Retry-After": "50"})] * 2)
    with pytest.raises(InternalServerError):
        api_client.get_task(TASK_ID, timeout=30)
    assert route.call_count == 1
    assert clock.sleeps == []


def test_retry_after_as_an_http_date_is_honoured() -> None:
    now = time.time()
    header = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(header, now) == pytest.approx(30, abs=1)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now) == 0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_backoff_is_exponential_capped_and_jittered() -> None:
    low = RetryPolicy(jitter=lambda: 0.0)
    high = RetryPolicy(jitter=lambda: 1.0)
    assert [low.delay(n, None) for n in range(6)] == [0.25, 0.5, 1.0, 2.0, 4.0, 4.0]
    assert [high.delay(n, None) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_max_retries_is_configurable_per_client_and_per_call(
    client_factory: Callable[..., Face], api: respx.Router
) -> None:
    route = api.get(TASK_URL).mock(side_effect=always("500"))
    client = client_factory(max_retries=5)
    with pytest.raises(InternalServerError):
        client.get_task(TASK_ID)
    assert route.call_count == 6
    with pytest.raises(InternalServerError):
        client.get_task(TASK_ID, max_retries=0)
    assert route.call_count == 7


def test_exhausted_retries_raise_the_last_error(api_client: Face, api: respx.Router) -> None:
    api.get(TASK_URL).mock(side_effect=always("429"))
    with pytest.raises(RateLimitError):
        api_client.get_task(TASK_ID)
    api.post(SUBMIT_URL).mock(side_effect=always("read timeout"))
    with pytest.raises(APITimeoutError) as caught:
        api_client.submit(REQUEST)
    assert caught.value.task_may_exist


def test_no_backoff_sleeps_past_a_call_deadline(api_client: Face, api: respx.Router, clock: FakeClock) -> None:
    route = api.get(TASK_URL).mock(side_effect=lambda request: httpx.Response(503, headers={"Retry-After": "10"}))
    with call_options(deadline=clock() + 15), pytest.raises(InternalServerError):
        api_client.get_task(TASK_ID)
    assert route.call_count == 2
    assert sum(clock.sleeps) <= 15
