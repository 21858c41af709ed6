"""Retries, in one place: a pure policy and the httpx transports (sync and async) that apply it.

Every request the client sends goes through ``RetryTransport``/``AsyncRetryTransport``, so the rules
hold for every call. What is retried:

- GET (reading a task): connection errors, timeouts, 429 and 5xx.
- POST (creating a paid task): only when no task can have been created: the connection was never
  made (connect error or timeout, pool timeout), or the API said 429 or 503. Never after a read
  timeout, a dropped connection, a 500 or a 502: the caller is told a task may exist instead.

Back-off is capped exponential with jitter; ``Retry-After`` (seconds or an HTTP date) is honoured up
to a cap. A per-call override (``call_options``) changes the number of retries, sets the call's
deadline (on the client's clock) that no back-off sleeps past and no exchange outlasts, and may cap
the size of the bodies read. Each attempt carries what is left of that deadline, translated to the
real monotonic clock, and its cap, as request extensions for the wire guard (``_wire/guard.py``),
which enforces them whatever the server does.
"""

from __future__ import annotations

import contextvars
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType

import httpx

from ._wire.deadline import DeadlineExceeded
from ._wire.guard import CAP, DEADLINE

__all__ = [
    "AsyncRetryTransport",
    "CallOptions",
    "RetryPolicy",
    "RetryTransport",
    "call_options",
    "parse_retry_after",
]

logger = logging.getLogger("evolink_images")

# Exceptions raised before the request left: no task can exist, so even a POST may be retried.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_POST_RETRY_STATUSES = frozenset({429, 503})


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Return the seconds a ``Retry-After`` header asks for (``now`` is Unix time), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry, and how long to wait in between."""

    max_retries: int = 2
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    retry_after_cap: float = 60.0
    jitter: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Return the wait before retry number ``attempt + 1`` (``attempt`` counts from 0)."""
        if retry_after is not None:
            return min(retry_after, self.retry_after_cap)
        backoff = min(self.backoff_cap, self.backoff_base * 2.0**attempt)
        return backoff * (0.5 + 0.5 * self.jitter())

    def should_retry(self, method: str, *, status: int | None = None, error: Exception | None = None) -> bool:
        """Decide whether an outcome may be retried, by method (a POST creates a paid task)."""
        if method == "POST":
            if error is not None:
                return isinstance(error, _NOT_SENT)
            return status in _POST_RETRY_STATUSES
        if error is not None:
            return isinstance(error, httpx.TransportError)
        return status is not None and (status == 429 or status >= 500)


@dataclass(frozen=True)
class CallOptions:
    """Per-call changes to the client's settings."""

    max_retries: int | None = None
    deadline: float | None = None
    """A value of the client's clock after which nothing is retried and no request runs on."""
    max_body: int | None = None
    """The most decoded bytes accepted in one response body (None: the transport's default)."""


_CALL_OPTIONS: contextvars.ContextVar[CallOptions] = contextvars.ContextVar("evolink_call_options")
_NO_OPTIONS = CallOptions()


class call_options:
    """Apply per-call options to the requests sent inside the block (nested blocks combine).

    Nested deadlines combine to the earlier one; an inner ``max_retries`` or ``max_body`` wins. A
    class rather than a generator-based context manager: it wraps every request, and is cheaper so.
    """

    __slots__ = ("_deadline", "_max_body", "_max_retries", "_token")

    def __init__(
        self, *, max_retries: int | None = None, deadline: float | None = None, max_body: int | None = None
    ) -> None:
        self._max_retries = max_retries
        self._deadline = deadline
        self._max_body = max_body
        self._token: contextvars.Token[CallOptions] | None = None

    def __enter__(self) -> None:
        if self._max_retries is None and self._deadline is None and self._max_body is None:
            return  # the common case costs nothing
        outer = _CALL_OPTIONS.get(_NO_OPTIONS)
        deadline = self._deadline
        if outer.deadline is not None:
            deadline = outer.deadline if deadline is None else min(outer.deadline, deadline)
        self._token = _CALL_OPTIONS.set(
            CallOptions(
                max_retries=outer.max_retries if self._max_retries is None else self._max_retries,
                deadline=deadline,
                max_body=outer.max_body if self._max_body is None else self._max_body,
            )
        )

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._token is not None:
            _CALL_OPTIONS.reset(self._token)
            self._token = None


