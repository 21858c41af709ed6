"""Every exception the client raises.

    EvoLinkError                      root; ``task_id`` is set whenever a task exists
    ├── RequestValidationError        (also ValueError) the request broke a rule; nothing was sent
    ├── MalformedTaskError            (also ValueError) ``Task.from_dict`` got a body it cannot act on
    ├── APIError                      the API could not be reached or answered with an error
    │   ├── APIConnectionError        no usable answer: refused, reset, TLS, protocol error
    │   │   └── APITimeoutError       connect, read, write or pool timeout
    │   ├── APIResponseError          an answer that is not what the spec promises (e.g. not JSON)
    │   ├── APIStatusError            an HTTP error status
    │   │   ├── BadRequestError           400
    │   │   ├── AuthenticationError       401
    │   │   ├── InsufficientQuotaError    402
    │   │   ├── PermissionDeniedError     403
    │   │   ├── NotFoundError             404
    │   │   ├── PayloadTooLargeError      413
    │   │   ├── RateLimitError            429
    │   │   └── InternalServerError       5xx (and statuses outside HTTPStatus, such as 520)
    │   └── FileHostError             the file host refused or failed (``success: false``, ...)
    │       └── UploadError           an upload of a local image failed (``file_name`` names it)
    ├── TaskError                     the task exists but did not give results
    │   ├── TaskFailedError           status ``failed``
    │   ├── TaskCancelledError        status ``cancelled``
    │   └── WaitTimeoutError          the deadline passed first; ``wait(task_id)`` resumes
    └── DownloadError                 a result image could not be saved

``APIError.task_may_exist`` is true when a submit failed in a way that may still have created
(and billed) a task: a read timeout, a 500 or a 502 after the request was sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from ._task import FailureCause, Task

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "DownloadError",
    "EvoLinkError",
    "FileHostError",
    "InsufficientQuotaError",
    "InternalServerError",
    "MalformedTaskError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "RequestValidationError",
    "TaskCancelledError",
    "TaskError",
    "TaskFailedError",
    "UploadError",
    "Violation",
    "WaitTimeoutError",
    "status_error_class",
]


MAX_ECHO = 500
"""The most characters of a value the server chose (a message, a status) repeated in an error's text."""


def shown(value: object, limit: int = 60) -> str:
    """``value`` as an error quotes it: its repr, cut to ``limit``; never raises.

    A caller's argument may have no repr (an int of 5,000 digits refuses to become text): the error
    about it must still be raised, not replaced by a ``ValueError`` from formatting it.
    """
    try:
        text = repr(value)
    except Exception:  # an int over sys.get_int_max_str_digits(), an object whose __repr__ fails
        size = f" of about {value.bit_length() * 0.30103:.0f} digits" if isinstance(value, int) else ""
        text = f"<{type(value).__name__}{size}>"
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def cut(text: str, limit: int = MAX_ECHO) -> str:
    """``text`` cut to ``limit`` characters, saying how much was left out."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit} more characters)"


class EvoLinkError(Exception):
    """Root of every error this package raises."""

    def __init__(self, message: str, *, task_id: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        """What went wrong; subclasses narrow it to the API's or the task's own message."""
        self.task_id = task_id

    def __str__(self) -> str:
        text = str(self.args[0]) if self.args else ""
        if self.task_id and self.task_id not in text:
            return f"{text} (task {self.task_id}; resume with wait({self.task_id!r}))"
        return text


@dataclass(frozen=True)
class Violation:
    """One broken rule: the field, what is wrong with its value, and the limit."""

    field: str
    problem: str
    limit: str

    def __str__(self) -> str:
        return f"{self.field}: {self.problem} (limit: {self.limit})"


class RequestValidationError(EvoLinkError, ValueError):
    """Raised before anything is sent when a request breaks one or more of its model's rules."""

    def __init__(self, violations: list[Violation] | tuple[Violation, ...]) -> None:
        self.violations = tuple(violations)
        lines = "\n".join(f"  - {violation}" for violation in self.violations)
        super().__init__(f"{len(self.violations)} problem(s) with the request; nothing was sent:\n{lines}")


class MalformedTaskError(EvoLinkError, ValueError):
    """Raised by ``Task.from_dict`` for a body the client cannot act on (no id or status, results not URLs).

    The clients turn it into an ``APIResponseError``; ``task_id`` is the body's id when it had one.
    """


class APIError(EvoLinkError):
    """Raised when the API cannot be reached or answers with an error."""

    def __init__(
        self,
        message: str,
        *,
        request: httpx.Request | None = None,
        task_id: str | None = None,
        task_may_exist: bool = False,
    ) -> None:
        if task_may_exist:
            message += (
                "; a task may have been created (and billed) all the same: check your recent tasks"
                " before submitting again"
            )
        super().__init__(message, task_id=task_id)
        self.request = request
        self.task_may_exist = task_may_exist


class APIConnectionError(APIError):
    """Raised when no usable answer came back: connection refused or reset, TLS or protocol error."""


class APITimeoutError(APIConnectionError):
    """Raised when connecting, sending or reading took longer than the timeout."""


