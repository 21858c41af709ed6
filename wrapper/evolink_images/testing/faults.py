"""Faults the fake EvoLink can inject: what each one does to one response, and whether a task is created.

A fault is queued with ``FakeEvoLink.inject(kind, target=..., times=...)`` and consumed by the next
matching requests. ``after_create`` says whether a POST that meets the fault still creates (and
bills) the task, as a real server that failed after accepting the request would; by default it is
what the fault implies (a read timeout or a 500 may come after the task exists; a refused
connection, a 429 or a 503 cannot).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["BODY_FAULTS", "FAULT_KINDS", "STATUS_FAULTS", "TRANSPORT_FAULTS", "Fault", "Target"]

Target = Literal["POST", "GET", "files"]

TRANSPORT_FAULTS = frozenset({"connect_error", "connect_timeout", "read_timeout", "dropped"})
"""No HTTP response at all: the respx face raises the httpx exception, the server face hangs or hangs up."""

STATUS_FAULTS = {
    "rate_limit": 429,
    "server_error": 500,
    "bad_gateway_html": 502,
    "unavailable": 503,
    "status_520": 520,
    "not_found": 404,
}
"""An error status (with the documented JSON body, or an HTML page for ``bad_gateway_html``)."""

BODY_FAULTS = frozenset(
    {
        "truncated_json",
        "not_json",
        "empty_body",
        "unknown_status",
        "extra_fields",
        "missing_fields",
        "task_info_null",
        "completed_without_results",
        "huge_body",
        "html_result",
    }
)
"""A 200 whose body is damaged or unusual (``html_result`` applies to result downloads)."""

FAULT_KINDS = TRANSPORT_FAULTS | frozenset(STATUS_FAULTS) | BODY_FAULTS

_CREATES_BY_DEFAULT = frozenset(
    {"read_timeout", "dropped", "server_error", "bad_gateway_html", "status_520"} | BODY_FAULTS
)


@dataclass
class Fault:
    """One queued fault."""

    kind: str
    target: Target = "GET"
    times: int = 1
    retry_after: str | None = None
    """The ``Retry-After`` header to send with ``rate_limit`` or ``unavailable`` (seconds or an HTTP date)."""
    after_create: bool | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; known: {', '.join(sorted(FAULT_KINDS))}")
        if self.times < 1:
            raise ValueError("times must be at least 1")

    @property
    def creates_task(self) -> bool:
        """Whether a POST meeting this fault still creates the task."""
        if self.after_create is not None:
            return self.after_create
        return self.kind in _CREATES_BY_DEFAULT