class _Attempts:
    """The state of one request's attempts: shared by the sync and async transports."""

    def __init__(self, policy: RetryPolicy, clock: Callable[[], float], request: httpx.Request) -> None:
        options = _CALL_OPTIONS.get(_NO_OPTIONS)
        self.request = request
        self.clock = clock
        self.deadline = options.deadline
        self.max_body = options.max_body
        self.max_retries = policy.max_retries if options.max_retries is None else options.max_retries
        self.policy = policy
        self.attempt = 0

    def prepare(self) -> None:
        """Give the attempt what is left of the deadline (and the body cap), for the wire guard.

        Raises:
            DeadlineExceeded: nothing is left; the attempt is not sent.
        """
        if self.max_body is not None:
            self.request.extensions[CAP] = self.max_body
        if self.deadline is None:
            return
        left = self.deadline - self.clock()
        if left <= 0:
            raise DeadlineExceeded("the call's time budget ran out")
        self.request.extensions[DEADLINE] = time.monotonic() + left
        timeouts = dict(self.request.extensions.get("timeout", {}))
        for key in ("connect", "read", "write", "pool"):
            current = timeouts.get(key)
            timeouts[key] = left if current is None else min(current, left)
        self.request.extensions["timeout"] = timeouts

    def next_delay(self, *, response: httpx.Response | None = None, error: Exception | None = None) -> float | None:
        """Return how long to wait before retrying, or None to give this outcome to the caller."""
        method = self.request.method
        status = response.status_code if response is not None else None
        if isinstance(error, DeadlineExceeded):
            return None  # the call's budget is spent: nothing is left to retry with
        if self.attempt >= self.max_retries or not self.policy.should_retry(method, status=status, error=error):
            return None
        retry_after = parse_retry_after(response.headers.get("retry-after"), time.time()) if response else None
        delay = self.policy.delay(self.attempt, retry_after)
        if self.deadline is not None and self.clock() + delay >= self.deadline:
            return None
        self.attempt += 1
        logger.debug(
            "retry %d/%d of %s %s in %.2f s after %s",
            self.attempt,
            self.max_retries,
            method,
            self.request.url.path,
            delay,
            status if status is not None else type(error).__name__,
        )
        return delay


class RetryTransport(httpx.BaseTransport):
    """Wraps a transport and retries what ``RetryPolicy`` allows."""

    def __init__(
        self,
        inner: httpx.BaseTransport,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._policy = policy
        self._sleep = sleep
        self._clock = clock

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        attempts = _Attempts(self._policy, self._clock, request)
        while True:
            attempts.prepare()
            try:
                response = self._inner.handle_request(request)
            except httpx.TransportError as error:
                delay = attempts.next_delay(error=error)
                if delay is None:
                    raise
            else:
                delay = attempts.next_delay(response=response)
                if delay is None:
                    return response
                response.close()
            self._sleep(delay)

    def close(self) -> None:
        self._inner.close()


class AsyncRetryTransport(httpx.AsyncBaseTransport):
    """Wraps an async transport and retries what ``RetryPolicy`` allows."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        policy: RetryPolicy,
        *,
        sleep: Callable[[float], Awaitable[None]],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._inner = inner
        self._policy = policy
        self._sleep = sleep
        self._clock = clock

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        attempts = _Attempts(self._policy, self._clock, request)
        while True:
            attempts.prepare()
            try:
                response = await self._inner.handle_async_request(request)
            except httpx.TransportError as error:
                delay = attempts.next_delay(error=error)
                if delay is None:
                    raise
            else:
                delay = attempts.next_delay(response=response)
                if delay is None:
                    return response
                await response.aclose()
            await self._sleep(delay)

    async def aclose(self) -> None:
        await self._inner.aclose()