class APIResponseError(APIError):
    """Raised when a response is not what the spec promises: not JSON, truncated, over its cap, missing ``id``."""

    unusable_task: bool = False
    """True when the body was the task's own, with fields the client cannot act on (no status, results
    that are not URLs): the server's considered answer, so ``wait`` ends with it rather than poll on."""

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response | None,
        task_id: str | None = None,
        task_may_exist: bool = False,
    ) -> None:
        request = response.request if response is not None else None
        super().__init__(message, request=request, task_id=task_id, task_may_exist=task_may_exist)
        self.response = response
        """The response (its request without the key), or None when it was refused before it was whole."""
        self.status_code = response.status_code if response is not None else None


class APIStatusError(APIError):
    """Raised when the API answers with an HTTP error status."""

    def __init__(
        self,
        message: str,
        *,
        response: httpx.Response,
        code: str | int | None = None,
        detail: str | None = None,
        task_id: str | None = None,
        task_may_exist: bool = False,
    ) -> None:
        super().__init__(message, request=response.request, task_id=task_id, task_may_exist=task_may_exist)
        if detail is not None:
            self.message = detail
        self.response = response
        self.status_code = response.status_code
        self.code = code
        self.request_id: str | None = response.headers.get("x-request-id")


class BadRequestError(APIStatusError):
    """400: invalid parameters (``invalid_request``) or task id (``invalid_task_id``)."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, invalid or expired."""


class InsufficientQuotaError(APIStatusError):
    """402: the balance is too low."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this model or see this task."""


class NotFoundError(APIStatusError):
    """404: the task is unknown or expired."""


class PayloadTooLargeError(APIStatusError):
    """413: the body or an image is too large."""


class RateLimitError(APIStatusError):
    """429: a per-model limit on requests, concurrency or submissions was hit."""


class InternalServerError(APIStatusError):
    """5xx, or a status outside HTTPStatus: the service failed; a later retry may succeed."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: InsufficientQuotaError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    429: RateLimitError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    """Return the exception class for an HTTP error status."""
    if status_code in _STATUS_CLASSES:
        return _STATUS_CLASSES[status_code]
    if status_code >= 500:
        return InternalServerError
    return APIStatusError


class FileHostError(APIError):
    """Raised when EvoLink's file host refuses or fails a request: ``success: false`` in an HTTP 200 and the like.

    ``code`` is the envelope's code (``40002`` type not allowed, ``40003`` quota exceeded, ...), or
    the HTTP status when the host answered with an error status, or None when no answer came;
    ``message`` is the host's own ``msg``. The underlying typed error, if any, is ``__cause__``.
    """

    def __init__(
        self, message: str, *, code: str | int | None = None, detail: str | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = detail if detail is not None else message
        self.status_code = status_code


class UploadError(FileHostError):
    """Raised when a local image could not be uploaded; no task was created.

    ``file_name`` is the local file's name (``<bytes>`` for bytes). ``may_be_stored`` is true when
    the upload failed after it was sent (a read timeout, a dropped connection, a 500, an unreadable
    200): the file may be on the host all the same, using a quota slot, so it is not sent again
    automatically.
    """

    def __init__(
        self,
        message: str,
        *,
        file_name: str,
        code: str | int | None = None,
        detail: str | None = None,
        status_code: int | None = None,
        may_be_stored: bool = False,
    ) -> None:
        if may_be_stored:
            message += "; the file may have been stored all the same (one slot of the file quota until it expires)"
        super().__init__(message, code=code, detail=detail, status_code=status_code)
        self.file_name = file_name
        self.may_be_stored = may_be_stored


class TaskError(EvoLinkError):
    """Raised when a task exists but did not give results; ``task`` is the last state seen."""

    task_id: str
    """Always set: ``wait(error.task_id)`` type-checks without a None test."""

    def __init__(self, message: str, *, task: Task) -> None:
        super().__init__(message, task_id=task.id)
        self.task = task


class TaskFailedError(TaskError):
    """Raised when a task ends ``failed``; ``cause`` says whether retrying the same request can help."""

    def __init__(self, task: Task) -> None:
        error = task.error
        code = error.code if error else None
        detail = (error.message if error else None) or ""
        cause: FailureCause = error.cause if error else "unknown"
        advice = {
            "request": "the request itself was refused: retrying it unchanged will fail again",
            "service": "the service failed: the same request may succeed later",
            "unknown": "the cause is unknown",
        }[cause]
        shown = f"{cut(code, 100) if code else 'no code'}: {cut(detail)}"
        super().__init__(f"task {task.id} failed: {shown} ({advice})", task=task)
        self.code = code
        self.message = detail
        self.cause = cause


class TaskCancelledError(TaskError):
    """Raised when a task ends ``cancelled``."""

    def __init__(self, task: Task) -> None:
        super().__init__(f"task {task.id} was cancelled", task=task)


class WaitTimeoutError(TaskError):
    """Raised when the wait's deadline passes before the task is finished; the task goes on."""

    def __init__(self, task: Task, timeout: float) -> None:
        super().__init__(
            f"task {task.id} was still {cut(task.status, 100)} ({task.progress}%) after {timeout:g} s;"
            f" it goes on: resume with wait({task.id!r})",
            task=task,
        )
        self.timeout = timeout


class DownloadError(EvoLinkError):
    """Raised when a result image cannot be downloaded or is not an image; nothing partial is kept."""
