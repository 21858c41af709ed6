"""The boundary between the wire and callers: answers become ``Task``s, failures typed errors.

Bodies are parsed once, here, straight from JSON into ``Task`` (``_task.py``); the generated client
builds the requests (``_get_kwargs`` of each operation) and its models are made only on demand. No
httpx exception, ``JSONDecodeError``, ``RecursionError`` or ``ValueError`` gets past ``exchange()``:
the response is recorded as soon as its headers arrive (``Exchange.received``), so even when its
body cannot be read or parsed (an HTML 502 page, a 520 status, truncated JSON, a body over its
cap), the caller gets an ``APIStatusError`` or ``APIResponseError`` carrying the status and the
task id when one is known.

Everything a server sent has already lost the API key at the wire guard (headers, reason phrase,
body bytes); JSON strings are redacted again after parsing (a key written with escapes), and the
response an error carries is a copy whose request has no ``Authorization`` header.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx

from ._arguments import is_task_id
from ._errors import (
    MAX_ECHO,
    APIConnectionError,
    APIResponseError,
    APIStatusError,
    APITimeoutError,
    EvoLinkError,
    MalformedTaskError,
    cut,
    status_error_class,
)
from ._task import Task
from ._wire import DeadlineExceeded, Redactor

__all__ = ["MAX_ECHO", "Exchange", "cut", "error_from_response", "exchange", "json_body", "public_response"]

logger = logging.getLogger("evolink_images")

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_TRANSLATED = (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, ValueError, RecursionError)
_TASK_STATUSES = frozenset({200, 201, 202})


CODE_LIMIT = 100
"""Characters of an error ``code`` kept (codes are short words; a longer one is echoed junk, cut)."""


def public_response(response: httpx.Response) -> httpx.Response:
    """A copy of ``response`` safe to hand to callers: its request carries no ``Authorization`` header."""
    request = response.request
    headers = [(name, value) for name, value in request.headers.raw if name.lower() != b"authorization"]
    try:
        content = response.content
    except httpx.ResponseNotRead:
        content = b""
    extensions = {key: value for key, value in response.extensions.items() if key in {"reason_phrase", "http_version"}}
    return httpx.Response(
        response.status_code,
        headers=response.headers.raw,
        content=content,
        request=httpx.Request(request.method, request.url, headers=headers),
        extensions=extensions,
    )


def json_body(response: httpx.Response, redactor: Redactor) -> Any:
    """The body as JSON, redacted; raises ``ValueError`` when it is not JSON (``RecursionError`` too deep)."""
    try:
        data = json.loads(response.content)
        return redactor.json(data) if b"\\u" in response.content else data
    except RecursionError:
        raise ValueError("the body is JSON nested too deeply to read") from None


def _error_fields(response: httpx.Response, redactor: Redactor) -> tuple[str | int | None, str | None]:
    try:
        body = json_body(response, redactor)
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
    response: httpx.Response, *, task_id: str | None, redactor: Redactor, creates_task: bool = True
) -> APIStatusError:
    """Build the typed error for an HTTP error status, whatever its body (JSON, HTML, empty).

    ``creates_task`` is False for calls that cannot create a task (the file host's), whatever their method.
    """
    code, message = _error_fields(response, redactor)
    status = response.status_code
    if message is None:
        snippet = " ".join(response.text[:200].split()) if response.content else "empty body"
        message = f"{response.reason_phrase or 'HTTP error'}: {snippet}"
    message = cut(redactor.text(message))
    if isinstance(code, str):
        code = cut(redactor.text(code), CODE_LIMIT)
    method = response.request.method
    text = f"{method} {response.request.url.path} failed with HTTP {status}: {message}"
    # A POST answered with 5xx other than 503 may have created the task before failing.
    may_exist = creates_task and method == "POST" and status >= 500 and status != 503
    return status_error_class(status)(
        text, response=public_response(response), code=code, detail=message, task_id=task_id, task_may_exist=may_exist
    )


@dataclass
class Exchange:
    """One call to the API: the response seen, and how it becomes a ``Task`` or a typed error."""

    method: str
    task_id: str | None
    """The task the call is about: for a GET, the one asked for (an answer about another is refused)."""
    redactor: Redactor
    response: httpx.Response | None = None
    creates_task: bool = True
    """False for the file host's calls: a POST there stores a file, never a task."""

    @property
    def _posts_task(self) -> bool:
        return self.creates_task and self.method == "POST"

    def received(self, response: httpx.Response, request: httpx.Request) -> httpx.Response:
        """Note the response to ``request`` once its headers are in: a failed body read can then name its status."""
        response.request = request
        self.response = response
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %d (request id %s)",
                self.method,
                response.request.url.path,
                response.status_code,
                cut(response.headers.get("x-request-id", "-"), 100),
            )
        return response

    def task(self, response: httpx.Response) -> Task:
        """Return the task a response carries; raise the typed error otherwise."""
        if response.status_code not in _TASK_STATUSES:
            if response.is_success:
                raise self._garbled(response, "is not a task object")
            raise error_from_response(
                response, task_id=self.task_id, redactor=self.redactor, creates_task=self.creates_task
            )
        try:
            task = Task.from_dict(json_body(response, self.redactor), request_id=response.headers.get("x-request-id"))
        except MalformedTaskError as error:
            garbled = self._garbled(response, f"is not a task the client can act on ({error})", error.task_id)
            garbled.unusable_task = error.task_id is not None and error.task_id == (self.task_id or error.task_id)
            raise garbled from None
        except ValueError as error:
            raise self._garbled(response, f"is not JSON ({cut(str(error), 100)})") from None
        if self.task_id is not None and task.id != self.task_id:
            raise self._garbled(response, f"is about another task ({cut(task.id, 100)!r})")
        if not is_task_id(task.id):
            # The POST was answered, so a task may exist; but an id such as ".." cannot be read back.
            raise self._garbled(response, f"names a task id that cannot be polled ({cut(task.id, 100)!r})")
        if self.method == "POST":
            logger.info("created task %s (%s)", task.id, task.status)
        return task

    def _garbled(self, response: httpx.Response, why: str, task_id: str | None = None) -> APIResponseError:
        task_id = self.task_id or task_id
        text = self.redactor.text(
            f"{self.method} {response.request.url.path}: HTTP {response.status_code} response {why}"
        )
        return APIResponseError(
            text, response=public_response(response), task_id=task_id, task_may_exist=self._posts_task
        )

    def translate(self, error: BaseException) -> EvoLinkError:
        """Turn an exception raised during the call into the package's own error."""
        may_exist = self._posts_task and not isinstance(error, _NOT_SENT)
        what = f"{self.method} {'task ' + self.task_id if self.task_id else 'request'}"
        response = self.response
        if isinstance(error, DeadlineExceeded):
            stage = "before an answer came" if response is None else "while the answer was still arriving"
            return APITimeoutError(
                self.redactor.text(f"{what}: the call's total time budget ran out {stage}"),
                task_id=self.task_id,
                task_may_exist=may_exist,
            )
        if isinstance(error, httpx.TimeoutException):
            return APITimeoutError(
                self.redactor.text(f"{what} timed out ({type(error).__name__})"),
                task_id=self.task_id,
                task_may_exist=may_exist,
            )
        if isinstance(error, httpx.DecodingError):
            if response is not None:
                return self._garbled(response, f"could not be read: {cut(str(error), 200)}")
            return APIResponseError(
                self.redactor.text(f"{what}: the answer could not be read: {cut(str(error), 200)}"),
                response=None,
                task_id=self.task_id,
                task_may_exist=may_exist,
            )
        if isinstance(error, httpx.HTTPError | httpx.InvalidURL | httpx.StreamError):
            return APIConnectionError(
                self.redactor.text(f"{what} failed: {type(error).__name__}: {cut(str(error), 200)}"),
                task_id=self.task_id,
                task_may_exist=may_exist,
            )
        if response is None:
            # No answer was seen, so nothing proves the request never left: a POST may have created a task.
            return APIConnectionError(
                f"{what} failed: {type(error).__name__}", task_id=self.task_id, task_may_exist=self._posts_task
            )
        if not response.is_success:
            return error_from_response(
                response, task_id=self.task_id, redactor=self.redactor, creates_task=self.creates_task
            )
        return self._garbled(response, f"could not be parsed ({type(error).__name__})")


class exchange:
    """Give the call made inside the block its ``Exchange``, and translate whatever it raises.

    A class rather than a generator-based context manager: it wraps every request, and is cheaper so.
    """

    __slots__ = ("_current",)

    def __init__(self, method: str, *, task_id: str | None, redactor: Redactor, creates_task: bool = True) -> None:
        self._current = Exchange(method=method, task_id=task_id, redactor=redactor, creates_task=creates_task)

    def __enter__(self) -> Exchange:
        return self._current

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if error is None or isinstance(error, EvoLinkError):
            return
        if isinstance(error, _TRANSLATED):
            raise self._current.translate(error) from None
