"""``Task``: a typed, read-only view of a task body that keeps whatever the API sends.

It is built from the generated model, so the generated client stays the one parser of the
wire format; the view adds what callers act on: is it finished, did it fail, and whose fault.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from evolink_api.models import Task as ApiTask
from evolink_api.models import TaskError as ApiTaskError
from evolink_api.types import UNSET

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


def _value(value: Any, default: Any = None) -> Any:
    # The generated code marks absent fields with the one UNSET instance: identity is enough (and fast).
    return default if value is UNSET else value


@dataclass(frozen=True)
class TaskErrorInfo:
    """Why a task failed or was cancelled."""

    code: str | None
    message: str | None
    cause: FailureCause

    @property
    def retryable(self) -> bool:
        """True when the same request may succeed later (the service, not the request, failed)."""
        return self.cause == "service"


@dataclass(frozen=True)
class TaskUsage:
    """Billing of a task, as far as the API told."""

    billing_rule: str | None
    credits_reserved: float | None
    credits_used: float | None
    user_group: str | None


@dataclass(frozen=True)
class Task:
    """A task as last seen; ``raw`` is the whole body, unknown fields included."""

    id: str
    status: TaskStatus
    progress: int
    results: tuple[str, ...]
    error: TaskErrorInfo | None
    estimated_time: float | None
    usage: TaskUsage | None
    created: int | None
    model: str | None
    source: ApiTask | None = field(default=None, repr=False, compare=False)
    """The generated client's model of the body, when the task was parsed from one."""

    @functools.cached_property
    def raw(self) -> Mapping[str, Any]:
        """The whole body as received, unknown fields included (built on first use)."""
        return self.source.to_dict() if self.source is not None else {}

    @property
    def is_terminal(self) -> bool:
        """True once the task is ``completed``, ``failed`` or ``cancelled``; unknown statuses are not."""
        return self.status in TERMINAL_STATUSES

    @property
    def is_completed(self) -> bool:
        """True when the task finished with results."""
        return self.status == "completed"

    @classmethod
    def from_api(cls, task: ApiTask) -> Task:
        """Build the view from the generated model."""
        error = _value(task.error)
        info = _value(task.task_info)
        usage = _value(task.usage)
        results = _value(task.results) or []
        progress = _value(task.progress, 0)
        # The generated parser checks no types (toolchain-notes.md): the view does, for what it acts on.
        if not isinstance(task.id, str) or not task.id:
            raise TypeError(f"task id must be a non-empty string, not {task.id!r}")
        if not isinstance(task.status, str):
            raise TypeError(f"task status must be a string, not {type(task.status).__name__}")
        if not isinstance(results, list) or not all(isinstance(url, str) for url in results):
            raise TypeError("task results must be a list of URLs")
        if isinstance(progress, bool) or not isinstance(progress, int | float):
            progress = 0
        return cls(
            id=task.id,
            status=task.status,
            progress=int(progress),
            results=tuple(results),
            error=_error_info(error) if isinstance(error, ApiTaskError) else None,
            estimated_time=_value(info.estimated_time) if info else None,
            usage=TaskUsage(
                billing_rule=_value(usage.billing_rule),
                credits_reserved=_value(usage.credits_reserved),
                credits_used=_value(usage.credits_used),
                user_group=_value(usage.user_group),
            )
            if usage
            else None,
            created=_value(task.created),
            model=_value(task.model),
            source=task,
        )

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> Task:
        """Parse a task body (as from ``GET /v1/tasks/{id}`` or a callback).

        Raises:
            KeyError, TypeError, ValueError, AttributeError: the body is not a task; callers
                translate these into the package's own errors.
        """
        return cls.from_api(ApiTask.from_dict(body))


def _error_info(error: ApiTaskError) -> TaskErrorInfo:
    code = _value(error.code)
    return TaskErrorInfo(code=code, message=_value(error.message), cause=failure_cause(code))
