"""``Task``: a typed, read-only view of a task body that keeps whatever the API sends.

A ``Task`` is built straight from the response's JSON, once, with every field the client acts on
checked for its type and range; the generated client's model of the same body (``Task.source``) is
built only when asked for. A body the client cannot act on (no id, no status, results that are not
a list of URLs) raises ``MalformedTaskError``; odd optional members (an ``estimated_time`` of ``"30"`` or
NaN, a ``usage`` that is a string) count as absent, and an out-of-range ``progress`` is clamped:
such a task is still a task. The view adds what callers act on: is it finished, did it fail, and
whose fault.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ._errors import MalformedTaskError

if TYPE_CHECKING:
    from evolink_api.models import Task as ApiTask

__all__ = [
    "REQUEST_FAILURE_CODES",
    "SERVICE_FAILURE_CODES",
    "TERMINAL_STATUSES",
    "FailureCause",
    "Task",
    "TaskErrorInfo",
    "TaskStatus",
    "TaskUsage",
    "failure_cause",
]

TaskStatus = Literal["pending", "processing", "completed", "failed", "cancelled"] | str
"""The documented statuses; any other string the API sends is kept as is and means "not finished"."""

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})

FailureCause = Literal["request", "service", "unknown"]

# api-facts.md section 4.2: retrying the same request cannot help for these...
REQUEST_FAILURE_CODES = frozenset(
    {
        "content_policy_violation",
        "invalid_parameters",
        "image_processing_error",
        "image_dimension_mismatch",
        "request_cancelled",
    }
)
# ...and a later retry may succeed for these.
SERVICE_FAILURE_CODES = frozenset(
    {
        "generation_failed_no_content",
        "service_error",
        "generation_timeout",
        "resource_exhausted",
        "quota_exceeded",
        "service_unavailable",
        "resource_not_found",
        "unknown_error",
    }
)


def failure_cause(code: str | None) -> FailureCause:
    """Say whether a task failure code blames the request, the service, or is unknown."""
    if code in REQUEST_FAILURE_CODES:
        return "request"
    if code in SERVICE_FAILURE_CODES:
        return "service"
    return "unknown"


# The parse runs for every answer: plain ``type(...) is`` tests and tuples, not ABCs or unions, keep it cheap.
_NUMBERS = (int, float)


def _is_object(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)


def _number(value: Any) -> float | None:
    """A finite JSON number (never a bool, never a string of digits), else None."""
    if value is None or type(value) is bool or not isinstance(value, _NUMBERS):
        return None
    number = float(value) if type(value) is float or -(2**63) < value < 2**63 else math.inf
    return number if math.isfinite(number) else None


def _text(value: Any) -> str | None:
    return value if type(value) is str else None


def _progress(value: Any) -> int:
    """Progress as a whole percentage in [0, 100]: clamped when out of range, 0 when not a number."""
    if type(value) is int:
        return 0 if value < 0 else 100 if value > 100 else value
    if type(value) is not float or math.isnan(value):
        return 0
    return int(min(max(value, 0.0), 100.0))


@dataclass(frozen=True, slots=True)
class TaskErrorInfo:
    """Why a task failed or was cancelled."""

    code: str | None
    message: str | None
    cause: FailureCause

    @property
    def retryable(self) -> bool:
        """True when the same request may succeed later (the service, not the request, failed)."""
        return self.cause == "service"

    @classmethod
    def from_json(cls, value: Any) -> TaskErrorInfo | None:
        """The ``error`` member of a task body (None when absent or not an object)."""
        if value is None or not _is_object(value):
            return None
        code = value.get("code")
        code = str(code) if isinstance(code, int) and not isinstance(code, bool) else _text(code)
        return cls(code=code, message=_text(value.get("message")), cause=failure_cause(code))


@dataclass(frozen=True, slots=True)
class TaskUsage:
    """Billing of a task, as far as the API told."""

    billing_rule: str | None = None
    credits_reserved: float | None = None
    credits_used: float | None = None
    user_group: str | None = None

    @classmethod
    def from_json(cls, value: Any) -> TaskUsage | None:
        """The ``usage`` member of a task body (None when absent or not an object)."""
        if value is None or not _is_object(value):
            return None
        return cls(
            billing_rule=_text(value.get("billing_rule")),
            credits_reserved=_number(value.get("credits_reserved")),
            credits_used=_number(value.get("credits_used")),
            user_group=_text(value.get("user_group")),
        )


@dataclass(frozen=True)
class Task:
    """A task as last seen; ``raw`` is the whole body, unknown fields included.

    Build one from a body with ``Task.from_dict``; in tests, by keyword:
    ``Task(id="task-unified-1", status="completed", results=("https://example.com/a.png",))``.
    """

    id: str
    status: TaskStatus = "pending"
    progress: int = 0
    results: tuple[str, ...] = ()
    error: TaskErrorInfo | None = None
    estimated_time: float | None = None
    usage: TaskUsage | None = None
    created: int | None = None
    model: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The whole body as received (redacted of the key), unknown fields included."""
    request_id: str | None = field(default=None, compare=False)
    """The ``x-request-id`` of the answer this view was read from, when the API sent one."""

    @functools.cached_property
    def source(self) -> ApiTask | None:
        """The generated client's model of the body (built on first use; None for a task built by hand)."""
        from evolink_api.models import Task as ApiTask

        return ApiTask.from_dict(dict(self.raw)) if self.raw else None

    @property
    def is_terminal(self) -> bool:
        """True once the task is ``completed``, ``failed`` or ``cancelled``; unknown statuses are not."""
        return self.status in TERMINAL_STATUSES

    @property
    def is_completed(self) -> bool:
        """True when the task finished with results."""
        return self.status == "completed"

    def to_dict(self) -> dict[str, Any]:
        """The body as received (for a task built by hand: its fields in the API's shape)."""
        if self.raw:
            return json.loads(json.dumps(self.raw))  # type: ignore[no-any-return]
        body: dict[str, Any] = {"id": self.id, "status": self.status, "progress": self.progress}
        if self.results:
            body["results"] = list(self.results)
        if self.error is not None:
            body["error"] = {"code": self.error.code, "message": self.error.message}
        if self.estimated_time is not None:
            body["task_info"] = {"estimated_time": self.estimated_time}
        for name in ("created", "model"):
            if getattr(self, name) is not None:
                body[name] = getattr(self, name)
        return body

    def to_json(self) -> str:
        """``to_dict()`` as JSON text."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, body: Any, *, request_id: str | None = None) -> Task:
        """Parse a task body (as from ``GET /v1/tasks/{id}`` or a callback), checking every field's type.

        ``request_id`` is the answer's ``x-request-id``, kept for support requests.

        Raises:
            MalformedTaskError: the body has no usable ``id`` or ``status``, or ``results`` that are not a
                list of URLs; ``task_id`` carries the id when there was one.
        """
        if not _is_object(body):
            raise MalformedTaskError(f"a task is a JSON object, not {type(body).__name__}")
        get = body.get
        task_id = get("id")
        if type(task_id) is not str or not task_id:
            raise MalformedTaskError("the body has no task id")
        status = get("status")
        if type(status) is not str:
            raise MalformedTaskError(f"task {task_id} has no status", task_id=task_id)
        results = get("results")
        if results is None:
            results = ()
        elif type(results) is not list or not all(type(url) is str for url in results):
            raise MalformedTaskError(f"task {task_id} has results that are not a list of URLs", task_id=task_id)
        info = get("task_info")
        estimate = _number(info.get("estimated_time")) if info is not None and _is_object(info) else None
        created = get("created")
        return cls(
            id=task_id,
            status=status,
            progress=_progress(get("progress")),
            results=tuple(results),
            error=TaskErrorInfo.from_json(get("error")),
            estimated_time=estimate if estimate is not None and estimate > 0 else None,
            usage=TaskUsage.from_json(get("usage")),
            created=created if type(created) is int else None,
            model=_text(get("model")),
            raw=body,
            request_id=request_id,
        )
