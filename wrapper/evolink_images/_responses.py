"""The boundary between the generated client and callers: results become ``Task``s, failures typed errors.

No httpx exception, ``JSONDecodeError`` or ``ValueError`` from the generated code gets past
``exchange()``: the response is recorded by an httpx event hook as it arrives, so even when the
generated parser chokes on it (an HTML 502 page, a 520 status, truncated JSON), the caller gets an
``APIStatusError`` or ``APIResponseError`` carrying the status and the response.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from evolink_api.models import Task as ApiTask
from evolink_api.types import Response

from ._errors import (
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    EvoLinkError,
    status_error_class,
)
from ._task import Task

__all__ = ["Exchange", "error_from_response", "exchange", "record_response", "record_response_async"]

logger = logging.getLogger("evolink_images")

_CURRENT: contextvars.ContextVar[Exchange | None] = contextvars.ContextVar("evolink_exchange", default=None)
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_PARSE_ERRORS = (ValueError, KeyError, TypeError, AttributeError)
_TRANSLATED = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, *_PARSE_ERRORS)


def record_response(response: httpx.Response) -> None:
    """Httpx response hook: remember the response of the call in progress."""
    current = _CURRENT.get()
    if current is not None:
        current.response = response
    if logger.isEnabledFor(logging.DEBUG):  # reading httpx headers is not free: only when logged
        logger.debug(
            "%s %s -> %d (request id %s)",
            response.request.method,
            response.request.url.path,
            response.status_code,
            response.headers.get("x-request-id", "-"),
        )


async def record_response_async(response: httpx.Response) -> None:
    """Async httpx response hook: see ``record_response``."""
    record_response(response)


def _error_fields(response: httpx.Response) -> tuple[str | int | None, str | None]:
    try:
        body: Any = json.loads(response.content)
    except ValueError:
        return None, None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None
    code = error.get("code")
    message = error.get("message")
    return (code if isinstance(code, str | int) and not isinstance(code, bool) else None), (
        message if isinstance(message, str) else None
    )


def error_from_response(
    response: httpx.Response, *, task_id: str | None, redact: Callable[[str], str]
) -> APIStatusError:
    """Build the typed error for an HTTP error status, whatever its body (JSON, HTML, empty)."""
    code, message = _error_fields(response)
    status = response.status_code
    if message is None:
        snippet = " ".join(response.text[:200].split()) if response.content else "empty body"
        message = f"{response.reason_phrase or 'HTTP error'}: {snippet}"
    method = response.request.method
    text = redact(f"{method} {response.request.url.path} failed with HTTP {status}: {message}")
    # A POST answered with 5xx other than 503 may have created the task before failing.
    may_exist = method == "POST" and status >= 500 and status != 503
    return status_error_class(status)(
        text, response=response, code=code, detail=message, task_id=task_id, task_may_exist=may_exist
    )


@dataclass
class Exchange:
    """One call to the API: the response seen, and how to turn the generated result into a ``Task``."""

    method: str
    task_id: str | None
    redact: Callable[[str], str]
    response: httpx.Response | None = None

    def task(self, result: Response[Any]) -> Task:
        """Return the task of a successful call; raise the typed error otherwise."""
        response = self.response
        if response is None:  # pragma: no cover - the hook always runs for a response
            raise APIConnectionError("no response was received", task_id=self.task_id)
        if response.status_code == 200 and isinstance(result.parsed, ApiTask):
            return Task.from_api(result.parsed)
        if response.is_success:
            raise self._garbled(response, "is not a task object")
        raise error_from_response(response, task_id=self.task_id, redact=self.redact)

    def _garbled(self, response: httpx.Response, why: str) -> APIResponseError:
        text = f"{self.method} {response.request.url.path}: HTTP {response.status_code} response {why}"
        return APIResponseError(
            self.redact(text), response=response, task_id=self.task_id, task_may_exist=self.method == "POST"
        )

    def translate(self, error: Exception) -> EvoLinkError:
        """Turn an exception raised during the call into the package's own error."""
        may_exist = self.method == "POST" and not isinstance(error, _NOT_SENT)
        what = f"{self.method} {'task ' + self.task_id if self.task_id else 'request'}"
        if isinstance(error, httpx.TimeoutException):
            return APITimeoutError(
                self.redact(f"{what} timed out ({type(error).__name__})"),
                task_id=self.task_id,
                task_may_exist=may_exist,
            )
        if isinstance(error, httpx.HTTPError | httpx.InvalidURL | httpx.StreamError):
            return APIConnectionError(
                self.redact(f"{what} failed: {type(error).__name__}: {error}"),
                task_id=self.task_id,
                task_may_exist=may_exist,
            )
        response = self.response
        if response is None:
            return APIConnectionError(self.redact(f"{what} failed: {type(error).__name__}"), task_id=self.task_id)
        if not response.is_success:
            return error_from_response(response, task_id=self.task_id, redact=self.redact)
        return self._garbled(response, f"could not be parsed ({type(error).__name__})")


class exchange:
    """Record the response of the call made inside the block and translate whatever it raises.

    A class rather than a generator-based context manager: it wraps every request, and is cheaper so.
    """

    def __init__(self, method: str, *, task_id: str | None, redact: Callable[[str], str]) -> None:
        self._current = Exchange(method=method, task_id=task_id, redact=redact)
        self._token: contextvars.Token[Exchange | None] | None = None

    def __enter__(self) -> Exchange:
        self._token = _CURRENT.set(self._current)
        return self._current

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._token is not None:
            _CURRENT.reset(self._token)
        if error is None or isinstance(error, EvoLinkError):
            return
        if isinstance(error, _TRANSLATED):
            raise self._current.translate(error) from None
